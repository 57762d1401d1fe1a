"""Tensor shapes with symbolic dimensions.

A dimension is an ``int`` (known), a ``str`` (a symbol such as ``batch``, kept as written) or
``None`` (unknown). A shape is a tuple of dimensions, or ``None`` when even the rank is unknown.
Comparisons follow one policy everywhere: two different numbers conflict; a symbol against a
number, or two different symbols, cannot be proved wrong and so do not conflict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeAlias

Dim: TypeAlias = "int | str | None"
Shape: TypeAlias = "tuple[Dim, ...]"


# Names tools give dims nobody named, a new one for each: tf2onnx (every Keras ``None``) and
# onnx's shape inference (``unk__7``), paddle2onnx (every ``None`` or -1 of an InputSpec:
# ``DynamicDimension.3``, ``p2o.DynamicDimension.0``). Two of them say nothing about whether
# the two dims are equal, or not.
_INVENTED_SYMBOL = re.compile(r"^(?:unk__\d+|(?:p2o\.)?DynamicDimension\.\d+)$")


# What archlint's inference worker names an input dim declared ``None`` (keras2onnx at opset
# <= 8 writes str(None) for every unknown dim): ``input:axis``, the runtime's key for it.
_POSITIONAL_SYMBOL = re.compile(r"^.+:\d+$")


def is_invented_symbol(dim: Dim) -> bool:
    """Whether ``dim`` is a symbol a tool made up for a dim nobody named (archlint's own
    ``input:axis`` for one declared ``None`` included)."""
    return isinstance(dim, str) and (_INVENTED_SYMBOL.match(dim) is not None
                                     or _POSITIONAL_SYMBOL.match(dim) is not None)


def format_dim(dim: Dim) -> str:
    if dim is None:
        return "?"
    return str(dim)


def format_shape(shape: Shape | None) -> str:
    """``[seq, 2, batch, 3]``; ``unknown`` when the rank is unknown."""
    if shape is None:
        return "unknown"
    return "[" + ", ".join(format_dim(d) for d in shape) + "]"


def dims_conflict(a: Dim, b: Dim) -> bool:
    """True only when two dimensions are provably different (two different numbers)."""
    return isinstance(a, int) and isinstance(b, int) and a != b


def dims_equal(a: Dim, b: Dim) -> bool:
    """True when two dimensions are provably the same (same number or same symbol)."""
    return a is not None and a == b


def shapes_conflict(expected: Sequence[Dim], actual: Sequence[Dim]) -> bool:
    """True when ranks differ or any pair of dimensions provably differs."""
    if len(expected) != len(actual):
        return True
    return any(dims_conflict(e, a) for e, a in zip(expected, actual, strict=True))


def known_product(shape: Sequence[Dim]) -> int | None:
    """Number of elements when every dimension is a known number, else ``None``."""
    total = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            return None
        total *= dim
    return total
