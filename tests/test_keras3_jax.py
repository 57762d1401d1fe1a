"""Keras 3 layers exported by ``model.export(format="onnx")`` with the jax backend, which runs
jax2onnx (fixtures/keras3_jax/, make_keras3_jax.py): each layer a Loop. A GRU with
reset_after=True (Keras's default) has its input projection ``x @ kernel + bias[0]`` computed
for every step before its Loop, the body reading one step of it; a backward layer reverses x
with a Gather of every time index from the last. With unroll=True there is no Loop, and each
step reads x_t through a Slice on all three axes, two of them whole. Each layer is
recognised, in its direction, and counts what Keras's count_params() says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archlint.cells._projection import _reversed_axis
from archlint.cells._trace import step_window
from archlint.graph import ModelGraph, NodeInfo, build_graph
from archlint.loader import load_model

from .conftest import FIXTURES, folder_findings, invoke

HERE = FIXTURES / "keras3_jax"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# name -> (op, recognised as, direction, I, H) of each layer, in model order
LAYERS = {
    "gru_forward.onnx": [("GRU", "loop-cell", "forward", 3, 5)],
    "bigru_sum.onnx": [("GRU", "loop-cell", "forward", 4, 3),
                       ("GRU", "loop-cell", "reverse", 4, 3)],
    "stacked_gru_lstm.onnx": [("GRU", "loop-cell", "forward", 3, 4),
                              ("LSTM", "loop-cell", "forward", 4, 3)],
    "lstm_forward.onnx": [("LSTM", "loop-cell", "forward", 4, 3)],
    "lstm_backward_unrolled.onnx": [("LSTM", "unrolled", "reverse", 3, 3)],
}
# name -> (ONNX, PyTorch) totals; Keras's is the manifest's count_params(). A GRU with
# reset_after=True stores Keras's two bias rows, as nn.GRU's b_ih and b_hh: the three agree. An
# LSTM stores one bias, which nn.LSTM holds twice.
TOTALS = {
    "gru_forward.onnx": (150, 150),
    "bigru_sum.onnx": (162, 162),
    "stacked_gru_lstm.onnx": (204, 216),
    "lstm_forward.onnx": (96, 108),
    "lstm_backward_unrolled.onnx": (84, 96),
}


def _cli_json(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    assert isinstance(model, dict)
    return model


def test_every_fixture_is_listed_and_runs_as_keras_does() -> None:
    assert sorted(LAYERS) == sorted(TOTALS) == sorted(MANIFEST)
    assert all(entry["max_abs_diff_vs_keras"] < 1e-5 for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_lint_checks_every_layer_and_leaves_no_loop_unseen(name: str) -> None:
    model = _cli_json("lint", str(HERE / name))
    assert (model["recurrent_layers"], model["unseen"]) == (len(LAYERS[name]), [])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_layer_is_recognised_in_its_direction_and_counted_as_keras_does(
        name: str) -> None:
    model = _cli_json("params", str(HERE / name))
    assert [(row["op_type"], row["recognised_as"], row["direction"], row["input_size"],
             row["implied_hidden_size"]) for row in model["layers"]] == LAYERS[name]
    onnx, pytorch = TOTALS[name]
    assert model["totals"] == {"onnx": onnx, "pytorch": pytorch,
                               "keras": MANIFEST[name]["keras_params"]}


def test_a_projection_before_the_loop_is_the_layer_s_kernel_and_first_bias_row() -> None:
    """jax2onnx's GRU(reset_after=True): ``x @ kernel`` before the Loop is the layer's W (no
    Linear row of its own), and the one stored ``[2, 3·H]`` bias, whose row 0 is added to that
    product and row 1 in the body (each broadcast by an Expand), is its B."""
    [row] = _cli_json("params", str(HERE / "gru_forward.onnx"))["layers"]
    assert [(slot["slot"], slot["elements"], slot["keras"]) for slot in row["slots"]] == [
        ("W", 3 * 15, 3 * 15), ("R", 5 * 15, 5 * 15), ("B", 2 * 15, 2 * 15)]
    assert row["linear_before_reset"] == 1


def test_lint_reports_one_info_per_layer_and_nothing_else() -> None:
    assert folder_findings(HERE) == sorted((name, "AL025", "info")
                                           for name, layers in LAYERS.items() for _ in layers)


_SHAPES = """
    shape = Shape(x)
    time = Constant <value = int64[1] {1}> ()
    picked = Gather <axis = 0> (shape, time)
    first = Constant <value = int64[1] {0}> ()
    n = Squeeze (picked, first)
    zero = Constant <value = int64 {0}> ()
    one = Constant <value = int64 {1}> ()
    minus = Constant <value = int64 {-1}> ()
    last = Sub (n, one)
