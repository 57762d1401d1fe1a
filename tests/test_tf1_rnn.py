"""TF1-style cells (dynamic_rnn) through tf2onnx (fixtures/tf1_rnn/, make_tf1_rnn.py).

A single cell becomes an LSTM or GRU node; a MultiRNNCell stays a Loop that carries its
kernels and biases through unchanged and computes both cells in one body, each with TF1's one
kernel over [x_t, h]. archlint recognises both cells of that body, and counts what TensorFlow
counts. fixtures/tf1_scan/ (tests/test_tf1_scan.py) holds the same cells converted from a
frozen graph, where every dynamic_rnn becomes a Scan.
"""

from __future__ import annotations

import json

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "tf1_rnn"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def _keras_total(name: str) -> int | None:
    graph = build_graph(load_model(HERE / name))
    return count_model(name, graph, build_layers(graph)).total(Convention.KERAS)


def test_each_model_runs_as_tensorflow_does_and_counts_what_it_counts() -> None:
    for name, entry in MANIFEST.items():
        assert entry["max_abs_diff_vs_tf"] < 1e-5
        assert _keras_total(name) == entry["tf_params"], name


def test_both_cells_of_one_loop_body_are_layers_with_the_weights_the_loop_carries() -> None:
    graph = build_graph(load_model(HERE / "lstm_multi.onnx"))
    layers = build_layers(graph)
    report = count_model("m", graph, layers)
    rows = [(row.op_type, row.recognised_as, row.input_size, row.implied_hidden_size,
             [(s.slot, s.elements, s.sources[0].graph) for s in row.slots])
            for row in report.layers]
    # TF1's kernels [I+H, 4H]: [3+4, 16] for the first cell, [4+4, 16] for the one above it
    assert rows == [("LSTM", "loop-cell", 3, 4, [("W", 7 * 16, "main"), ("B", 16, "main")]),
                    ("LSTM", "loop-cell", 4, 4, [("W", 8 * 16, "main"), ("B", 16, "main")])]
    assert [layer.node.graph for layer in layers] == ["main/rnn/while_loop.body"] * 2
    assert [layer.cell.returns_sequence for layer in layers if layer.cell] == [True, True]


def test_lint_sees_into_every_loop_and_says_the_cells_were_counted_not_checked() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = {m["path"].rpartition("/")[2]: m for m in json.loads(result.stdout)["models"]}
    assert {name: [f["code"] for f in m["findings"]] for name, m in models.items()} == {
        "gru_bi.onnx": [], "lstm.onnx": [], "lstm_multi.onnx": ["AL025", "AL025"]}
    assert {name: m["unseen"] for name, m in models.items()} == {
        "gru_bi.onnx": [], "lstm.onnx": [], "lstm_multi.onnx": []}
