"""Stored tensors that hold the very values of another: the copies constant folding makes of
one weight where it is used (paddle2onnx and polygraphy fold a cell's transposed weights once
per step; onnxruntime's saved basic level puts a weight both branches of an If read into each
branch). params counts such a copy in ONNX only; the cell matchers read the steps of such a
chain as sharing one weight.

Equal values are the same parameter only when they could not be equal by chance: a tensor of
at most two distinct values (zero biases, LayerNorm's ones, an untrained Keras bias of zeros
and ones) is each layer's own, as tf2onnx's merged equal constants are (docs/params.md). Only
data stored in the model file is compared; a tensor in external data is left as it is."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from archlint.onnx_protos import AttributeProto, TensorProto
from archlint.shapes import known_product

if TYPE_CHECKING:
    from archlint.graph import ModelGraph

__all__ = ["MAX_COPY_ELEMENTS", "block_of", "equal_copies", "few_values", "stored_tensors",
           "transposed_copies"]

# A tensor compared for a stored copy holds at most this many elements: the bytes of each
# candidate are read (and hashed) once; a bigger weight is left as it is.
MAX_COPY_ELEMENTS = 1 << 22

Key = TypeVar("Key", bound=Hashable)


def stored_tensors(
    graph: ModelGraph, keys: Iterable[tuple[str, str]]
) -> Iterator[tuple[tuple[str, str], TensorProto]]:
    """Each (graph, name) key with the tensor stored under it, for :func:`equal_copies`: an
    initializer, or a Constant node's ``value`` (torch's classic exporter writes a scripted
    module's weights as Constants, one per use: an nn.GRU stepped in an unrolled loop stores
    its W, R and B once per step). A key that names neither (a computed tensor, a Constant of
    another attribute) is left out."""
    for key in keys:
        info = graph.tensor(key[1], key[0])
        source = None if info is None else info.constant_source
        if isinstance(source, TensorProto):
            yield key, source
        elif source is not None and source.op_type == "Constant":
            value = next((attr.t for attr in source.attribute
                          if attr.name == "value" and attr.type == AttributeProto.TENSOR), None)
            if value is not None:
                yield key, value


def equal_copies(
    tensors: Iterable[tuple[Key, TensorProto]], max_group: int | None = None, *,
    any_values: bool = False,
) -> dict[Key, Key]:
    """Each key whose tensor holds the values of an earlier one (in the order given) -> that
    earlier key. ``max_group``: tensors of one type and shape are compared only where there
    are at most this many (a chain's steps, not a plain graph's thousands of equal-shaped
    weights). ``any_values``: equal is a copy however few values the tensors hold (where
    the context already says they are one tensor: the biases each step of a chain adds,
    once its weights are copies)."""
    by_shape: dict[tuple[int, tuple[int, ...]], list[tuple[Key, TensorProto]]] = {}
    external = TensorProto.EXTERNAL
    for key, tensor in tensors:
        if tensor.data_location != external:
            by_shape.setdefault((tensor.data_type, tuple(tensor.dims)), []).append((key, tensor))
    found: dict[Key, Key] = {}
    for (_, dims), group in by_shape.items():
        if len(group) < 2 or (max_group is not None and len(group) > max_group) \
                or not (0 if any_values else 2) < (known_product(dims) or 0) \
                <= MAX_COPY_ELEMENTS:
            continue
        first_of: dict[bytes, Key] = {}
        varied: dict[bytes, bool] = {}  # decoded once per content
        for key, tensor in group:
            data = _stored_bytes(tensor)
            if data is None:
                continue
            first = first_of.setdefault(data, key)
            if first == key:
                continue
            if data not in varied:
                varied[data] = any_values or _varied(tensor)
            if varied[data]:
                found[key] = first
    return found


def transposed_copies(
    originals: Iterable[tuple[Key, TensorProto]], candidates: Iterable[tuple[Key, TensorProto]],
) -> dict[Key, Key]:
    """Each candidate key whose 2-D tensor holds the values of an original's transposed ->
    that original's key: torch's classic exporter folds ``Transpose(emb.weight)`` of a
    language model's output layer tied to its embedding (``out.weight = emb.weight``) into a
    new initializer, so the one parameter is stored twice. Only the candidates of an
    original's transposed shape are read; more than two distinct values, as for
    :func:`equal_copies`."""
    external = TensorProto.EXTERNAL
    wanted: dict[tuple[int, tuple[int, ...]], list[tuple[Key, TensorProto]]] = {}
    for key, tensor in originals:
        dims = tuple(tensor.dims)
        if len(dims) == 2 and tensor.data_location != external \
                and 2 < (known_product(dims) or 0) <= MAX_COPY_ELEMENTS:
            wanted.setdefault((tensor.data_type, dims[::-1]), []).append((key, tensor))
    found: dict[Key, Key] = {}
    if not wanted:
        return found
    import numpy as np

    from archlint.tensor_values import to_array

    arrays: dict[Key, Any] = {}
    for key, tensor in candidates:
        matches = wanted.get((tensor.data_type, tuple(tensor.dims)))
        if not matches or tensor.data_location == external:
            continue
        try:
            values = to_array(tensor)
            for original_key, original in matches:
                if original_key == key:
                    continue
                if original_key not in arrays:
                    arrays[original_key] = to_array(original).T
                if np.array_equal(values, arrays[original_key]) \
                        and np.unique(values).size > 2:
                    found[key] = original_key
                    break
        except Exception:  # malformed data: not judged
            continue
    return found


def block_of(part: TensorProto, whole: TensorProto, any_values: bool = False) -> bool:
    """Whether ``part`` holds the very values of a block of ``whole``'s last axis (or first:
    a traced cell stores gates as rows), one type, the other axes equal, and more than two
    distinct values (a gate's slice of a kernel that TensorFlow's constant folding stored
    apart: ``kernel[:, 2H:3H]``), or any values where the context says what it is
    (``any_values``: the bias a claimed product adds, an LSTM's forget gate of ones). Data
    in external files and malformed data are not read."""
    external = TensorProto.EXTERNAL
    if part.data_type != whole.data_type or len(part.dims) not in (len(whole.dims),
                                                                   len(whole.dims) - 1) \
            or not part.dims or part.data_location == external \
            or whole.data_location == external \
            or not (0 if any_values else 2) < (known_product(tuple(part.dims)) or 0) \
            or (known_product(tuple(whole.dims)) or 0) > MAX_COPY_ELEMENTS:
        return False
    if not _fits(tuple(part.dims), tuple(whole.dims)):
        return False  # decided on the shapes: no array is read
    from archlint.tensor_values import to_array

    try:
        piece, source = to_array(part), to_array(whole)
    except Exception:  # malformed data: not judged
        return False
    import numpy as np

    if not any_values and np.unique(piece).size <= 2:
        return False
    if piece.ndim < source.ndim:  # a block of one row: a GRU's [2, 3H] biases (Wb and Rb)
        return any(_block(piece, row) for row in source)
    return _block(piece, source)


def _fits(part: tuple[int, ...], whole: tuple[int, ...]) -> bool:
    """Whether a tensor of shape ``part`` can be a block of ``whole``'s last or first axis
    (of one of its rows, for a part of one rank less)."""
    rows = [whole[1:]] if len(part) == len(whole) - 1 else [whole]
    return any((p[:-1] == w[:-1] and p[-1] < w[-1]) or (p[1:] == w[1:] and p[0] < w[0])
               for p, w in ((part, row) for row in rows) if p and len(p) == len(w))


def _block(piece: Any, source: Any) -> bool:
    """Whether the array ``piece`` is a gate-aligned block of ``source``'s last axis or first
    (the other axes equal)."""
    import numpy as np

    for axis in {piece.ndim - 1, 0}:
        others = [n for k, n in enumerate(piece.shape) if k != axis]
        if others != [n for k, n in enumerate(source.shape) if k != axis] \
                or piece.shape[axis] >= source.shape[axis]:
            continue
        width = piece.shape[axis]
        # gate-aligned: a block starts at a multiple of the gcd of its width and the whole's
        step = math.gcd(width, source.shape[axis])
        for start in range(0, source.shape[axis] - width + 1, step):
            if np.array_equal(np.take(source, range(start, start + width), axis=axis), piece):
                return True
    return False


def few_values(graph: ModelGraph, key: tuple[str, str]) -> bool:
    """Whether the tensor stored under ``key`` (graph, name) holds at most two distinct
    values, values equal by chance in any two layers; False where its data is not in the
    file, is malformed, or is above :data:`MAX_COPY_ELEMENTS`."""
    tensor = next((found for _, found in stored_tensors(graph, (key,))), None)
    if tensor is None or tensor.data_location == TensorProto.EXTERNAL \
            or not 0 < (known_product(tuple(tensor.dims)) or 1) <= MAX_COPY_ELEMENTS:
        return False
    distinct = _distinct_values(tensor)
    return distinct is not None and distinct <= 2


def _stored_bytes(tensor: TensorProto) -> bytes | None:
    """The tensor's values as stored, with its type: equal only for equal values."""
    if tensor.raw_data:
        return bytes(tensor.raw_data)
    for field_name in ("float_data", "int32_data", "int64_data", "double_data"):
        values = getattr(tensor, field_name)
        if len(values):
            return field_name.encode() + repr(list(values)).encode()
    return None


def _varied(tensor: TensorProto) -> bool:
    """Whether the tensor holds more than two distinct values (malformed data: no)."""
    distinct = _distinct_values(tensor)
    return distinct is not None and distinct > 2


def _distinct_values(tensor: TensorProto) -> int | None:
    """How many distinct values the tensor holds; None where its data is malformed."""
    from archlint.tensor_values import to_array

    try:
        values = to_array(tensor)
    except Exception:  # malformed data: not judged
        return None
    import numpy as np

    return int(np.unique(values).size)
