"""Keras RNN(StackedRNNCells([...])) through tf2onnx (fixtures/stacked_cells/,
make_stacked_cells.py): one Loop whose body computes every cell of the stack, each with its own
kernel and recurrent kernel. Each cell is a layer of its own, bottom of the stack first, the
upper cell's I the lower cell's H, and each counts what Keras's count_params() says.
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "stacked_cells"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# name -> (op, I, H, direction, GRU reset_after) per cell, bottom of each stack first
LAYERS: dict[str, list[tuple[str, int, int, str, bool | None]]] = {
    "lstm_lstm.onnx": [("LSTM", 3, 4, "forward", None), ("LSTM", 4, 4, "forward", None)],
    "gru_simple_rnn.onnx": [("GRU", 3, 4, "forward", True), ("RNN", 4, 3, "forward", None)],
    "bi_gru_gru.onnx": [("GRU", 3, 3, "forward", False), ("GRU", 3, 2, "forward", True),
                        ("GRU", 3, 3, "reverse", False), ("GRU", 3, 2, "reverse", True)],
}


def test_every_fixture_is_listed_and_runs_as_keras_does() -> None:
    assert sorted(LAYERS) == sorted(MANIFEST)
    assert all(entry["max_abs_diff_vs_keras"] < 1e-5 for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_cell_of_the_stack_is_a_layer_with_keras_sizes_and_counts(name: str) -> None:
    graph = build_graph(load_model(HERE / name))
    layers = build_layers(graph)
    assert all(layer.recognised_as is Recognition.LOOP_CELL for layer in layers)
    assert [(layer.op_type, layer.cell.input_size, layer.cell.hidden_size, layer.direction,
             layer.cell.reset_after) for layer in layers if layer.cell] == LAYERS[name]
    # the cell below feeds the one above: its whole sequence is the upper cell's input
    assert [layer.cell.sequence is not None for layer in layers if layer.cell] == [
        k % 2 == 0 for k in range(len(LAYERS[name]))]
    report = count_model(name, graph, layers)
    # params lists rows in graph order (tf2onnx writes the upper cell first): match by node
    rows = {(row.graph, row.node): row for row in report.layers if row.kind == "recurrent"}
    assert [rows[layer.node.graph, layer.node.name].total(Convention.KERAS)
            for layer in layers] == MANIFEST[name]["keras_cell_params"]
    assert report.total(Convention.KERAS) == MANIFEST[name]["keras_params"]


def test_lint_sees_each_cell_and_advises_one_layer_per_cell() -> None:
    result = invoke("lint", str(HERE / "gru_simple_rnn.onnx"), "--format", "json")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    assert model["unseen"] == []
    assert [f["code"] for f in model["findings"]] == ["AL025", "AL025"]
    assert all("StackedRNNCells" in f["help"] for f in model["findings"])
    assert any("has no SimpleRNN rewriter" in f["help"] for f in model["findings"])
