"""The loader's graph and the recurrent views: ids, edges, symbols, subgraphs, resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint import loader
from archlint.engine import analyse
from archlint.graph import build_graph
from archlint.loader import load_model

LSTM_IN_LOOP = """
<ir_version: 8, opset_import: ["" : 17]>
looped (int64 trip, bool cond, float[seq, batch, 4] X, float[1, 12, 4] W, float[1, 12, 3] R)
    => (float[seq, 1, batch, 3] Yout)
{
  [shape_0] s = Shape(X)
  [loop_0] Yout = Loop(trip, cond) <body = body (int64 i, bool c_in)
      => (bool c_out, float[seq, 1, batch, 3] Y) {
      [lstm_inner] Y = LSTM <hidden_size: int = 3> (X, W, R)
      [id_0] c_out = Identity(c_in)
  }>
}
"""


def _ctx(tmp_path: Path, model: onnx.ModelProto):
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    return analyse(load_model(path))


def test_node_ids_edges_and_symbols(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, onnx.parser.parse_model(LSTM_IN_LOOP))
    graph = ctx.graph
    assert set(graph.nodes) == {"main/0", "main/1", "main/loop_0.body/0", "main/loop_0.body/1"}
    inner = graph.nodes["main/loop_0.body/0"]
    assert (inner.name, inner.op_type, inner.graph, inner.parent) == (
        "lstm_inner", "LSTM", "main/loop_0.body", "main/1")
    # the subgraph node reads X from the outer scope: an edge from the graph input
    edge = graph.dag.edges["main:input:X", "main/loop_0.body/0"]
    assert edge == {"tensor": "X", "dtype": TensorProto.FLOAT, "shape": ("seq", "batch", 4)}
    assert graph.dag.has_edge("main/1", "main:output:Yout")
    # symbols are kept as written, not dropped
    assert graph.tensor("X").shape == ("seq", "batch", 4)
    [layer] = ctx.layers
    assert layer.node.id == "main/loop_0.body/0"
    assert layer.shape("Y") == ("seq", 1, "batch", 3)


def test_initializers_constants_and_value_info_resolve(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 9, 5)).astype(np.float32), "W")
    seq_lens = helper.make_node(
        "Constant", [], ["lens"], name="lens_const",
        value=numpy_helper.from_array(np.array([3, 2], dtype=np.int32)))
    gru = helper.make_node(
        "GRU", ["X", "W", "R", "", "lens"], ["Y", "Y_h"], name="gru_0", hidden_size=3,
        direction="bidirectional", linear_before_reset=1, activations=["Sigmoid", "Tanh"] * 2,
        clip=5.0)
    graph = helper.make_graph(
        [seq_lens, gru], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", 2, 5]),
         helper.make_tensor_value_info("R", TensorProto.FLOAT, [2, 9, 3])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
        initializer=[w],
        value_info=[helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["seq", 2, 2, 3])],
    )
    ctx = _ctx(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    [layer] = ctx.layers
    assert (layer.op_type, layer.direction, layer.num_directions, layer.hidden_size) == (
        "GRU", "bidirectional", 2, 3)
    assert (layer.layout, layer.clip, layer.linear_before_reset, layer.input_forget) == (
        0, 5.0, 1, None)
    assert layer.activations == ("Sigmoid", "Tanh", "Sigmoid", "Tanh")
    assert layer.attribute_types["hidden_size"] == "int"
    assert layer.shape("W") == (2, 9, 5) and layer.inputs["W"].is_constant
    assert layer.shape("R") == (2, 9, 3) and layer.inputs["R"].is_graph_input
    assert layer.inputs["sequence_lens"].value.tolist() == [3, 2]
    assert layer.shape("Y") == ("seq", 2, 2, 3)  # declared value_info
    assert layer.shape("Y_h") == (2, 2, 3)  # inferred by ONNX shape inference
    assert "B" not in layer.inputs and "initial_h" not in layer.inputs
    assert (layer.input_size, layer.implied_hidden_size, layer.batch_dim, layer.seq_dim) == (
        5, 3, 2, "seq")
    assert layer.expected_shape("B") == (2, 18)


def test_large_initializer_is_described_by_dims_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # files up to RAW_INFERENCE_BYTES go to inference as read; above it, on a skeleton
    monkeypatch.setattr(loader, "RAW_INFERENCE_BYTES", 1024)
    big = numpy_helper.from_array(np.zeros((1, 4 * 64, 64), dtype=np.float32), "R")
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=64)], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 8]),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 256, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=[big],
    )
    ctx = _ctx(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    # the skeleton used for inference carries no weight bytes
    assert not ctx.model.inferred.graph.initializer
    [layer] = ctx.layers
    assert layer.shape("R") == (1, 256, 64) and layer.inputs["R"].value is None
    assert layer.shape("Y") == (5, 1, 1, 64)
    assert layer.label == "<LSTM #0>"


READS_FROM = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[4] x, bool cond, int64 trips) => (float[4] c, float[4] d, float[4] loop_out) {
    a = Relu(x)
    b = Neg(a)
    c = Abs(b)
    d = Sigmoid(x)
    loop_out = Loop(trips, cond, d) <body = step (int64 i, bool keep, float[4] carried)
        => (bool keep_out, float[4] next) {
        keep_out = Identity(keep)
        next = Add(carried, b)
    }>
}
"""


