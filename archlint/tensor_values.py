"""A stored tensor's value as ``onnx.numpy_helper.to_array`` gives it, with numpy alone for the
element types exports store their small constants in.

A lint decodes a few small constants of most exports (a Reshape's target, a Slice's starts, a
Constant's scalar); ``numpy_helper`` would import the whole onnx package for them, which the
console script otherwise never needs (archlint/onnx_protos.py). For the plain numeric types
this reads the tensor the way ``to_array`` does, field for field; any other case (4-bit and
8-bit floats, strings, complex, float16 or bool in typed fields, segments, a big-endian
machine) goes to ``to_array`` itself. tests/test_tensor_values.py compares the two on
every element type and on every committed and onnx backend-test tensor.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from onnx import TensorProto

__all__ = ["element_type", "plain_ints", "to_array"]

# element type -> numpy's name for it (onnx.helper.tensor_dtype_to_np_dtype)
_RAW_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
              7: "int64", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}
# element type -> (its typed field, the field's numpy type) where to_array reads the field as
# ``np.asarray(field, storage).astype(type)``
_TYPED_FIELDS = {1: ("float_data", "float32"), 2: ("int32_data", "int32"),
                 3: ("int32_data", "int32"), 6: ("int32_data", "int32"),
                 7: ("int64_data", "int64"), 11: ("double_data", "float64"),
                 12: ("uint64_data", "uint64"), 13: ("uint64_data", "uint64")}
_EXTERNAL = 1  # TensorProto.EXTERNAL
# integer element type -> the array module's typecode of the same signedness, and the item
# size numpy gives it (raw data)
_RAW_INT_CODES = {2: ("B", 1), 3: ("b", 1), 4: ("H", 2), 5: ("h", 2), 6: ("i", 4), 7: ("q", 8),
                  12: ("I", 4), 13: ("Q", 8)}
# integer element type -> its typed field, where to_array reads the field unchanged (its
# storage type is the element type: int32, int64, uint64; the others are narrowed)
_PLAIN_INT_FIELDS = {kind: field for kind, (field, storage) in _TYPED_FIELDS.items()
                     if kind in _RAW_INT_CODES and storage == _RAW_TYPES[kind]}


def to_array(tensor: TensorProto) -> np.ndarray[Any, Any]:
    """The tensor's value; raises as ``to_array`` does on a malformed one, and ValueError on
    one whose data is external (archlint reads no data file for a value)."""
    import numpy as np

    if tensor.data_location == _EXTERNAL:  # never read here: the loader decides what is read
        raise ValueError(f"tensor {tensor.name!r} holds external data, which is not read")
    kind = tensor.data_type
    plain = sys.byteorder == "little" and not tensor.HasField("segment")
    if plain and tensor.HasField("raw_data") and kind in _RAW_TYPES:
        found: np.ndarray[Any, Any] = np.frombuffer(tensor.raw_data, dtype=_RAW_TYPES[kind])
        return found.reshape(tuple(tensor.dims))
    if plain and not tensor.HasField("raw_data") and kind in _TYPED_FIELDS:
        field, storage = _TYPED_FIELDS[kind]
        stored: np.ndarray[Any, Any] = np.asarray(getattr(tensor, field), dtype=storage)
        return stored.astype(_RAW_TYPES[kind]).reshape(tuple(tensor.dims))
    from onnx import numpy_helper  # the package: only for a tensor of another kind

    return numpy_helper.to_array(tensor)


def plain_ints(tensor: TensorProto) -> tuple[int, ...] | None:
    """The values of an integer tensor, flattened, as ``to_array(tensor).reshape(-1)`` holds
    them, read without numpy; None where this cannot tell without it (another element type,
    a typed field to_array narrows, a negative dim, a big-endian host: ask :func:`to_array`).
    Raises ValueError where to_array would (a tensor whose data does not fill its dims)."""
    kind = tensor.data_type
    dims = tuple(tensor.dims)
    if sys.byteorder != "little" or any(d < 0 for d in dims) or tensor.HasField("segment") \
            or tensor.data_location == _EXTERNAL:
        return None
    if tensor.HasField("raw_data"):
        if kind not in _RAW_INT_CODES:
            return None
        from array import array

        code, size = _RAW_INT_CODES[kind]
        values = array(code)
        if values.itemsize != size:
            return None  # a platform whose C types differ: numpy's sizes are fixed
        values.frombytes(tensor.raw_data)  # ValueError when not a whole number of items
        found: tuple[int, ...] = tuple(values)
    elif kind in _PLAIN_INT_FIELDS:
        found = tuple(getattr(tensor, _PLAIN_INT_FIELDS[kind]))
    else:
        return None
    count = 1
    for d in dims:
        count *= d
    if len(found) != count:
        raise ValueError(f"tensor {tensor.name!r}: {len(found)} values for dims {list(dims)}")
    return found


def element_type(array: np.ndarray[Any, Any]) -> int | None:
    """The TensorProto element type of an array's dtype, as
    ``onnx.helper.np_dtype_to_tensor_dtype`` gives it (the plain types without the onnx
    package); None where it has none."""
    dtype = array.dtype
    # a non-native byte order gets the helper's own answer
    kind = _ELEMENT_TYPES.get(dtype.name) if dtype.byteorder in ("=", "|") else None
    if kind is not None:
        return kind
    from onnx import helper

    try:
        return int(helper.np_dtype_to_tensor_dtype(dtype))
    except Exception:
        return None


_ELEMENT_TYPES = {name: kind for kind, name in _RAW_TYPES.items()}
