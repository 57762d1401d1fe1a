"""Every front end gives identical findings for the same model and config (issue 12): the CLI,
``pytest --archlint`` and the Python API all go through archlint.app."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

import archlint
from archlint.reporters.text import format_finding

from .conftest import FIXTURES, invoke

BATCH_FIRST_LSTM = """
<ir_version: 8, opset_import: ["" : 17]>
batch_first (float[batch, seq, 4] X, float[1, 12, 4] W, float[1, 12, 3] R)
    => (float[batch, seq, 1, 3] Y)
{
  [lstm_0] Y = LSTM <hidden_size: int = 3, layout: int = 1> (X, W, R)
}
"""
# every kind of config key: targets, a severity override, a per-path ignore, fail-on
CONFIG = """\
targets = ["onnxruntime-cpu"]
fail-on = "info"
[severity]
AL201 = "warning"
[per-path-ignores]
"models/legacy/*" = ["AL2"]
"""
EXPECTED = sorted([
    "models/enc.onnx:main/lstm_0: AL201 warning: LSTM 'lstm_0' has hidden_size=4 but W and R "
    "imply hidden_size=3",
    "models/enc.onnx:main/gru_0: AL201 warning: GRU 'gru_0' input B has shape [1, 18]; "
    "hidden_size=2 needs [1, 12]",
    "models/batch_first.onnx:main/lstm_0: AL601 error: LSTM 'lstm_0' on onnxruntime-cpu is "
    "refused at session creation [ort-cpu-layout]: batch-first layout (layout=1) is not "
    "implemented by the CPU kernels; the runtime says \"Batchwise recurrent operations "
    "(layout == 1) are not supported.\"",
])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = tmp_path / "models"
    (models / "legacy").mkdir(parents=True)
    bad = onnx.parser.parse_model((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    onnx.save_model(bad, models / "enc.onnx")
    onnx.save_model(bad, models / "legacy" / "old.onnx")  # its AL201s are ignored by path
    onnx.save_model(onnx.parser.parse_model(BATCH_FIRST_LSTM), models / "batch_first.onnx")
    (tmp_path / "archlint.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _first_lines(text: str) -> list[str]:
    """The first line of every finding as text reporters write it (path:graph/node: CODE)."""
    return sorted(line for line in text.splitlines()
                  if line.startswith("models/") and ": AL" in line)


def via_cli(project: Path) -> list[str]:
    result = invoke("lint", "-q", "models")
    assert result.exit_code == 1
    return _first_lines(result.output)


def via_pytest_plugin(project: Path) -> list[str]:
    # pytest prints whole failure messages again in its short summary when it sees CI or
    # BUILD_NUMBER (as in our own CI): read the report as a developer's terminal shows it
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--archlint", "-q", "-p", "no:cacheprovider", "models",
         "--rootdir", str(project), "-c", "/dev/null"],
        capture_output=True, text=True, cwd=project, check=False, timeout=120, env=env)
    assert "2 failed, 1 passed" in proc.stdout, proc.stdout  # legacy/old.onnx: all ignored
    return _first_lines(proc.stdout)


def via_python_api(project: Path) -> list[str]:
    report = archlint.lint("models")
    return sorted(format_finding(f).splitlines()[0] for f in report.findings)


@pytest.mark.parametrize("front_end", [via_cli, via_pytest_plugin, via_python_api],
                         ids=["cli", "pytest-plugin", "python-api"])
def test_identical_findings(front_end: Callable[[Path], list[str]], project: Path) -> None:
    assert front_end(project) == EXPECTED
