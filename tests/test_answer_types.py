"""The inference child's answer read for its declared types alone (archlint/answer_types.py).

graph.py reads every inferred type through TYPES_SCHEMA, and the whole inferred model is
parsed only when something asks for it. These tests hold the schema to onnx's field numbers
and the types read through it to the types the whole model gives, on every committed model
and on onnx's own backend cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from google.protobuf import descriptor_pb2

from archlint.answer_types import TYPES_SCHEMA, model_class
from archlint.graph import ModelGraph, build_graph
from archlint.loader import load_model, load_proto

from .conftest import FIXTURES


def test_the_schema_is_the_part_of_onnx_it_names() -> None:
    """TYPES_SCHEMA, written out as bytes, is this FileDescriptorProto, and every field it
    declares has onnx's number, name and kind (a type is read as its bytes)."""
    field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(
        name="archlint_answer_types.proto", package="archlint_answer_types", syntax="proto2")

    def message(name: str, *fields: tuple[str, int, int, int, str | None]) -> None:
        declared = schema.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = declared.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = f".archlint_answer_types.{type_name}"

    repeated, optional, sub = field.LABEL_REPEATED, field.LABEL_OPTIONAL, field.TYPE_MESSAGE
    message("Model", ("graph", 7, sub, optional, "Graph"))
    message("Graph", ("node", 1, sub, repeated, "Node"), ("input", 11, sub, repeated, "Value"),
            ("output", 12, sub, repeated, "Value"), ("value_info", 13, sub, repeated, "Value"))
    message("Value", ("name", 1, field.TYPE_STRING, optional, None),
            ("type", 2, field.TYPE_BYTES, optional, None))
    message("Node", ("attribute", 5, sub, repeated, "Attribute"))
    message("Attribute", ("name", 1, field.TYPE_STRING, optional, None),
            ("g", 6, sub, optional, "Graph"), ("graphs", 11, sub, repeated, "Graph"),
            ("type", 20, field.TYPE_ENUM, optional, "AttributeType"))
    enum = schema.enum_type.add(name="AttributeType")
    for name, number in sorted(onnx.AttributeProto.AttributeType.items(), key=lambda v: v[1]):
        enum.value.add(name=name, number=number)
    assert descriptor_pb2.FileDescriptorProto.FromString(TYPES_SCHEMA) == schema

    onnx_messages = {"Model": onnx.ModelProto, "Graph": onnx.GraphProto,
                     "Value": onnx.ValueInfoProto, "Node": onnx.NodeProto,
                     "Attribute": onnx.AttributeProto}
    for declared in schema.message_type:
        theirs = onnx_messages[declared.name].DESCRIPTOR
        for mine in declared.field:
            onnx_field = theirs.fields_by_name[mine.name]
            assert onnx_field.number == mine.number, (declared.name, mine.name)
            repeated = onnx_field.is_repeated if hasattr(onnx_field, "is_repeated") \
                else onnx_field.label == field.LABEL_REPEATED
            assert repeated == (mine.label == field.LABEL_REPEATED), (declared.name, mine.name)
            if mine.type == field.TYPE_BYTES:  # a TypeProto: the same bytes on the wire
                assert onnx_field.type == field.TYPE_MESSAGE
            else:
                assert onnx_field.type == mine.type, (declared.name, mine.name)


@pytest.mark.parametrize("fast", [True, False], ids=["upb", "message_factory"])
def test_both_ways_of_making_the_class_read_the_same(fast: bool) -> None:
    model = onnx.parser.parse_model("""<ir_version: 8, opset_import: ["" : 17]>
    g (float[N, 4] x, bool c) => (float[N, 4] y) {
      a = Relu (x)
      y = If (c) <then_branch = t () => (float[N, 4] ty) { ty = Relu (a) },
                  else_branch = e () => (float[N, 4] ey) { ey = Relu (a) }>
    }""")
    inferred = onnx.shape_inference.infer_shapes(model)
    read = model_class(fast=fast).FromString(inferred.SerializeToString())
    assert [(v.name, onnx.TypeProto.FromString(v.type)) for v in read.graph.value_info] == [
        (v.name, v.type) for v in inferred.graph.value_info]
    branch = read.graph.node[1].attribute[0]
    assert (branch.name, branch.type) == ("then_branch", onnx.AttributeProto.GRAPH)
    assert [v.name for v in branch.g.output] == ["ty"]


