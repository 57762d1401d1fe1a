"""archlint.patterns: typed reads of layout ops and the walks the layout rules build on."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from archlint.engine import analyse
from archlint.graph import ModelGraph
from archlint.loader import load_model
from archlint.patterns import (
    DimOf,
    align_reshape,
    attr_int,
    attr_ints,
    attr_str,
    const_ints,
    flatten_paths,
    gather_spec,
    layer_chain,
    reshape_target,
    shape_vector,
    slice_spec,
    squeeze_axes,
    state_origin,
    transpose_perm,
)

from .conftest import FIXTURES

EXPORTED = FIXTURES / "exported"

_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[seq, batch, 4] X, float[4, batch, 3] H0)
  => (float[seq, batch, 6] out, float[2, batch, 3] hn)
{
  [lstm0] Y, Y_h = LSTM <hidden_size: int = 3, direction: string = "bidirectional">
    (X, W, R, , , h_first)
  [t] Yt = Transpose <perm: ints = [0, 2, 1, 3]> (Y)
  [id] Yi = Identity (Yt)
  [flat] out = Reshape (Yi, target)
  [sl] h_first = Slice (H0, starts, ends, axes)
  [g] row = Gather <axis: int = 0> (H0, three)
  [u] h_row = Unsqueeze (row, zero)
  [shape] s = Shape <start: int = 1, end: int = 2> (X)
  [cat] dyn = Concat <axis: int = 0> (two, s, hid)
  [sq] hn = Squeeze (Y_h, none)
}
"""


def _graph(tmp_path: Path, text: str = _TEXT) -> ModelGraph:
    model = onnx.parser.parse_model(text)
    graph = model.graph
    consts = {"target": [0, 0, -1], "starts": [2], "ends": [4], "axes": [0], "zero": [0],
              "two": [2], "hid": [3], "none": []}
    for name, values in consts.items():
        graph.initializer.append(onnx.helper.make_tensor(name, onnx.TensorProto.INT64,
                                                         [len(values)], values))
    graph.initializer.append(onnx.helper.make_tensor("three", onnx.TensorProto.INT64, [], [3]))
    for name, dims in (("W", [2, 12, 4]), ("R", [2, 12, 3])):
        graph.initializer.append(onnx.helper.make_tensor(
            name, onnx.TensorProto.FLOAT, dims, [0.0] * (dims[0] * dims[1] * dims[2])))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    return analyse(load_model(path)).graph


def _node(graph: ModelGraph, name: str):
    return next(n for n in graph.nodes.values() if n.name == name)


