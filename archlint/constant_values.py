"""The value of a small constant a graph.TensorInfo stands for: an initializer held inline, or a
Constant node's value, decoded only when a rule asks (``TensorInfo.value``, ``int_value``).
Integers are read without numpy where the tensor allows (archlint/tensor_values.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archlint.loader import is_small_inline
from archlint.onnx_protos import AttributeProto, NodeProto, TensorProto
from archlint.tensor_values import plain_ints, to_array

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ASK_NUMPY", "constant_ints", "constant_value", "small_ints", "small_value"]


def small_value(tensor: TensorProto) -> np.ndarray[Any, Any] | None:
    if not is_small_inline(tensor):
        return None
    try:
        return to_array(tensor)
    except Exception:  # malformed tensor data: treat the value as unknown
        return None


# what small_ints and constant_ints return when only numpy can tell (TensorInfo.int_value)
ASK_NUMPY = object()


def small_ints(tensor: TensorProto) -> object:
    """small_value's integers without numpy: (values, shape), None (no integer value), or
    ASK_NUMPY."""
    if not is_small_inline(tensor):
        return None
    try:
        values = plain_ints(tensor)
    except Exception:  # malformed tensor data: to_array fails too, the value is unknown
        return None
    return ASK_NUMPY if values is None else (values, tuple(tensor.dims))


def constant_ints(node: NodeProto) -> object:
    """constant_value's integers without numpy, as small_ints."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    for attr in node.attribute:
        if attr.name == "value" and attr.type == AttributeProto.TENSOR:
            return small_ints(attr.t)
        if attr.name == "value_ints":
            values = tuple(attr.ints)
            return values, (len(values),)
        if attr.name == "value_int":
            return (attr.i,), ()
        if attr.name in ("value_floats", "value_float"):
            return None
    return None


def constant_value(node: NodeProto) -> np.ndarray[Any, Any] | None:
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    import numpy as np

    for attr in node.attribute:
        try:
            if attr.name == "value" and attr.type == AttributeProto.TENSOR:
                return small_value(attr.t)
            if attr.name == "value_ints":
                return np.array(list(attr.ints), dtype=np.int64)
            if attr.name == "value_int":
                return np.array(attr.i, dtype=np.int64)
            if attr.name == "value_floats":
                return np.array(list(attr.floats), dtype=np.float32)
            if attr.name == "value_float":
                return np.array(attr.f, dtype=np.float32)
        except Exception:  # malformed attribute: value unknown
            return None
    return None
