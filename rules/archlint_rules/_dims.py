"""Helpers shared by the built-in rules: compare selected axes of a slot's shape; tell a
floating-point sequence from a shape or a count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from archlint.contrib_ops import stored_layout
from archlint.graph import ModelGraph
from archlint.onnx_protos import TensorProto
from archlint.recurrent import RecurrentLayer
from archlint.shapes import Shape, format_shape

_FLOATS = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE,
                     TensorProto.BFLOAT16})


def float_sequence(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` is a floating-point tensor of rank 2 or more: data (a sequence of
    features), not a shape, a count or a scalar."""
    info = graph.tensor(name, scope) if name else None
    return info is not None and info.dtype in _FLOATS and info.shape is not None \
        and len(info.shape) >= 2


@dataclass(frozen=True)
class AxisMismatch:
    """One slot whose dims at some axes provably differ from what the layer needs."""

    slot: str
    tensor: str
    actual: Shape
    wanted: dict[int, int]  # axis -> expected value, only the axes that differ

    @property
    def expected(self) -> Shape:
        return tuple(self.wanted.get(axis, dim) for axis, dim in enumerate(self.actual))

    def expected_text(self) -> str:
        return format_shape(self.expected)

    def actual_text(self) -> str:
        return format_shape(self.actual)


def axis_mismatches(
    layer: RecurrentLayer, wanted: Iterable[tuple[str, int, int]]
) -> list[AxisMismatch]:
    """For (slot, axis, expected) triples, the slots whose known dims differ.

    A slot of unknown shape or a symbolic dim at that axis cannot be proved wrong and is
    skipped; so is a slot whose rank is not the spec's (the rank rule AL101 reports it once).
    """
    found: dict[str, dict[int, int]] = {}
    for slot, axis, expected in wanted:
        ref = layer.tensor(slot)
        if ref is None or ref.shape is None or not layer.has_spec_rank(slot):
            continue
        actual = ref.shape[axis]
        if isinstance(actual, int) and actual != expected:
            found.setdefault(slot, {})[axis] = expected
    return [
        AxisMismatch(slot, layer.tensor(slot).name, layer.shape(slot) or (), axes)  # type: ignore[union-attr]
        for slot, axes in found.items()
    ]


def known_dim(layer: RecurrentLayer, slot: str, axis: int) -> int | None:
    value = layer.conformable_dim(slot, axis)
    return value if isinstance(value, int) else None


def describe(layer: RecurrentLayer) -> str:
    """``LSTM 'lstm_0'`` / ``GRU <GRU #3>`` / ``DynamicQuantizeLSTM 'q'`` for messages."""
    op = layer.display_op
    return f"{op} {layer.name!r}" if layer.name else f"{op} {layer.label}"


def stored_note(layer: RecurrentLayer, slot: str) -> str:
    """`` (stored as [2, 5, 32], [D, I, 4·H])`` when the view reads a contrib op's tensor in
    the ONNX LSTM's layout (archlint/contrib_ops.py), else empty."""
    ref = layer.tensor(slot)
    if ref is None or ref.stored_shape is None:
        return ""
    layout = stored_layout(layer, slot)
    how = f", {layer.display_op} layout {layout}" if layout else ""
    return f" (read as the LSTM's {slot}; stored as {format_shape(ref.stored_shape)}{how})"


def slots_text(slots: Iterable[str]) -> str:
    items = list(slots)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
