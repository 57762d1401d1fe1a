"""Reading the small text files archlint is given besides models: configs and baselines.

A config or baseline path can name anything: a FIFO (a read blocks forever), ``/dev/zero`` (a
read never ends), a binary file, a huge file, a file in another encoding. Each is one line
naming the file and what is wrong (:class:`UnreadableFile`), never a hang, a MemoryError or a
traceback. The parsers' own failures on hostile content (RecursionError on deep nesting,
ValueError on a 100,000-digit integer) are the callers' to map: see :func:`parse_guard`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MAX_TEXT_FILE_BYTES", "UnreadableFile", "parse_guard", "read_text_file"]

# A config of a few KiB and a baseline of a few MiB are normal; 64 MiB is neither.
MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024


class UnreadableFile(Exception):
    """``str()`` is the reason (the caller adds the file name)."""


def read_text_file(path: Path, limit: int = MAX_TEXT_FILE_BYTES) -> str:
    """The file's text, UTF-8 (a leading BOM, as Windows editors write it, is dropped).

    Only a regular file is opened (``stat`` first, then ``O_NONBLOCK`` so that a FIFO swapped
    in between cannot block), and at most ``limit`` bytes are read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("not a regular file (a FIFO, a device or a socket)")
    if info.st_size > limit:
        raise UnreadableFile(f"too large ({info.st_size:,} bytes; at most {limit:,})")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnreadableFile("not a regular file (a FIFO, a device or a socket)")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"too large (more than {limit:,} bytes)")
    if b"\x00" in data:
        raise UnreadableFile("binary file (holds NUL bytes), expected text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start})") from None


@contextmanager
def parse_guard() -> Iterator[None]:
    """Turn what a parser raises on hostile content into :class:`UnreadableFile`: nesting
    deeper than Python's recursion limit and integers longer than its digit limit."""
    try:
        yield
    except RecursionError:
        raise UnreadableFile("nested too deeply") from None
    except MemoryError:
        raise UnreadableFile("too large to parse") from None
