"""PyTorch models exported with ``export_modules_as_functions=True`` (fixtures/torch_functions/,
make_torch_functions.py): each module a model-local function, the weights initializers of the
main graph passed down through nested calls. Every weight is counted once, as the initializer
it is, in every node that reads it through those calls (a Linear's Gemm as well as the LSTMs).
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.weight_sources import Basis

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "torch_functions"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
LAYERS = {"lstm_bi2_head.onnx": ["LSTM", "LSTM", "Gemm"],
          "gru_lstm_head.onnx": ["GRU", "LSTM", "LSTM", "Gemm"]}


def test_every_export_runs_as_pytorch_does() -> None:
    assert sorted(MANIFEST) == sorted(path.name for path in HERE.glob("*.onnx")) \
        == sorted(LAYERS)
    assert all(entry["max_abs_diff_vs_pytorch"] < 1e-5 for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_weights_passed_through_nested_calls_are_the_main_graphs_initializers(name: str) -> None:
    graph = build_graph(load_model(HERE / name))
    report = count_model(name, graph, build_layers(graph))
    assert [row.op_type for row in report.layers] == LAYERS[name]
    assert all(row.graph.startswith("main/") for row in report.layers)  # inside the calls
    assert report.total(Convention.PYTORCH) == MANIFEST[name]["pytorch_params"]
    slots = [slot for row in report.layers for slot in row.slots]
    assert {slot.basis for slot in slots} == {Basis.INITIALIZER}
    assert {source.graph for slot in slots for source in slot.sources} == {"main"}
    assert report.shared == () and report.uncounted_tensors == 0


def test_lint_finds_every_layer_and_nothing_wrong() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = {m["path"].rsplit("/", 1)[-1]: m for m in json.loads(result.stdout)["models"]}
    assert {name: (m["recurrent_layers"], m["findings"], m["unseen"])
            for name, m in models.items()} == {
        "lstm_bi2_head.onnx": (2, [], []), "gru_lstm_head.onnx": (3, [], [])}