def test_attribute_getters_are_typed_and_none_when_absent_or_mistyped(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    lstm, t, g = _node(graph, "lstm0"), _node(graph, "t"), _node(graph, "g")
    assert attr_int(lstm, "hidden_size") == 3
    assert attr_str(lstm, "direction") == "bidirectional"
    assert attr_ints(t, "perm") == (0, 2, 1, 3)
    assert attr_int(g, "axis") == 0
    assert attr_int(lstm, "direction") is None  # a string, not an int
    assert attr_ints(lstm, "perm") is None
    assert transpose_perm(t, 4) == (0, 2, 1, 3)


def test_constant_inputs(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    assert const_ints(graph, "target") == (0, 0, -1)
    assert const_ints(graph, "W") is None  # floats are not ints
    assert const_ints(graph, "X") is None
    assert reshape_target(graph, _node(graph, "flat")) == (0, 0, -1)
    spec = slice_spec(graph, _node(graph, "sl"))
    assert spec is not None and spec.on_axis(0) == (2, 4, 1) and spec.on_axis(1) is None
    assert gather_spec(graph, _node(graph, "g")) == (0, (3,), True)
    assert squeeze_axes(graph, _node(graph, "u")) == (0,)


def test_shape_vector_reads_axes_through_shape_concat(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    assert shape_vector(graph, "dyn") == (2, DimOf("X", 1, "batch"), 3)
    assert shape_vector(graph, "target") == (0, 0, -1)
    assert shape_vector(graph, "Y") is None  # not a shape computation


def test_state_origin_composes_row_windows(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    sliced = state_origin(graph, "h_first")
    assert (sliced.root, sliced.rows) == ("H0", (2, 4))
    gathered = state_origin(graph, "h_row")
    assert (gathered.root, gathered.rows) == ("H0", (3, 4))
    assert [n.op_type for n in gathered.through] == ["Unsqueeze", "Gather"]
    own = state_origin(graph, "X")
    assert (own.root, own.producer) == ("X", None)


def test_flatten_paths_compose_transposes(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    [path] = list(flatten_paths(graph, "Y", 4))
    assert path.reshape.name == "flat"
    assert path.order == (0, 2, 1, 3)
    assert [t.name for t in path.transposes] == ["t"]
    assert path.before_last == (0, 1, 2, 3)


@pytest.mark.parametrize(("shape", "target", "groups"), [
    (("seq", "batch", 2, 3), (0, 0, -1), {0: (0,), 1: (1,), 2: (2, 3)}),
    (("seq", "batch", 2, 3), (5, -1, 6), {0: (0,), 1: (1,), 2: (2, 3)}),
    (("seq", 2, "batch", 3), (0, -1, 6), {0: (0,)}),
    ((4, 5), (20,), {0: (0, 1)}),
    (("a", "b"), (-1,), {0: (0, 1)}),
    (("a", "b", 3), (-1, 2), {}),
    # a size-1 axis (one direction's D) holds nothing: the rest still maps one to one
    (("seq", "batch", 1, 5), (5, -1, 5), {0: (0,), 1: (1,), 2: (3,)}),
    (("seq", 1, "batch", 3), (5, -1, 3), {0: (0,), 1: (2,), 2: (3,)}),
    (("a", "b", 1, 5), (0, -1, 5), {0: (0,), 1: (1, 2), 2: (3,)}),
    (("a", "b", 1, 5), (3, 0, 5), {2: (3,)}),  # a copy in the middle: no guess
])
def test_align_reshape(shape, target, groups) -> None:
    assert align_reshape(shape, target) == groups


def test_layer_chain_on_real_exports() -> None:
    ctx = analyse(load_model(EXPORTED / "gru_l3_bi_bf_h0.onnx"))
    chain = layer_chain(ctx.graph, ctx.layers)
    assert sorted((k, ctx.graph.nodes[n].name) for n, k in chain.items()) == [
        (0, "/rnn/GRU"), (1, "/rnn/GRU_1"), (2, "/rnn/GRU_2")]
    rows = [state_origin(ctx.graph, layer.inputs["initial_h"].name).rows for layer in ctx.layers]
    assert rows == [(0, 2), (2, 4), (4, 6)]


def test_dynamo_reshape_target_is_read_as_axes_of_the_transposed_y() -> None:
    ctx = analyse(load_model(EXPORTED / "lstm_l2_bi_dynamo.onnx"))
    reshape = _node(ctx.graph, "node_Reshape_127")
    assert shape_vector(ctx.graph, reshape.inputs[1]) == (
        DimOf("val_116", 0, "seq"), DimOf("val_116", 1, "batch"), 6)


@pytest.mark.parametrize(("starts", "ends", "rows"), [
    ([2], [4], (2, 4)),
    ([-2], [9223372036854775807], (2, 4)),  # "the last layer", as exporters write it
    ([0], [-2], (0, 2)),
    ([3], [100], (3, 4)),
])
def test_state_origin_normalises_negative_and_open_slice_bounds(
    tmp_path: Path, starts: list[int], ends: list[int], rows: tuple[int, int]
) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    g (float[4, batch, 3] H0) => (float[a, batch, 3] h) { [sl] h = Slice (H0, st, en, ax) }"""
    model = onnx.parser.parse_model(text)
    for name, values in (("st", starts), ("en", ends), ("ax", [0])):
        model.graph.initializer.append(
            onnx.helper.make_tensor(name, onnx.TensorProto.INT64, [1], values))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    graph = analyse(load_model(path)).graph
    assert state_origin(graph, "h").rows == rows


def test_state_origin_gather_with_negative_index(tmp_path: Path) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    g (float[4, batch, 3] H0) => (float[1, batch, 3] h) {
      [g] row = Gather <axis: int = 0> (H0, last)
      [u] h = Unsqueeze (row, zero)
    }"""
    model = onnx.parser.parse_model(text)
    int64 = onnx.TensorProto.INT64
    model.graph.initializer.append(onnx.helper.make_tensor("last", int64, [], [-1]))
    model.graph.initializer.append(onnx.helper.make_tensor("zero", int64, [1], [0]))
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    assert state_origin(analyse(load_model(path)).graph, "h").rows == (3, 4)
