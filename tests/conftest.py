from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import pytest
from click.testing import CliRunner, Result

from archlint.cli import cli
from archlint.engine import Linter
from archlint.registry import load_rules, select_rules

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
ARCHLINT = [sys.executable, "-m", "archlint"]


def invoke(*args: str) -> Result:
    """Run the CLI in-process (fast); exit code and output as a user sees them."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def params_by_stem(folder: Path) -> dict[str, dict[str, Any]]:
    """``archlint params --format json`` of every model in ``folder``, by file stem."""
    result = invoke("params", str(folder), "--format", "json")
    assert result.exit_code == 0, result.output
    return {model["path"].rsplit("/", 1)[-1].removesuffix(".onnx"): model
            for model in json.loads(result.output)["models"]}


def folder_findings(folder: Path) -> list[tuple[str, str, str]]:
    """``archlint lint FOLDER`` (JSON, exit 0 required): (file name, code, severity) of every
    finding, sorted."""
    result = invoke("lint", str(folder), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    return sorted((m["path"].rpartition("/")[2], f["code"], f["severity"])
                  for m in json.loads(result.stdout)["models"] for f in m["findings"])


def read_as(path: Path) -> tuple[list[tuple[str, str]], dict[object, int | None], list[str]]:
    """How archlint reads a model: its recurrent layers (op, how recognised), its parameter
    totals in every convention, and the codes ``archlint lint`` reports, sorted: what a model
    after a tool (an optimizer, a quantizer) must share with its source."""
    from archlint.graph import indexed
    from archlint.layers import build_layers
    from archlint.loader import load_model
    from archlint.params import Convention, count_model

    model = load_model(path)
    _, graph = indexed(model)
    layers = build_layers(graph, model.exporter)  # as lint and params build them
    report = count_model(path.name, graph, layers)
    result = invoke("lint", str(path), "--format", "json", "--exit-zero")
    codes = sorted(f["code"] for m in json.loads(result.stdout)["models"] for f in m["findings"])
    return ([(layer.op_type, layer.recognised_as.value) for layer in layers],
            {c: report.total(c) for c in Convention}, codes)


def run_archlint(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run archlint in a child process, as a shell would."""
    return subprocess.run(
        [*ARCHLINT, *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, **(env or {})}, timeout=timeout, check=False,
    )


def without_timings(text: str) -> dict[str, object]:
    """A JSON report (``lint --format json``) less its timing, to compare two runs."""
    report = json.loads(text)
    report["summary"].pop("elapsed_s")
    return report  # type: ignore[no-any-return]


def lint_model(model: onnx.ModelProto, tmp_path: Path, select: Sequence[str] = ("ALL",),
               name: str = "model.onnx"):
    """Save a model to tmp_path and lint it with the selected rules; returns the findings."""
    path = tmp_path / name
    onnx.save_model(model, path)
    rules = select_rules(load_rules().rules, select)
    report = Linter(rules).lint_file(path)
    assert report.error is None, report.error
    return report.findings


def lint_text(text: str, tmp_path: Path, select: Sequence[str] = ("ALL",)):
    return lint_model(onnx.parser.parse_model(text), tmp_path, select)


@pytest.fixture(scope="session")
def backend_cases() -> list:
    """The onnx package's own node test cases, every op (an outside corpus)."""
    import warnings

    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(node.collect_testcases())


@pytest.fixture(scope="session")
def backend_recurrent_cases(backend_cases: list) -> list:
    """The onnx package's own LSTM/GRU/RNN node test cases (an outside corpus)."""
    return [c for c in backend_cases
            if any(n.op_type in ("LSTM", "GRU", "RNN") for n in c.model.graph.node)]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true",
                     help="Rewrite fixtures/<CODE>/expected.txt from the current output.")
    parser.addoption("--run-slow", action="store_true", help="Run tests marked slow.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
