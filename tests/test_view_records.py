"""The views' records built on the fast paths are the records the constructors build.

archlint/graph.py and archlint/recurrent.py write TensorInfo and TensorRef fields straight into
the instance (a frozen dataclass's ``__init__`` costs one ``object.__setattr__`` per field), read
declared types once per distinct TypeProto and read a recurrent op's scalar attributes without
onnx.helper. These tests hold them to what the plain code gives.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from archlint.declared_types import tensor_type
from archlint.graph import ModelGraph, TensorInfo, build_graph
from archlint.loader import load_model
from archlint.recurrent import (
    RecurrentLayer,
    TensorRef,
    _as_float,
    _as_float_tuple,
    _as_int,
    _as_str,
    _as_str_tuple,
    _attribute_value,
    build_layer,
)


def _model(attributes: list[AttributeProto]) -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...]) -> TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    lens = helper.make_node("Constant", [], ["lens"], name="lens",
                            value=numpy_helper.from_array(np.array([3], dtype=np.int32)))
    lstm = helper.make_node("LSTM", ["X", "W", "R", "B", "lens"], ["Y", "", "Y_c"], name="lstm")
    lstm.attribute.extend(attributes)
    graph = helper.make_graph(
        [lens, lstm], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", 1, 4]),
         helper.make_tensor_value_info("R", TensorProto.FLOAT, [1, 12, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["seq", 1, 1, 3])],
        initializer=[init("W", (1, 12, 4)), init("R", (1, 12, 3)), init("B", (1, 24))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _graph(tmp_path: Path, model: onnx.ModelProto) -> ModelGraph:
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    return build_graph(load_model(path))


def _assert_as_init_builds(record: Any) -> None:
    """Every field, in declaration order and nothing else, equal to the constructor's; and no
    ``__post_init__`` that writing the fields directly would skip."""
    assert not hasattr(type(record), "__post_init__")
    names = [f.name for f in dataclasses.fields(record)]
    assert list(vars(record)) == names
    rebuilt = type(record)(**{name: getattr(record, name) for name in names})
    assert vars(rebuilt) == vars(record)


def test_tensor_infos_and_refs_have_every_field(tmp_path: Path) -> None:
    graph = _graph(tmp_path, _model([helper.make_attribute("hidden_size", 3)]))
    infos = graph.tensors()
    # an initializer, an overridable one, a graph input, a Constant's output, node outputs
    assert set(infos) == {"X", "R", "W", "B", "lens", "Y", "Y_c"}
    for info in infos.values():
        assert isinstance(info, TensorInfo)
        _assert_as_init_builds(info)
    assert infos["R"].is_graph_input and infos["R"].is_initializer
    nodes = [graph.node(node_id) for node_id in graph.nodes]
    assert [node.op_type for node in nodes] == ["Constant", "LSTM"]
    for node in nodes:
        _assert_as_init_builds(node)
    assert infos["lens"].constant_source is not None and infos["lens"].shape == (1,)
    layer = build_layer(graph, graph.node("main/1"))
    _assert_as_init_builds(layer)
    assert set(layer.inputs) == {"X", "W", "R", "B", "sequence_lens"}
    for ref in (*layer.inputs.values(), *layer.outputs.values()):
        assert isinstance(ref, TensorRef)
        _assert_as_init_builds(ref)
        assert ref.info is infos[ref.name]


def _outcome(read: Any, attr: AttributeProto) -> tuple[str, Any]:
    try:
        return ("value", read(attr))
    except Exception as error:  # the kind of failure is what is compared
        return ("raises", type(error))


def _unknown_type(name: str) -> AttributeProto:
    """An attribute whose type field says 99, as parsed from a file (an unknown enum value)."""
    return AttributeProto.FromString(AttributeProto(name=name).SerializeToString() + b"\xa0\x01c")


ATTRIBUTES = [
    helper.make_attribute("a", 3),
    helper.make_attribute("a", True),
    helper.make_attribute("a", 0.25),
    helper.make_attribute("a", "forward"),
    helper.make_attribute("a", b"\xff\xfe"),
    helper.make_attribute("a", [1, 2]),
    helper.make_attribute("a", [0.5, 1.5]),
    helper.make_attribute("a", ["Tanh", "Relu"]),
    helper.make_attribute("a", numpy_helper.from_array(np.zeros(2, np.float32))),
    helper.make_attribute("a", helper.make_graph([], "empty", [], [])),
    AttributeProto(name="a", type=AttributeProto.INT),  # a type with no value set
    AttributeProto(name="a", type=AttributeProto.UNDEFINED),
    _unknown_type("a"),
    AttributeProto(name="a", type=AttributeProto.FLOAT, i=2),  # the value in the wrong field
]


@pytest.mark.parametrize("attr", ATTRIBUTES, ids=lambda a: f"{a.type}")
def test_attribute_values_are_onnx_helpers(attr: AttributeProto) -> None:
    assert _outcome(lambda a: _attribute_value(a, a.type), attr) \
        == _outcome(helper.get_attribute_value, attr)


def _reference_fields(layer_attributes: list[AttributeProto]) -> dict[str, Any]:
    """The attribute fields as build_layer read them with onnx.helper for every attribute."""
    attrs: dict[str, Any] = {}
    for attr in layer_attributes:
        if attr.ref_attr_name:
            continue
        try:
            attrs[attr.name] = helper.get_attribute_value(attr)
        except Exception:  # malformed: absent, as in build_layer
            continue
    return {
        "direction": _as_str(attrs.get("direction"), "forward"),
        "hidden_size": _as_int(attrs.get("hidden_size")),
        "layout": _as_int(attrs.get("layout")) or 0,
        "activations": _as_str_tuple(attrs.get("activations")),
        "activation_alpha": _as_float_tuple(attrs.get("activation_alpha")),
        "activation_beta": _as_float_tuple(attrs.get("activation_beta")),
        "clip": _as_float(attrs.get("clip")),
        "input_forget": _as_int(attrs.get("input_forget")),
        "linear_before_reset": _as_int(attrs.get("linear_before_reset")),
    }


def _typed(value: Any) -> Any:
    """A value with the type of every element, so 1 and 1.0 or True differ."""
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return (type(value), value)


@pytest.mark.parametrize("attributes", [
    [helper.make_attribute("hidden_size", 3), helper.make_attribute("direction", "reverse"),
     helper.make_attribute("activations", ["Sigmoid", "Tanh", "Relu"]),
     helper.make_attribute("activation_alpha", [0.5]), helper.make_attribute("clip", 2),
     helper.make_attribute("layout", 0), helper.make_attribute("input_forget", 1)],
    # wrong types: each is read as the plain code reads it
    [helper.make_attribute("hidden_size", 3.0), helper.make_attribute("direction", 1),
     helper.make_attribute("activations", [1, 2]), helper.make_attribute("clip", "x"),
     helper.make_attribute("activation_beta", ["a", "b"]),
     helper.make_attribute("linear_before_reset", [1]),
     helper.make_attribute("layout", numpy_helper.from_array(np.ones(1, np.int64)))],
    # duplicates: a later good one wins, a later malformed or reference one does not
    [helper.make_attribute("hidden_size", 3), helper.make_attribute("hidden_size", 5),
     helper.make_attribute("clip", 1.0), _unknown_type("clip"),
     helper.make_attribute("direction", "reverse"),
     AttributeProto(name="direction", type=AttributeProto.STRING, ref_attr_name="dir"),
     helper.make_attribute("layout", 1), AttributeProto(name="layout", type=0),
     helper.make_attribute("other", "not read"), _unknown_type("x")],
], ids=["plain", "wrong-types", "duplicates"])
def test_layer_attributes_as_onnx_helper_reads_them(
    tmp_path: Path, attributes: list[AttributeProto]
) -> None:
    graph = _graph(tmp_path, _model(attributes))
    layer = build_layer(graph, graph.node("main/1"))
    expected = _reference_fields(attributes)
    assert {name: _typed(getattr(layer, name)) for name in expected} \
        == {name: _typed(value) for name, value in expected.items()}
    assert dict(layer.attribute_types) == {
        a.name: AttributeProto.AttributeType.Name(a.type).lower()
        if a.type in AttributeProto.AttributeType.values() else "undefined"
        for a in attributes}
    assert isinstance(layer, RecurrentLayer)
    _assert_as_init_builds(layer)


def test_declared_dims_decode_as_written(tmp_path: Path) -> None:
    info = helper.make_tensor_value_info("v", TensorProto.FLOAT, ["seq", 4, None, ""])
    info.type.tensor_type.shape.dim[2].Clear()  # neither a value nor a symbol
    dtype, shape = tensor_type(info.type)
    assert (dtype, shape) == (TensorProto.FLOAT, ("seq", 4, None, None))
    assert [type(d) for d in shape or ()] == [str, int, type(None), type(None)]
    # tensors of one type share its decoding, another type is decoded anew (an op of a custom
    # domain: inference leaves the declared types as they are)
    node = helper.make_node("Op", ["a"], ["b", "c", "d"], domain="custom")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("d", TensorProto.INT64, None)],
        value_info=[helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3]),
                    helper.make_tensor_value_info("c", TensorProto.FLOAT, ["n", 4])])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    built = _graph(tmp_path, model)
    found = {name: built.tensor(name) for name in "abcd"}
    assert {name: (info.dtype, info.shape) for name, info in found.items() if info} == {
        "a": (TensorProto.FLOAT, ("n", 3)), "b": (TensorProto.FLOAT, ("n", 3)),
        "c": (TensorProto.FLOAT, ("n", 4)), "d": (TensorProto.INT64, None)}
