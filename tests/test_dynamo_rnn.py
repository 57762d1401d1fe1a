"""nn.RNN through torch's default (dynamo) exporter: an unrolled chain whose input projection
is one MatMul over the whole sequence, sliced per step (flipped for the reverse direction).
Real exports in fixtures/dynamo_rnn/ (make_dynamo_rnn.py records PyTorch's counts)."""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition

from .conftest import FIXTURES, folder_findings

HERE = FIXTURES / "dynamo_rnn"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_direction_of_each_layer_is_recognised_and_counted(name: str) -> None:
    entry = MANIFEST[name]
    assert entry["ort_check"] == "ok"
    path = HERE / entry["file"]
    graph = build_graph(load_model(path))
    layers = build_layers(graph)
    assert [(layer.recognised_as, layer.op_type, layer.direction) for layer in layers] == [
        (Recognition.UNROLLED, "RNN", expected["direction"]) for expected in entry["layers"]]
    for layer, expected in zip(layers, entry["layers"], strict=True):
        cell = layer.cell
        assert cell is not None
        assert (cell.input_size, cell.hidden_size, cell.steps, cell.bias_layout) == (
            expected["input_size"], expected["hidden_size"], 5, "two")
    report = count_model(path.name, graph, layers)
    rows = [row for row in report.layers if row.recognised_as == "unrolled"]
    assert [row.total(Convention.PYTORCH) for row in rows] == [
        expected["torch_params"] for expected in entry["layers"]]
    assert report.total(Convention.PYTORCH) == entry["torch_total"]
    # Keras's SimpleRNN keeps one bias: H fewer per direction
    assert [row.total(Convention.KERAS) for row in rows] == [
        expected["torch_params"] - expected["hidden_size"] for expected in entry["layers"]]


def test_lint_reports_each_direction_as_info_and_nothing_else() -> None:
    assert folder_findings(HERE) == sorted((entry["file"], "AL025", "info")
                                           for entry in MANIFEST.values()
                                           for _ in entry["layers"])


def test_the_reverse_direction_is_read_from_the_flip() -> None:
    """Without the flip (a Slice with step -1) the reverse chain reads its slices 0, 1, ...
    in order, like the forward one: the direction comes from the flip."""
    graph = build_graph(load_model(HERE / "rnn_bi_h0.onnx"))
    flips = [node for node in graph.iter_nodes(frozenset({"Slice"})) if "flip" in node.name]
    assert len(flips) == 1
    directions = [layer.direction for layer in build_layers(graph)]
    assert directions == ["forward", "reverse"]
