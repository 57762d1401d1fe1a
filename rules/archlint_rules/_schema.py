"""The operator schemas of LSTM, GRU and RNN as onnx.defs states them, for the model's opset.

Type constraints and input/output counts are read from onnx's own schema table, not restated
here: a later opset (22 adds bfloat16 to T) is then right without a change to the rules.

onnx fills that table on first use, every op of every opset (about 17 ms, a twentieth of a
small model's whole lint), so what the rules read of it is also kept in _schema_table.py,
written by scripts/gen_schema_table.py from one onnx release and used only under that very
release; under any other, the table is read as before. tests/test_schema_table.py holds the
two to the same answers for every opset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from archlint.onnx_protos import TensorProto, onnx_version
from archlint_rules import _schema_table

__all__ = ["RecurrentSchema", "allowed_dtypes", "recurrent_schema", "slots_of_type"]


@dataclass(frozen=True)
class RecurrentSchema:
    """What the rules read of one version of an op's schema (onnx.defs.OpSchema's names)."""

    op_type: str
    since_version: int
    min_input: int
    max_input: int
    max_output: int
    inputs: tuple[tuple[str, str], ...]  # (name, type parameter), in order
    allowed: tuple[tuple[str, frozenset[int]], ...]  # type parameter -> TensorProto types


@lru_cache(maxsize=32)
def recurrent_schema(op_type: str, opset: int | None) -> RecurrentSchema:
    """The schema in force at ``opset`` (the newest one when the opset is unknown)."""
    versions = _schema_table.SCHEMAS.get(op_type)
    if onnx_version() != _schema_table.ONNX_VERSION or versions is None:
        return from_onnx(op_type, opset)
    older = [v for v in versions if opset is not None and 1 <= v <= opset]
    since = max(older) if older else max(versions)  # as get_schema: see from_onnx
    min_input, max_input, max_output, inputs, allowed = versions[since]
    return RecurrentSchema(op_type, since, min_input, max_input, max_output, inputs,
                           tuple((param, frozenset(types)) for param, types in allowed))


def from_onnx(op_type: str, opset: int | None) -> RecurrentSchema:
    """The schema as onnx.defs gives it (what _schema_table.py records)."""
    from onnx import defs

    if opset is None or opset < 1:
        schema = defs.get_schema(op_type)
    else:
        try:
            schema = defs.get_schema(op_type, opset)
        except defs.SchemaError:  # an opset older than the op itself: the newest schema
            schema = defs.get_schema(op_type)
    return RecurrentSchema(
        op_type=op_type, since_version=schema.since_version, min_input=schema.min_input,
        max_input=schema.max_input, max_output=schema.max_output,
        inputs=tuple((i.name, i.type_str) for i in schema.inputs),
        allowed=tuple((c.type_param_str, _tensor_types(c.allowed_type_strs))
                      for c in schema.type_constraints),
    )


def _tensor_types(texts: Sequence[str]) -> frozenset[int]:
    """TensorProto element types of ``tensor(float)``-style type strings."""
    return frozenset(TensorProto.DataType.Value(text[len("tensor("):-1].upper())
                     for text in texts if text.startswith("tensor(") and text.endswith(")"))


def slots_of_type(schema: RecurrentSchema, type_param: str) -> tuple[str, ...]:
    """The inputs the schema binds to one type parameter (``T``: X, W, R, B, states, P)."""
    return tuple(name for name, param in schema.inputs if param == type_param)


def allowed_dtypes(schema: RecurrentSchema, type_param: str) -> frozenset[int]:
    """TensorProto element types a type parameter allows (``tensor(float)`` -> FLOAT)."""
    return next((types for param, types in schema.allowed if param == type_param), frozenset())
