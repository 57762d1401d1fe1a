"""The command line as a user meets it: exit codes, one-line errors, selection, reporters."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from .conftest import FIXTURES, REPO, invoke, run_archlint

SCHEMA = json.loads((REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text())
AL201_BAD = str(FIXTURES / "AL201" / "bad.onnx.txt")


def test_bad_model_names_node_input_expected_actual_and_exits_1() -> None:
    result = invoke("lint", AL201_BAD)
    assert result.exit_code == 1
    assert "main/gru_0: AL201 error: GRU 'gru_0' input B has shape [1, 18]" in result.output
    assert "input B ('Bg'): expected [1, 12], found [1, 18]" in result.output
    assert "main/lstm_0: AL201 error" in result.output


def test_clean_model_exits_0() -> None:
    result = invoke("lint", str(FIXTURES / "AL201" / "good.onnx.txt"))
    assert result.exit_code == 0, result.output
    *coverage, summary = result.output.splitlines()
    assert coverage == [
        "checked: 2 recurrent layers in 1 model",
        "not run: AL501-AL514: runtime rule: the model was not run (lint --runtime, or "
        "archlint run)",
        "not run: AL601-AL603: needs targets (--target NAME, or targets in the config)",
    ]
    assert summary.startswith("0 findings (0 errors, 0 warnings, 0 infos) in 1 model")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file, expected an ONNX model"),
        (b"hello, this is not a model\n", "not an ONNX model"),
        (b"\x08\x08\x12\xff\xff\xff\xff\x0f", "truncated or corrupt protobuf"),
    ],
)
def test_unreadable_input_is_one_line_exit_2_no_traceback(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    proc = run_archlint("lint", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"archlint: error: {path}: {reason}")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_truncated_real_model_is_exit_2(tmp_path: Path) -> None:
    data = (FIXTURES / "AL002" / "good.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    proc = run_archlint("lint", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"archlint: error: {path}: ")
    assert "Traceback" not in proc.stderr


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    proc = run_archlint("lint", str(tmp_path / "nope.onnx"))
    assert (proc.returncode, proc.stderr.strip()) == (
        2, f"archlint: error: {tmp_path / 'nope.onnx'}: no such file or folder")
    proc = run_archlint("lint", str(tmp_path))
    assert (proc.returncode, proc.stderr.strip()) == (
        2, f"archlint: error: {tmp_path}: folder contains no .onnx models (outside excluded "
        "folders and git-ignored files)")


def test_folder_with_one_unreadable_model_reports_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a_broken.onnx").write_bytes(b"")
    (tmp_path / "b_good.onnx").write_bytes((FIXTURES / "AL002" / "good.onnx").read_bytes())
    data = (FIXTURES / "AL002" / "good.onnx.data").read_bytes()
    (tmp_path / "b_good.onnx.data").write_bytes(data)
    result = invoke("lint", str(tmp_path), "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert [(m["path"].rsplit("/", 1)[-1], m["error"]) for m in report["models"]] == [
        ("a_broken.onnx", "empty file, expected an ONNX model"), ("b_good.onnx", None)]


def test_select_and_ignore_by_prefix() -> None:
    assert invoke("lint", AL201_BAD, "--select", "AL3").exit_code == 0
    assert invoke("lint", AL201_BAD, "--select", "AL2", "--ignore", "AL201").exit_code == 0
    assert invoke("lint", AL201_BAD, "--ignore", "AL2", "--select", "AL201").exit_code == 1
    result = invoke("lint", AL201_BAD, "--select", "XX9")
    assert result.exit_code == 2
    assert "unknown rule code or prefix: XX9" in result.output


def test_fail_on_and_exit_zero() -> None:
    inference_bad = str(FIXTURES / "AL001" / "bad.onnx.txt")  # one warning
    assert invoke("lint", inference_bad).exit_code == 0
    assert invoke("lint", inference_bad, "--fail-on", "warning").exit_code == 1
    assert invoke("lint", AL201_BAD, "--exit-zero").exit_code == 0


def test_json_report_validates_against_documented_schema() -> None:
    result = invoke("lint", AL201_BAD, str(FIXTURES / "AL301" / "bad.onnx.txt"), "--format", "json")
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    first = report["models"][0]["findings"][0]
    assert first["location"] == {
        "model": AL201_BAD, "graph": "main", "node": "lstm_0", "node_index": 0,
        "op_type": "LSTM", "input": None, "output": None, "tensor": None,
        "attribute": "hidden_size",
    }
    assert (first["code"], first["expected"], first["actual"]) == ("AL201", "3", "4")
    assert report["summary"]["by_severity"] == {"info": 0, "warning": 0, "error": 4}


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = invoke("lint", AL201_BAD, "--format", "json", "--output", str(out))
    assert result.exit_code == 1
    assert result.stdout == ""
    # machine formats keep the summary line out of the report: it goes to stderr
    assert result.stderr.startswith("2 findings (2 errors, 0 warnings, 0 infos) in 1 model")
    assert json.loads(out.read_text())["summary"]["findings"] == 2


def test_rules_lists_every_rule_and_explain_shows_docs() -> None:
    result = invoke("rules")
    assert result.exit_code == 0
    for code in ("AL000", "AL001", "AL002", "AL003", "AL201", "AL301"):
        assert code in result.output
    explained = invoke("explain", "al201")
    assert explained.exit_code == 0
    assert explained.output.startswith("AL201 hidden-size-mismatch (error)")
    for section in ("## What it does", "## Why is this bad?", "## Example"):
        assert section in explained.output
    missing = invoke("explain", "AL999")
    assert missing.exit_code == 2
    assert "unknown rule code 'AL999'" in missing.output


def test_usage_error_exits_2() -> None:
    assert invoke("lint", "--select", "XX9").exit_code == 2
    assert invoke("lint", AL201_BAD, "--format", "nope").exit_code == 2
