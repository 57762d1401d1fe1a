"""Keras 3 layers exported by ``model.export(format="onnx")`` with the torch backend
(fixtures/keras3_torch/, make_keras3_torch.py): every layer unrolled, its input projection
hoisted (LSTM, GRU) or per step (SimpleRNN, GRU reset_after=False), by TorchScript or by
torch's dynamo exporter. Each is recognised, in its direction, and counts what Keras's
count_params() says.
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition

from .conftest import FIXTURES, folder_findings

HERE = FIXTURES / "keras3_torch"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# name -> (op, direction, I, H) of each layer, in model order
LAYERS = {
    "lstm_static.onnx": [("LSTM", "forward", 4, 3)],
    "lstm_dynamic.onnx": [("LSTM", "forward", 4, 3)],
    "gru_static.onnx": [("GRU", "forward", 5, 4)],
    "gru_reset_before_static.onnx": [("GRU", "forward", 5, 4)],
    "simple_rnn_static.onnx": [("RNN", "forward", 3, 2)],
    "simple_rnn_dynamic.onnx": [("RNN", "forward", 3, 2)],
    "gru_reset_before_dynamic.onnx": [("GRU", "forward", 5, 4)],
    "bidir_lstm_dynamic.onnx": [("LSTM", "forward", 4, 3), ("LSTM", "reverse", 4, 3)],
    "embedding_lstm_dense_dynamic.onnx": [("LSTM", "forward", 4, 3)],
}


def test_every_fixture_is_listed_and_runs_as_keras_does() -> None:
    assert sorted(LAYERS) == sorted(MANIFEST)
    assert all(entry["max_abs_diff_vs_keras"] < 1e-5 for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_layer_is_recognised_in_its_direction_and_counted_as_keras_does(
        name: str) -> None:
    graph = build_graph(load_model(HERE / name))
    layers = build_layers(graph)
    assert [(layer.recognised_as, layer.op_type, layer.direction, layer.input_size,
             layer.effective_hidden_size) for layer in layers] == [
        (Recognition.UNROLLED, *expected) for expected in LAYERS[name]]
    report = count_model(name, graph, layers)
    assert report.total(Convention.KERAS) == MANIFEST[name]["keras_params"]


def test_a_folded_first_state_product_is_no_bias() -> None:
    """With no initial state the dynamo export stores the first step's h0 @ R as a [1, g·H]
    initializer (zeros; a GRU's recurrent bias for reset_after=True): Keras's bias is all
    the rows count."""
    for name, bias in (("lstm_static.onnx", 12), ("gru_static.onnx", 24),
                       ("gru_reset_before_static.onnx", 12), ("simple_rnn_static.onnx", 2)):
        graph = build_graph(load_model(HERE / name))
        [layer] = build_layers(graph)
        assert layer.cell is not None
        assert sum(source.elements or 0 for source in layer.cell.bias) == bias, name


def test_a_shape_probe_step_is_not_the_chain_and_the_reset_gate_is_seen_through_casts(
) -> None:
    """TorchScript keeps the step Keras computes first to learn the output's shape (its
    product reads h0, its result only a Shape), and casts r * h before the recurrent product:
    the chain is the steps after it, a GRU with reset_after=False (Keras 120, no PyTorch
    equivalent)."""
    graph = build_graph(load_model(HERE / "gru_reset_before_dynamic.onnx"))
    [layer] = build_layers(graph)
    assert layer.cell is not None
    assert (layer.cell.reset_after, layer.cell.steps) == (False, 7)
    report = count_model("m", graph, [layer])
    assert (report.total(Convention.KERAS), report.total(Convention.PYTORCH)) == (120, None)


def test_a_dense_bias_after_a_cast_is_counted() -> None:
    """TorchScript casts the Dense product to float before its bias Add."""
    graph = build_graph(load_model(HERE / "embedding_lstm_dense_dynamic.onnx"))
    report = count_model("m", graph, build_layers(graph))
    [dense] = [row for row in report.layers if row.kind == "linear"]
    assert [(slot.slot, slot.elements) for slot in dense.slots] == [("weight", 6), ("bias", 2)]


def test_lint_reports_one_info_per_layer_and_nothing_else() -> None:
    assert folder_findings(HERE) == sorted((name, "AL025", "info")
                                           for name, layers in LAYERS.items() for _ in layers)
