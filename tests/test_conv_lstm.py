"""Keras ConvLSTM1D/2D through tf2onnx (fixtures/conv_lstm/, make_conv_lstm.py): a Loop of
Convs whose kernels are Split and Transposed from values the loop carries unchanged. archlint
recognises no ConvLSTM cell (the Loop is listed as not seen into), but params counts every
stored weight once: Keras's count_params(), plus in ONNX the all-zero kernel of the Conv Keras
uses before the loop to shape its initial state, which the file stores like any other weight
(the Keras and PyTorch columns leave it out: it is no parameter, the old-TF sweep).
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "conv_lstm"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def test_every_fixture_runs_as_keras_does() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry["max_abs_diff_vs_keras"] < 1e-5 for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_weights_carried_into_the_loop_are_counted_where_they_are_stored(name: str) -> None:
    graph = build_graph(load_model(HERE / name))
    report = count_model(name, graph, build_layers(graph))
    entry = MANIFEST[name]
    assert report.total(Convention.ONNX) == entry["keras_params"] + entry["zero_kernel_elements"]
    assert report.total(Convention.KERAS) == report.total(Convention.PYTORCH) \
        == entry["keras_params"]
    [shaper] = [row for row in report.layers if row.graph == "main" and row.op_type == "Conv"]
    assert shaper.total(Convention.ONNX) == entry["zero_kernel_elements"]
    assert any("holds only zeros and the Conv's result is a Loop's initial state" in note
               for note in shaper.notes)
    body = [row for row in report.layers if row.graph != "main"]
    assert len(body) == 8 and all(row.op_type == "Conv" for row in body)  # 4 gates x (x, h)
    assert sum(row.total(Convention.ONNX) or 0 for row in body) == entry["keras_params"]
    # each carried tensor is counted once, where it is stored (the main graph)
    assert {s.sources[0].graph for row in body for s in row.slots if s.sources} == {"main"}


def test_lint_finds_no_error_and_says_the_loop_was_not_seen_into() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert [m["findings"] for m in models] == [[], []]
    assert all(len(m["unseen"]) == 1 and m["unseen"][0].endswith("(Loop)") for m in models)
