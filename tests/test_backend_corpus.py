"""The onnx package's own LSTM/GRU/RNN node test cases lint clean (an outside corpus)."""

from __future__ import annotations

from pathlib import Path

from .conftest import lint_model


def test_corpus_has_all_three_ops(backend_recurrent_cases: list) -> None:
    ops = {n.op_type for c in backend_recurrent_cases for n in c.model.graph.node}
    assert {"LSTM", "GRU", "RNN"} <= ops
    assert len(backend_recurrent_cases) >= 18


def test_every_backend_recurrent_model_lints_clean(
    backend_recurrent_cases: list, tmp_path: Path
) -> None:
    dirty = {}
    for case in backend_recurrent_cases:
        findings = lint_model(case.model, tmp_path, name=f"{case.name}.onnx")
        if findings:
            dirty[case.name] = [f"{f.code} {f.message}" for f in findings]
    assert dirty == {}
