"""Every finding passes the one filter, static and runtime alike (issue 12, second defect):
``archlint lint --runtime`` used to add the runtime findings after suppression, so a per-path
ignore, a severity override and a baseline were all ignored for them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import FIXTURES, invoke

# onnxruntime creates the session, then the run fails: AL502 from a real child process
RUN_FAILS = FIXTURES / "AL502" / "bad.onnx.txt"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    target = tmp_path / "double_lstm.onnx.txt"
    shutil.copy(RUN_FAILS, target)
    return target


def _json_lint(*args: str) -> tuple[int, dict[str, object]]:
    result = invoke("lint", "--runtime", "--select", "AL5", "--format", "json", "-q", *args)
    return result.exit_code, json.loads(result.stdout)


def test_the_runtime_finding_is_there_without_a_filter(model: Path) -> None:
    code, report = _json_lint(str(model))
    [entry] = report["models"]  # type: ignore[index]
    assert [(f["code"], f["severity"], f["source"], f["location"]["node"])
            for f in entry["findings"]] == [("AL502", "error", "onnxruntime", "lstm_0")]
    assert code == 1


def test_a_per_path_ignore_suppresses_runtime_findings(model: Path) -> None:
    (model.parent / "archlint.toml").write_text(
        '[per-path-ignores]\n"double_*" = ["AL5"]\n', encoding="utf-8")
    code, report = _json_lint(str(model))
    [entry] = report["models"]  # type: ignore[index]
    assert (entry["findings"], entry["suppressed"], code) == ([], 1, 0)


def test_a_severity_override_applies_to_runtime_findings(model: Path) -> None:
    (model.parent / "archlint.toml").write_text('[severity]\nAL502 = "info"\n', encoding="utf-8")
    code, report = _json_lint(str(model))
    [entry] = report["models"]  # type: ignore[index]
    assert [(f["code"], f["severity"]) for f in entry["findings"]] == [("AL502", "info")]
    assert code == 0


def test_a_baseline_holding_the_runtime_finding_removes_it(model: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    written = invoke("lint", "--runtime", "--select", "AL5", "-q", str(model),
                     "--write-baseline", str(baseline))
    assert written.exit_code == 0, written.output
    assert [e["code"] for e in json.loads(baseline.read_text())["findings"]] == ["AL502"]
    code, report = _json_lint(str(model), "--baseline", str(baseline))
    [entry] = report["models"]  # type: ignore[index]
    assert (entry["findings"], entry["baselined"], code) == ([], 1, 0)


def test_run_passes_the_same_filter(model: Path) -> None:
    """``archlint run`` is the same pipeline: the config's severity reaches its findings."""
    (model.parent / "archlint.toml").write_text('[severity]\nAL502 = "warning"\n',
                                                encoding="utf-8")
    result = invoke("run", "--runs", "1", str(model))
    assert "AL502 warning: onnxruntime failed to run the model on cpu" in result.output
    assert result.exit_code == 0


def test_run_keeps_to_runtime_rules_whatever_the_config_extends(tmp_path: Path) -> None:
    """``archlint run`` judges the run only: a config's extend-select of static codes (here
    AL2, which finds two AL201 in this model statically) does not bring them in."""
    model = tmp_path / "wrong_hidden.onnx.txt"
    shutil.copy(FIXTURES / "AL201" / "bad.onnx.txt", model)
    (tmp_path / "archlint.toml").write_text('extend-select = ["AL2"]\n', encoding="utf-8")
    linted = invoke("lint", "--format", "json", "-q", "--select", "AL5", str(model))
    [static] = json.loads(linted.stdout)["models"]  # extend-select adds to --select in a lint
    assert [f["code"] for f in static["findings"]] == ["AL201", "AL201"]
    result = invoke("run", "--runs", "1", "--format", "json", str(model))
    [entry] = json.loads(result.stdout)["models"]
    codes = [f["code"] for f in entry["findings"]]
    assert codes and all(code.startswith("AL5") for code in codes), codes
