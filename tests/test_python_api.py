"""The Python API (docs/python-api.md): the documented example runs, a ModelProto in memory and
the file give the CLI's findings, with the config found the same way."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import onnx
import pytest

import archlint
from archlint.app import AppError
from archlint.report import Report

from .conftest import FIXTURES, REPO, invoke

DOC = REPO / "docs" / "python-api.md"


def test_the_documented_example_runs(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    example = blocks[-1]
    assert "archlint.lint(" in example
    monkeypatch.chdir(REPO)
    exec(compile(example, str(DOC), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("AL201 lstm_0 LSTM 'lstm_0' has hidden_size=4 but W and R")


def _cli_findings(*args: str) -> list[dict[str, object]]:
    result = invoke("lint", "--format", "json", "-q", *args)
    return [f for m in json.loads(result.stdout)["models"] for f in m["findings"]]


def _as_dicts(report: Report) -> list[dict[str, object]]:
    return [f for m in report.to_dict()["models"] for f in m["findings"]]


def test_a_model_proto_a_path_and_the_cli_agree_with_the_config_found_upwards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The config next to the model demotes AL201, ignores AL313 and selects targets; all three
    front doors find it the same way (the ModelProto through ``name``)."""
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "enc.onnx"
    model = onnx.parser.parse_model((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    onnx.save_model(model, path)
    (tmp_path / "archlint.toml").write_text(
        'targets = ["onnxruntime-cpu"]\nignore = ["AL3"]\n[severity]\nAL201 = "warning"\n',
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    from_file = archlint.lint("models/enc.onnx")
    from_proto = archlint.lint(onnx.load(path), name="models/enc.onnx")
    assert from_file.findings == from_proto.findings
    assert {f.severity.value for f in from_file.findings} == {"warning"}
    assert [f.code for f in from_file.findings] == ["AL201", "AL201"]
    assert _as_dicts(from_file) == _cli_findings("models/enc.onnx")


def test_a_model_proto_is_not_written_anywhere(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = onnx.parser.parse_model((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    report = archlint.lint(model)
    assert [m.path for m in report.models] == ["model.onnx"]
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_raise_app_error(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "AL201" / "bad.onnx.txt", tmp_path / "m.onnx.txt")
    with pytest.raises(AppError, match="unknown rule code or prefix: AL2O1"):
        archlint.lint(tmp_path / "m.onnx.txt", select=["AL2O1"])
    (tmp_path / "archlint.toml").write_text("fail-on = 3\n", encoding="utf-8")
    with pytest.raises(AppError, match=r"archlint.toml: fail-on: must be one of"):
        archlint.lint(tmp_path / "m.onnx.txt")


def test_reports_convert_and_render(tmp_path: Path) -> None:
    report = archlint.lint(FIXTURES / "AL201" / "bad.onnx.txt")
    assert json.loads(report.to_json()) == report.to_dict()
    html = report._repr_html_()
    assert "<td>AL201</td>" in html and "<td>lstm_0</td>" in html
    counts = archlint.params(FIXTURES / "exported" / "lstm_4_2.onnx")
    assert counts.to_dict()["models"][0]["layers"][0]["node"] == "/rnn/LSTM"
    assert "| /rnn/LSTM | LSTM |" in counts._repr_markdown_()
    assert json.loads(counts.to_json()) == counts.to_dict()


def test_an_unreadable_model_is_an_entry_not_a_raise(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    [entry] = archlint.lint(bad).models
    assert entry.error is not None and entry.error.startswith("not an ONNX model")


def test_a_model_proto_runs_in_onnxruntime_too(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """runtime=True on a ModelProto: the child gets a copy in its own temporary folder (never
    next to a model), and the runtime rules judge the run like a file's."""
    monkeypatch.chdir(tmp_path)
    model = onnx.parser.parse_model((FIXTURES / "AL502" / "bad.onnx.txt").read_text())
    report = archlint.lint(model, select=["AL5"], runtime=True, name="double.onnx")
    assert [(f.code, f.source, f.location.model, f.location.node) for f in report.findings] == [
        ("AL502", "onnxruntime", "double.onnx", "lstm_0")]
    assert list(tmp_path.iterdir()) == []
