"""Small tensors kept in external data, read into archlint's own copy of the model.

A model saved with ``size_threshold=0`` (``onnx.save_model(..., save_as_external_data=True,
size_threshold=0)``, or a converter that moves every initializer out) keeps even its 8-byte
Gather indices, Reshape targets and Slice bounds in a data file. Those are what archlint
reads to find a layer written out as steps or a Loop body, and what shape inference folds:
without them such a model looked as if it held no recurrent layer at all.

So the loader reads a stored tensor's bytes when it is small (at most
``loader.SMALL_TENSOR_ELEMENTS`` elements, the tensors archlint reads the value of when they
are inline), of a fixed-size element type, and in a data file the loader judged safe (inside
the model's folder, a regular file with one link, the range inside it). Nothing else is
opened, big weights never are, and the model file and the data files are only read. The
bytes go into a copy of the model (:func:`read_into`), never into the caller's.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from archlint.onnx_protos import TensorProto

__all__ = ["READ_BUDGET_BYTES", "StoredRange", "read_into", "stored_range"]

# a model whose small external tensors add up to more than this keeps the rest external
READ_BUDGET_BYTES = 16 * 1024**2

# element type -> item size, for the types whose raw data is elements of one fixed size
_ITEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
               16: 2}


@dataclass(frozen=True)
class StoredRange:
    """Where one small external tensor's bytes are in its data file."""

    offset: int
    size: int


def stored_range(tensor: TensorProto, max_elements: int) -> StoredRange | None:
    """Where in its data file to read ``tensor`` when it is worth reading: None for a tensor
    of more than ``max_elements`` elements, of another element type (strings, 4-bit types),
    or whose external-data entries disagree with its dims (a runtime would refuse it: left as
    it is). Its location is the caller's to resolve and judge."""
    item = _ITEM_BYTES.get(tensor.data_type)
    if item is None or any(d < 0 for d in tensor.dims):
        return None
    count = 1
    for dim in tensor.dims:
        count *= dim
    if count > max_elements:
        return None
    entries = {e.key: e.value for e in tensor.external_data}
    size = count * item
    offset = entries.get("offset", "0")
    length = entries.get("length")
    if not offset.isdigit() or (length is not None and length != str(size)):
        return None
    return StoredRange(int(offset), size)


def read_into(tensor: TensorProto, data_file: str, where: StoredRange) -> bool:
    """Put the bytes at ``where`` in ``data_file`` (a resolved path the loader judged safe)
    into ``tensor`` as raw data, its external-data entries dropped; False, and ``tensor``
    unchanged, when the file is no longer a regular file of one link or is too short. The
    file is opened read-only, without following a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(data_file, flags)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1 \
                    or info.st_size < where.offset + where.size:
                return False
            handle.seek(where.offset)
            data = handle.read(where.size)
        except OSError:
            return False
    if len(data) != where.size:
        return False
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT
    tensor.raw_data = data
    return True
