"""Recurrences torch writes as ONNX loops that read the sequence backwards
(fixtures/torch_loops/, make_torch_loops.py): a scripted ``for t in range(T - 1, -1, -1)``
(a Loop gathering step ``T - 1 - i``: it read as forward) and ``scan(..., reverse=True)``
(a Scan between two whole flips of time: its direction was unknown). Both are reverse, with
PyTorch's count, and onnxruntime runs them as PyTorch does at other sizes."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, read_as

HERE = FIXTURES / "torch_loops"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]


def test_onnxruntime_runs_them_as_pytorch_does() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry["max_abs_diff_vs_torch"] < 1e-5 for entry in MODELS.values())


@pytest.mark.parametrize(("name", "op"), [("scripted_gru_reverse.onnx", "GRU"),
                                          ("scan_lstm_reverse.onnx", "LSTM")])
def test_a_loop_that_reads_from_the_end_is_a_reverse_layer(name: str, op: str) -> None:
    from archlint.app import count_paths
    from archlint.params import Convention

    layers, totals, codes = read_as(HERE / name)
    assert (layers, codes) == ([(op, "loop-cell")], ["AL025"])
    assert totals[Convention.PYTORCH] == MODELS[name]["torch_params"]
    [report] = count_paths([str(HERE / name)])
    [row] = report.layers
    assert (row.op_type, row.direction) == (op, "reverse")