def _every_type(graph: ModelGraph) -> dict[tuple[str, str], tuple[object, object]]:
    return {(path, name): (info.dtype, info.shape)
            for path in graph.graphs() for name, info in graph.tensors(path).items()}


def _with_whole_answer(model: object) -> ModelGraph:
    graph = build_graph(model)  # type: ignore[arg-type]
    graph._inferred = lambda: model.inferred.graph  # type: ignore[attr-defined]
    return graph


def _committed_models() -> list[Path]:
    found = sorted(p for p in FIXTURES.rglob("*.onnx") if p.stat().st_size > 0)
    return found + sorted(FIXTURES.rglob("*.onnx.txt"))


def test_every_committed_model_has_the_types_its_whole_answer_gives() -> None:
    """Every type of every scope (subgraphs and function bodies too), read through the
    schema, equals the type read from the whole inferred model; so do the loader's errors."""
    models = _committed_models()
    assert len(models) > 400
    compared = 0
    for path in models:
        model = load_model(path)
        if model.shapes.outcome() is None or model.shapes.outcome().types is None:  # type: ignore[union-attr]
            continue  # nothing inferred: both read the model's own graph
        read = _every_type(build_graph(model))
        assert read == _every_type(_with_whole_answer(model)), path
        compared += 1
    assert compared > 400


def test_onnx_backend_cases_have_the_types_their_whole_answer_gives(backend_cases: list) -> None:
    compared = 0
    for case in backend_cases:
        if case.model is None:
            continue
        model = load_proto(case.model, f"{case.name}.onnx")
        read = _every_type(build_graph(model))
        assert read == _every_type(_with_whole_answer(model)), case.name
        compared += 1
    assert compared > 1000


def test_the_whole_model_is_parsed_only_when_asked_for(tmp_path: Path) -> None:
    """A lint reads the answer's types; ``LoadedModel.inferred`` parses the whole model then,
    once, with its value_info; the errors need neither."""
    path = FIXTURES / "exported" / "lstm_4_2.onnx"
    model = load_model(path)
    graph = build_graph(model)
    lstm = next(graph.iter_nodes(frozenset({"LSTM"})))
    y = graph.tensor(lstm.outputs[0])
    assert y is not None and y.shape is not None
    outcome = model.shapes.outcome()
    assert outcome is not None and "inferred" not in vars(outcome)
    assert model.inference_error is None and "inferred" not in vars(outcome)
    inferred = model.inferred
    assert vars(outcome)["inferred"] is inferred and model.inferred is inferred
    assert lstm.outputs[0] in {v.name for v in inferred.graph.value_info}