def test_reads_from_follows_producers_into_subgraphs_and_remembers(tmp_path: Path) -> None:
    """The upstream walk gives what a downstream walk from the sources would: a body node
    reading an outer tensor reads it, the Loop node that does not take it as an input does
    not, and an unrelated branch does not."""
    path = tmp_path / "reads.onnx.txt"
    path.write_text(READS_FROM)
    graph = analyse(load_model(path)).graph
    relu = frozenset({"main/0"})
    assert [graph.node(n).op_type for n in ("main/0", "main/2", "main/3", "main/4")] == [
        "Relu", "Abs", "Sigmoid", "Loop"]
    body_add = next(n for n in graph.nodes if graph.node(n).op_type == "Add")
    assert graph.node(body_add).graph != "main"
    assert graph.reads_from("main/2", relu) is True  # Abs(Neg(Relu))
    assert graph.reads_from(body_add, relu) is True  # the body reads b from main
    assert graph.reads_from("main/3", relu) is False  # Sigmoid(x)
    assert graph.reads_from("main/4", relu) is False  # Loop(trips, cond, d)
    assert graph.reads_from("main/0", relu) is False  # a source does not read itself
    # answers of no are remembered for what the walk saw; asking again gives the same
    assert graph.reads_from("main/3", relu) is False and graph.reads_from("main/2", relu)


STORED = """
<ir_version: 8, opset_import: ["" : 17]>
stored (int64 trip, bool cond, float[seq, batch, 4] X, float[1, 12, 4] Wd)
    => (float[seq, batch, 4] Z)
<float[1, 12, 4] W = {ZEROS},
 float[1, 12, 4] Wd = {ZEROS},
 float[1] S = {1.0}>
{
  [relu_0] S = Relu(X)
  [loop_0] Z = Loop(trip, cond) <body = body (int64 i, bool c_in)
      => (bool c_out, float[seq, batch, 4] V) {
      [add_0] V = Add(X, B)
      [id_0] c_out = Identity(c_in)
  }>
}
""".replace("ZEROS", ",".join(["0"] * 48))


def test_stored_tensors_needs_no_inferred_type(tmp_path: Path) -> None:
    """The weights the views read first, while the inference child works: initializers no
    node produces (a graph input's default too), seen from a subgraph as from its own scope;
    never a produced name that shadows an initializer, a plain input or an unknown name. And
    no inferred type is read to find them."""
    path = tmp_path / "stored.onnx.txt"
    path.write_text(STORED)
    graph = build_graph(load_model(path))  # nothing looked up yet
    fresh = build_graph(load_model(path))

    def no_types() -> onnx.GraphProto:
        raise AssertionError("stored_tensors read an inferred type")

    graph._inferred = no_types
    graph._scopes["main"].declared = None  # as before the inference child answers
    found = graph.stored_tensors(["X", "W", "Wd", "S", "nothing", ""])
    assert [(info.name, info.graph, info.is_initializer, info.is_graph_input)
            for info in found] == [("W", "main", True, False), ("Wd", "main", True, True)]
    assert found[0].shape == (1, 12, 4)
    body = graph.subgraphs_of("main/1")[0]
    assert [info.graph for info in graph.stored_tensors(["W", "X"], body)] == ["main"]
    # what it found is what a lookup finds, the same view, as on a graph never asked so
    assert graph.tensor("W") is found[0]
    assert found[0] == fresh.tensor("W") and found[1] == fresh.tensor("Wd")
