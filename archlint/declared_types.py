"""Declared tensor types by name, one table per graph: what a graph's inputs, value_info and
outputs say, read from the inferred model (archlint/graph.py asks for one when a tensor's type
is first needed).

A big graph's 100k value_info entries are not all read: onnx's inference writes one entry per
typed node output, and the table keeps their positions, decoding an entry's type only when
asked for, each distinct TypeProto once (its bytes are the key).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archlint.loader import as_text
from archlint.onnx_protos import GraphProto, TypeProto, ValueInfoProto
from archlint.shapes import Dim, Shape

__all__ = ["DeclaredTypes", "declared_types", "merged_declaration", "tensor_type", "type_of"]


def declared_types(graph: GraphProto) -> DeclaredTypes:
    """Declared types by name (inputs, value_info, outputs), decoded only when asked for.

    The first declaration wins unless it has no shape and a later one does.
    """
    declared = DeclaredTypes(graph.value_info)
    declared.declare(graph.input)
    names = [vi.name for vi in graph.value_info]
    positions = {name: k for k, name in enumerate(names)}
    if len(positions) == len(names) and declared.declares_none_of(positions):
        declared.positions = positions  # inference's own, one per tensor: read when asked
    else:
        declared.declare(graph.value_info)
    declared.declare(graph.output)
    return declared


class DeclaredTypes:
    """Declared types by name: a table of the entries declared one by one, and the positions
    of value_info entries looked up only when asked for (a big graph's 100k entries are not
    all read)."""

    def __init__(self, value_info: Any) -> None:
        self._table: dict[str, ValueInfoProto] = {}
        self._value_info = value_info
        self.positions: dict[str, int] = {}
        # a TypeProto's bytes -> its (dtype, shape): tensors of one type are decoded once (the
        # bytes are the type, so equal bytes decode to equal values; a dim costs ~1 us to read)
        self._decoded: dict[bytes, tuple[int | None, Shape | None]] = {}

    def get(self, name: str) -> ValueInfoProto | None:
        found = self._table.get(name)
        if found is not None:
            return found
        position = self.positions.get(name)
        return None if position is None else self._value_info[position]

    def type_of(self, name: str) -> tuple[int | None, Shape | None]:
        """(dtype, shape) as declared for ``name``; (None, None) when it is not declared."""
        value_info = self.get(name)
        if value_info is None:
            return None, None
        type_proto = value_info.type  # its bytes in an answer read by archlint/answer_types.py
        key = type_proto if isinstance(type_proto, bytes) else type_proto.SerializeToString()
        found = self._decoded.get(key)
        if found is None:
            found = self._decoded[key] = tensor_type(
                _type_proto(key) if isinstance(type_proto, bytes) else type_proto)
        return found

    def declare(self, entries: Iterable[ValueInfoProto]) -> None:
        """Add entries: each takes its name unless one is there with a shape it lacks; a
        second declaration of a name fills in the axes the first leaves unknown (below)."""
        for entry in entries:
            vi = _as_value_info(entry)
            old = self.get(vi.name)
            if old is not None:
                old = _as_value_info(old)
            if old is None or (
                not old.type.tensor_type.HasField("shape")
                and vi.type.tensor_type.HasField("shape")
            ):
                self._table[vi.name] = vi
            elif (merged := merged_declaration(old, vi)) is not None:
                self._table[vi.name] = merged

    def declares_none_of(self, names: Iterable[str]) -> bool:
        return self._table.keys().isdisjoint(names)


def _as_value_info(entry: Any) -> ValueInfoProto:
    """A ValueInfoProto of an entry read with archlint/answer_types.py's schema (its name and
    type bytes, the rest kept as it came), or ``entry`` itself."""
    if isinstance(entry, ValueInfoProto):
        return entry
    converted: ValueInfoProto = ValueInfoProto.FromString(entry.SerializeToString())
    return converted


def _type_proto(data: bytes) -> TypeProto:
    try:
        parsed: TypeProto = TypeProto.FromString(data)
    except Exception:  # unreadable: no type (the answer's protobuf parsed: never seen)
        return TypeProto()
    return parsed


def merged_declaration(first: ValueInfoProto, later: ValueInfoProto) -> ValueInfoProto | None:
    """``first`` with the axes it leaves unknown taken from ``later``, a second declaration of
    the same tensor; None when ``later`` adds nothing or contradicts it (then the first holds,
    as in onnx's inference).

    A model may declare one tensor twice: onnxslim keeps the exporter's value_info entry
    (torch's dynamo exporter writes ``[?, ?, 2, 3]``) and appends its own (``[seq, batch, 2,
    3]``); onnx's inference refines neither. Reading only the first would lose the symbols
    that tie an axis to a graph input.
    """
    a, b = first.type.tensor_type, later.type.tensor_type
    if not (a.HasField("shape") and b.HasField("shape")) or len(a.shape.dim) != len(b.shape.dim):
        return None
    if a.elem_type and b.elem_type and a.elem_type != b.elem_type:
        return None
    filled: list[int] = []
    for k, (mine, theirs) in enumerate(zip(a.shape.dim, b.shape.dim, strict=True)):
        kind, other = mine.WhichOneof("value"), theirs.WhichOneof("value")
        if other is None or (other == "dim_param" and not theirs.dim_param):
            continue  # the later one does not know this axis either
        if kind is None or (kind == "dim_param" and not mine.dim_param):
            filled.append(k)
        elif kind != other or getattr(mine, kind) != getattr(theirs, other):
            return None  # they disagree: keep the first
    if not filled and (a.elem_type or not b.elem_type):
        return None
    merged = ValueInfoProto()
    merged.CopyFrom(first)
    tensor_type = merged.type.tensor_type
    tensor_type.elem_type = a.elem_type or b.elem_type
    for k in filled:
        tensor_type.shape.dim[k].CopyFrom(b.shape.dim[k])
    return merged


_PYTHON_NONE = "None"


def type_of(value_info: ValueInfoProto) -> tuple[int | None, Shape | None]:
    return tensor_type(value_info.type)


def tensor_type(type_proto: TypeProto) -> tuple[int | None, Shape | None]:
    if not type_proto.HasField("tensor_type"):
        return None, None
    tensor_type = type_proto.tensor_type
    dtype = tensor_type.elem_type or None
    if not tensor_type.HasField("shape"):
        return dtype, None
    dims: list[Dim] = []
    for dim in tensor_type.shape.dim:
        kind = dim.WhichOneof("value")  # one call where two HasField cost twice as much
        if kind == "dim_value":
            # A negative size is not ONNX, but a common hand edit (``dim_value = -1`` to make
            # a dim dynamic) and what some converters write (snips' tract tests): onnxruntime
            # reads any negative size as a free dim, and so does archlint (unknown, unnamed)
            value = dim.dim_value
            dims.append(value if value >= 0 else None)
        elif kind == "dim_param":
            # not UTF-8: shown with replacement characters, as the producer name is
            symbol = as_text(dim.dim_param)
            # "None" is str(None): keras2onnx (opset <= 8) writes it for every unknown dim,
            # the same text at the batch and the time axis, which share no size
            dims.append(None if not symbol or symbol == _PYTHON_NONE else symbol)
        else:
            dims.append(None)
    return dtype, tuple(dims)