def _lstm_if(type_again: bool) -> bytes:
    """An If whose branches each run an LSTM on Identity(X) (X's 4 features against W's 3:
    AL102 where the branch's inferred types are read). ``type_again``: each branch attribute
    carries its type a second time, an unknown AttributeType value, which onnx's schema
    keeps aside (and protobuf's C++ writes back after the known fields)."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((1, 12, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 12, 3), np.float32), "R")

    def branch(tag: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Identity", ["X"], [f"Xi{tag}"]),
             helper.make_node("LSTM", [f"Xi{tag}", "W", "R"], [f"Y{tag}"], hidden_size=3,
                              name=f"lstm{tag}")],
            f"b{tag}", [], [helper.make_tensor_value_info(f"Y{tag}", TensorProto.FLOAT, None)])

    node = helper.make_node("If", ["C"], ["Y"], then_branch=branch("t"),
                            else_branch=branch("e"), name="if")
    if type_again:
        for attribute in node.attribute:
            attribute.ParseFromString(attribute.SerializeToString() + b"\xa0\x01\x63")
            assert attribute.type == onnx.AttributeProto.GRAPH
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 4]),
                      helper.make_tensor_value_info("C", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w, r])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def _codes(path: Path) -> list[tuple[str, str]]:
    from archlint.engine import Linter
    from archlint.registry import load_rules

    report = Linter(load_rules().rules).lint_file(path)
    assert report.error is None, report.error
    return sorted((f.code, f.location.node or "") for f in report.findings)


@pytest.mark.parametrize("type_again", [False, True], ids=["plain", "type-again"])
def test_a_subgraphs_types_are_read_as_onnx_reads_them(tmp_path: Path, type_again: bool) -> None:
    """A model with subgraphs is read with onnx's whole schema (the review of ce24f07 found an
    attribute's type given twice read as the unknown value, and the branch's types lost)."""
    path = tmp_path / "if_lstm.onnx"
    path.write_bytes(_lstm_if(type_again))
    model = load_model(path)
    assert model.shapes.outcome() is not None and model.shapes.outcome().types is None  # type: ignore[union-attr]
    assert _codes(path) == [("AL102", "lstme"), ("AL102", "lstmt")]


def test_a_model_sent_back_as_it_came_is_read_as_onnx_reads_it(tmp_path: Path) -> None:
    """Every pass failed (a recursive local function), so the answer is the file itself, where
    sequence_lens's type is written in two parts that protobuf merges: its dtype and shape both
    stand (AL105 reads them), as with onnx's whole schema."""
    from google.protobuf.internal import encoder
    from onnx import TensorProto, helper, numpy_helper

    def field(number: int, payload: bytes) -> bytes:
        return encoder._VarintBytes((number << 3) | 2) + encoder._VarintBytes(len(payload)) \
            + payload

    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    recursive = helper.make_function("local", "F", ["a"], ["b"],
                                     [helper.make_node("F", ["a"], ["b"], domain="local")], opsets)
    lstm = helper.make_node("LSTM", ["X", "W", "R", "", "SL"], ["Y"], hidden_size=3, name="lstm")
    graph = helper.make_graph(
        [lstm], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 2, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((1, 12, 4), np.float32), "W"),
         numpy_helper.from_array(np.zeros((1, 12, 3), np.float32), "R")])
    raw = helper.make_model(graph, opset_imports=opsets, functions=[recursive]).SerializeToString()
    dtype, shape = onnx.TypeProto(), onnx.TypeProto()
    dtype.tensor_type.elem_type = TensorProto.INT64
    shape.tensor_type.shape.dim.add().dim_value = 2
    sequence_lens = field(1, b"SL") + field(2, dtype.SerializeToString()) \
        + field(2, shape.SerializeToString())
    path = tmp_path / "split_type.onnx"
    path.write_bytes(raw + field(7, field(11, sequence_lens)))
    model = load_model(path)
    assert model.inference_error is not None
    sl = build_graph(model).tensor("SL")
    assert sl is not None and (sl.dtype, sl.shape) == (TensorProto.INT64, (2,))
    assert ("AL105", "lstm") in _codes(path)


def test_a_deep_model_whose_answer_protobuf_cannot_read_is_reported(tmp_path: Path) -> None:
    """32 nested Ifs: the inferred answer nests past protobuf's depth limit, which the model
    itself does not. As before the types-only schema, AL001 says the result was unreadable
    (and the model's types are its own)."""
    from onnx import TensorProto, helper

    def output(name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)

    inner = helper.make_graph([helper.make_node("Identity", ["x"], ["z"]),
                               helper.make_node("Identity", ["z"], ["o0"])], "g0", [],
                              [output("o0")])
    for level in range(1, 33):  # the then-branch nests; the else-branch is one node
        other = helper.make_graph([helper.make_node("Identity", ["x"], [f"e{level}"])],
                                  f"e{level}", [], [output(f"e{level}")])
        node = helper.make_node("If", ["c"], [f"o{level}"], then_branch=inner,
                                else_branch=other)
        inner = helper.make_graph([node], f"g{level}", [], [output(f"o{level}")])
    graph = helper.make_graph(
        list(inner.node), "main",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])], list(inner.output))
    path = tmp_path / "deep.onnx"
    path.write_bytes(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    model = load_model(path)
    assert model.inference_error is not None and "unreadable" in model.inference_error
    assert [code for code, _ in _codes(path)].count("AL001") == 1
