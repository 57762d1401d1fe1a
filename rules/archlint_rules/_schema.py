"""The operator schemas of LSTM, GRU and RNN as onnx.defs states them, for the model's opset.

Type constraints and input/output counts are read from onnx's own schema table, not restated
here: a later opset (22 adds bfloat16 to T) is then right without a change to the rules.
"""

from __future__ import annotations

from functools import lru_cache

import onnx
from onnx import TensorProto


@lru_cache(maxsize=32)
def recurrent_schema(op_type: str, opset: int | None) -> onnx.defs.OpSchema:
    """The schema in force at ``opset`` (the newest one when the opset is unknown)."""
    if opset is None or opset < 1:
        return onnx.defs.get_schema(op_type)
    try:
        return onnx.defs.get_schema(op_type, opset)
    except onnx.defs.SchemaError:  # an opset older than the op itself: the newest schema
        return onnx.defs.get_schema(op_type)


@lru_cache(maxsize=64)
def slots_of_type(schema: onnx.defs.OpSchema, type_param: str) -> tuple[str, ...]:
    """The inputs the schema binds to one type parameter (``T``: X, W, R, B, states, P)."""
    return tuple(i.name for i in schema.inputs if i.type_str == type_param)


@lru_cache(maxsize=64)
def allowed_dtypes(schema: onnx.defs.OpSchema, type_param: str) -> frozenset[int]:
    """TensorProto element types a type parameter allows (``tensor(float)`` -> FLOAT)."""
    found: set[int] = set()
    for constraint in schema.type_constraints:
        if constraint.type_param_str != type_param:
            continue
        for text in constraint.allowed_type_strs:
            if text.startswith("tensor(") and text.endswith(")"):
                found.add(TensorProto.DataType.Value(text[len("tensor("):-1].upper()))
    return frozenset(found)
