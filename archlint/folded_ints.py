"""Small integer vectors a graph computes from constants alone, folded as onnxruntime would
fold them at load time. torch's classic exporter writes the shape of ``expand(1, B, H)``,
``B`` a Python int, as ``Where(Equal(C, Mul(ConstantOfShape(n), -1)), ConstantOfShape(n),
C)`` (the -1 of ``expand`` replaced by 1) rather than the constant ``[1, B, H]``: a rule
that reads a shape needs its value.

Only ops whose result the folder computes exactly, on at most :data:`MAX_ELEMENTS` elements
and :data:`MAX_DEPTH` ops deep; anything else is "not known" (None), never a guess."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archlint.graph import ModelGraph, NodeInfo, TensorInfo
from archlint.onnx_protos import AttributeProto

if TYPE_CHECKING:
    import numpy as np

__all__ = ["folded_ints"]

MAX_ELEMENTS = 64
MAX_DEPTH = 8

_BINARY = frozenset({"Add", "Sub", "Mul", "Equal", "Greater", "Less", "Max", "Min"})
_UNARY = frozenset({"Identity", "Neg", "Abs", "Not"})
_FOLDED = _BINARY | _UNARY | {"Where", "Cast", "Concat", "ConstantOfShape"}


def folded_ints(graph: ModelGraph, name: str, scope: str = "main") -> tuple[int, ...] | None:
    """The integer values (flattened) ``name`` holds when it is a stored constant or computed
    from stored constants alone by the ops this module folds; else None. numpy is imported
    only once the walk has found nothing but constants and those ops."""
    if not _from_constants(graph, name, scope, 0):
        return None
    value = _fold(graph, name, scope, 0)
    if value is None or value.dtype.kind not in "iu":
        return None
    return tuple(int(v) for v in value.reshape(-1))


def _origin(graph: ModelGraph, name: str, scope: str, depth: int) -> TensorInfo | NodeInfo | None:
    """The stored constant ``name`` is, or the node of an op this module folds that makes it;
    None for anything else (a graph input, another op, a walk too deep)."""
    if not name or depth > MAX_DEPTH:
        return None
    info = graph.tensor(name, scope)
    if info is None or info.is_constant:
        return info
    node = graph.producer(name, scope)
    if node is None or node.op_type not in _FOLDED or node.domain not in ("", "ai.onnx"):
        return None
    return node


def _from_constants(graph: ModelGraph, name: str, scope: str, depth: int) -> bool:
    origin = _origin(graph, name, scope, depth)
    if isinstance(origin, NodeInfo):
        return all(_from_constants(graph, part, origin.graph, depth + 1)
                   for part in origin.inputs)
    return origin is not None


def _fold(graph: ModelGraph, name: str, scope: str, depth: int) -> np.ndarray[Any, Any] | None:
    origin = _origin(graph, name, scope, depth)
    if origin is None:
        return None
    if isinstance(origin, TensorInfo):
        value = origin.value
        return value if value is not None and value.size <= MAX_ELEMENTS else None
    try:
        found = _node(graph, origin, depth + 1)
    except (ValueError, TypeError, IndexError):  # shapes the op refuses: not folded
        return None
    return found if found is not None and found.size <= MAX_ELEMENTS else None


def _node(graph: ModelGraph, node: NodeInfo, depth: int) -> np.ndarray[Any, Any] | None:
    import numpy as np

    op = node.op_type
    if op == "ConstantOfShape":
        shape = _fold(graph, node.inputs[0], node.graph, depth) if node.inputs else None
        if shape is None or shape.size > 8 or (shape < 0).any() \
                or int(np.prod(shape)) > MAX_ELEMENTS:
            return None
        fill = fill_value(node)
        return np.full(tuple(int(d) for d in shape), fill[0] if fill is not None else 0.0,
                       dtype=fill.dtype if fill is not None else np.float32)
    operands = [_fold(graph, name, node.graph, depth) for name in node.inputs]
    if any(value is None for value in operands):
        return None
    values: list[np.ndarray[Any, Any]] = operands  # type: ignore[assignment]
    if op in _BINARY and len(values) == 2:
        return np.asarray(_binary(op, values[0], values[1]))
    if op in _UNARY and len(values) == 1:
        unary: dict[str, Any] = {"Identity": np.asarray, "Neg": np.negative, "Abs": np.abs,
                                 "Not": np.logical_not}
        return np.asarray(unary[op](values[0]))
    if op == "Where" and len(values) == 3:
        return np.where(values[0].astype(bool), values[1], values[2])
    if op == "Cast" and len(values) == 1:
        return _cast(node, values[0])
    if op == "Concat" and values:
        axis = _int_attribute(node, "axis")
        return None if axis is None else np.concatenate(values, axis=axis)
    return None


def _binary(op: str, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> Any:
    import numpy as np

    binary: dict[str, Any] = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                              "Equal": np.equal, "Greater": np.greater, "Less": np.less,
                              "Max": np.maximum, "Min": np.minimum}
    return binary[op](a, b)


def _cast(node: NodeInfo, value: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    from onnx import helper

    to = _int_attribute(node, "to")
    try:
        dtype = helper.tensor_dtype_to_np_dtype(to) if to is not None else None
    except (KeyError, ValueError):
        return None
    return None if dtype is None else value.astype(dtype)


def _int_attribute(node: NodeInfo, name: str) -> int | None:
    for attr in node.proto.attribute:
        if attr.name == name and attr.type == AttributeProto.INT:
            return int(attr.i)
    return None


def fill_value(node: NodeInfo) -> np.ndarray[Any, Any] | None:
    """A ConstantOfShape's ``value`` attribute, flat (None when absent: the fill is 0.0)."""
    from archlint.tensor_values import to_array

    for attr in node.proto.attribute:
        if attr.name == "value" and attr.type == AttributeProto.TENSOR:
            return to_array(attr.t).reshape(-1)
    return None
