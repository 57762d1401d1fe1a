"""TF1-style cells (dynamic_rnn) through tf2onnx (fixtures/tf1_rnn/, make_tf1_rnn.py).

A single cell becomes an LSTM or GRU node; a MultiRNNCell stays a Loop that carries its
kernels and biases through unchanged. That Loop is no cell archlint recognises (two cells in
one body), so it is listed as not seen into, but its weights are counted: what TensorFlow
counts, not 0.
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


def test_weights_a_loop_carries_unchanged_are_counted_where_they_are_stored() -> None:
    graph = build_graph(load_model(HERE / "lstm_multi.onnx"))
    report = count_model("m", graph, build_layers(graph))
    rows = [(row.op_type, [(s.slot, s.elements, s.sources[0].graph) for s in row.slots])
            for row in report.layers]
    assert rows == [("Gemm", [("weight", 7 * 16, "main"), ("bias", 16, "main")]),
                    ("Gemm", [("weight", 8 * 16, "main"), ("bias", 16, "main")])]


def test_lint_is_clean_and_says_the_loop_was_not_seen_into() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = {m["path"].rpartition("/")[2]: m for m in json.loads(result.stdout)["models"]}
    assert all(not m["findings"] for m in models.values())
    assert {name: m["unseen"] for name, m in models.items()} == {
        "gru_bi.onnx": [], "lstm.onnx": [], "lstm_multi.onnx": ["main/rnn/while_loop (Loop)"]}