"""


def _node(tmp_path: Path, body: str, output: str = "y") -> tuple[ModelGraph, NodeInfo]:
    """The graph of ``x: float[batch, 6, 3]`` -> ``body``, and the node that makes
    ``output``."""
    text = ('<ir_version: 8, opset_import: ["" : 17]>\n'
            f"g (float[batch, 6, 3] x) => (float[batch, 6, 3] {output}) {{\n{body}\n}}\n")
    path = tmp_path / "m.onnx.txt"
    path.write_text(text)
    graph = build_graph(load_model(path))
    producer = graph.producer(output, "main")
    assert producer is not None
    return graph, producer


@pytest.mark.parametrize(("indices", "reversed_axis"), [
    ("up = Range (zero, n, one)\n idx = Sub (last, up)", 1),  # jax2onnx's jnp.flip
    ("idx = Range (last, minus, minus)", 1),
    ("idx = Constant <value = int64[6] {5, 4, 3, 2, 1, 0}> ()", 1),
    ("idx = Range (zero, n, one)", None),  # in order
    ("idx = Constant <value = int64[5] {5, 4, 3, 2, 1}> ()", None),  # not the whole axis
    ("idx = Range (n, minus, minus)", None),  # from one past the end
    ("up = Range (zero, n, one)\n idx = Sub (n, up)", None),  # T - t: off by one
])
def test_a_gather_reverses_the_time_axis_only_with_every_index_from_the_last(
        tmp_path: Path, indices: str, reversed_axis: int | None) -> None:
    graph, gather = _node(tmp_path, f"{_SHAPES}\n {indices}\n y = Gather <axis = 1> (x, idx)")
    assert _reversed_axis(graph, gather) == reversed_axis


@pytest.mark.parametrize(("ends", "window"), [
    ("ends = Concat <axis = 0> (four, batch, three)", (0, 3)),  # jax2onnx, batch from a Shape
    ("ends = Constant <value = int64[3] {4, 9223372036854775807, 3}> ()", (0, 3)),
    ("ends = Concat <axis = 0> (four, batch, two)", None),  # the features cut too
    ("ends = Concat <axis = 0> (four, four, three)", None),  # batch not known to end there
])
def test_a_slice_on_every_axis_is_one_step_when_the_others_are_taken_whole(
        tmp_path: Path, ends: str, window: tuple[int, int] | None) -> None:
    body = f"""
    moved = Transpose <perm = [1, 0, 2]> (x)
    shape = Shape (moved)
    at = Constant <value = int64[1] {{1}}> ()
    batch = Gather <axis = 0> (shape, at)
    four = Constant <value = int64[1] {{4}}> ()
    two = Constant <value = int64[1] {{2}}> ()
    three = Constant <value = int64[1] {{3}}> ()
    starts = Constant <value = int64[3] {{3, 0, 0}}> ()
    axes = Constant <value = int64[3] {{0, 1, 2}}> ()
    {ends}
    y = Slice (moved, starts, ends, axes)
    """
    graph, sliced = _node(tmp_path, body)
    assert step_window(graph, sliced) == window


def test_a_gather_of_a_cast_of_x_reverses_the_axis_whose_length_is_read_from_x(
        tmp_path: Path) -> None:
    """A float16 converter that keeps the inputs float casts x for the reversing Gather, not
    for the Shape its length is read from: the Gather still reverses axis 1 (the backward
    layer of a Keras 3 jax GRU read as forward)."""
    body = (f"{_SHAPES}\n up = Range (zero, n, one)\n idx = Sub (last, up)\n"
            " cast = Cast <to = 10> (x)\n y = Gather <axis = 1> (cast, idx)")
    graph, gather = _node(tmp_path, body)
    assert _reversed_axis(graph, gather) == 1
