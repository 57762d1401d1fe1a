"""Shared by the layout-rule tests: load a fixture, lint it, and run it in onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from archlint.api import Finding
from archlint.engine import Linter
from archlint.registry import load_rules, select_rules

from .conftest import FIXTURES

_NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def fixture_model(code: str, kind: str) -> onnx.ModelProto:
    path = FIXTURES / code / f"{kind}.onnx.txt"
    model = onnx.parser.parse_model(path.read_text(encoding="utf-8"))
    onnx.checker.check_model(model)
    return model


def lint(path: Path, select: Sequence[str] = ("AL3",)) -> tuple[Finding, ...]:
    """Lint with the layout rules (AL3xx) by default: exact expectations stay about this pack,
    while tests/test_exported.py and the fixture snapshots cover the whole registry."""
    report = Linter(select_rules(load_rules().rules, select)).lint_file(path)
    assert report.error is None, report.error
    return report.findings


def codes_and_nodes(findings: Sequence[Finding]) -> list[tuple[str, str | None]]:
    return [(f.code, f.location.node) for f in findings]


def run_ort(
    model: onnx.ModelProto, dims: Mapping[str, int], seed: int = 0,
    values: Mapping[str, np.ndarray[Any, Any]] | None = None,
) -> dict[str, np.ndarray[Any, Any]]:
    """Run the model on random inputs whose symbolic dims take the given sizes."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for arg in session.get_inputs():
        if values and arg.name in values:
            feeds[arg.name] = values[arg.name]
            continue
        shape = [dims[d] if isinstance(d, str) else d for d in arg.shape]
        dtype = _NUMPY[arg.type]
        feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))
