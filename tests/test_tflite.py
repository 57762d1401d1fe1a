"""Keras layers through TFLite and tf2onnx's --tflite path (fixtures/tflite/, make_tflite.py):
each TFLite WHILE is a Loop whose body holds the weights as its own initializers, int8 behind
DequantizeLinear after dynamic-range quantization. Every layer is recognised and counts what
Keras's count_params() says, with the dtype and bytes of its weights as stored.
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.params_columns import annotate_model
from archlint.params_types import ModelParams
from archlint.recurrent import Recognition

from .conftest import FIXTURES, folder_findings

HERE = FIXTURES / "tflite"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# name -> (op, direction) of each layer, in model order
LAYERS = {
    "gru.onnx": [("GRU", "forward")],
    "bidir_lstm.onnx": [("LSTM", "forward"), ("LSTM", "reverse")],
    "lstm_q.onnx": [("LSTM", "forward")],
    "gru_q.onnx": [("GRU", "forward")],
    "simple_rnn_q.onnx": [("RNN", "forward")],
}


def _report(name: str) -> ModelParams:
    graph = build_graph(load_model(HERE / name))
    layers = build_layers(graph)
    return annotate_model(count_model(name, graph, layers), graph, layers)


def test_every_fixture_is_listed_and_runs_as_tflite_does() -> None:
    assert sorted(LAYERS) == sorted(MANIFEST)
    for entry in MANIFEST.values():  # tf2onnx's int8 LSTM drifts most (0.08)
        assert entry["max_abs_diff_vs_tflite"] < (0.1 if entry["quantized"] else 1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_loop_is_a_recognised_layer(name: str) -> None:
    layers = build_layers(build_graph(load_model(HERE / name)))
    assert [(layer.recognised_as, layer.op_type, layer.direction) for layer in layers] == [
        (Recognition.LOOP_CELL, op, direction) for op, direction in LAYERS[name]]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_model_counts_what_keras_counts_in_the_weights_as_stored(name: str) -> None:
    report = _report(name)
    assert report.total(Convention.KERAS) == MANIFEST[name]["keras_params"]
    rows = [row for row in report.layers if row.kind == "recurrent"]
    assert len(rows) == len(LAYERS[name])
    # the body's own initializers are found where they are defined: type and bytes known
    expected = "int8+float32" if MANIFEST[name]["quantized"] else "float32"
    assert {row.param_dtype for row in rows} == {expected}
    assert all(row.param_bytes for row in rows)


def test_a_bias_quantized_in_the_graph_is_counted() -> None:
    """tf2onnx passes the int8 GRU's two float biases through DynamicQuantizeLinear and
    DequantizeLinear into the Gemms' C: 2 x 3H = 240, as Keras's [2, 3H] bias."""
    [row] = _report("gru_q.onnx").layers
    bias = [slot for slot in row.slots if slot.slot == "B"]
    assert [(slot.elements, slot.keras) for slot in bias] == [(120, 120), (120, 120)]
    assert [(slot.slot, slot.elements) for slot in row.slots if slot.slot != "B"] == [
        ("W", 48 * 120), ("R", 40 * 120)]


# make_tflite_hard_sigmoid.py (tf_keras 2.21): recurrent_activation='hard_sigmoid', which
# TFLite lowers to Relu(Min(0.2x + 0.5, 1)) per gate; name -> (op, reset_after)
HARD_SIGMOID = {"lstm_hard_sigmoid.onnx": ("LSTM", None), "gru_hard_sigmoid.onnx": ("GRU", True),
                "gru_reset_before_hard_sigmoid.onnx": ("GRU", False)}
HARD_MANIFEST = json.loads((HERE / "manifest_hard_sigmoid.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(HARD_SIGMOID))
def test_a_hard_sigmoid_gate_tflite_writes_as_relu_of_min_is_a_gate(name: str) -> None:
    """The Keras 2 sweep: these Loops were "recurrent-looking, but no layer", the LSTM's bias
    uncounted (264 where count_params() is 288)."""
    assert sorted(HARD_SIGMOID) == sorted(HARD_MANIFEST)
    assert HARD_MANIFEST[name]["max_abs_diff_vs_keras"] < 1e-5
    [layer] = build_layers(build_graph(load_model(HERE / name)))
    op, reset_after = HARD_SIGMOID[name]
    assert (layer.recognised_as, layer.op_type, layer.cell and layer.cell.reset_after) == (
        Recognition.LOOP_CELL, op, reset_after)
    assert _report(name).total(Convention.KERAS) == HARD_MANIFEST[name]["count_params"]


def test_lint_reports_one_info_per_layer_and_nothing_else() -> None:
    assert folder_findings(HERE) == sorted(
        [(name, "AL025", "info") for name, layers in LAYERS.items() for _ in layers]
        + [(name, "AL025", "info") for name in HARD_SIGMOID])
