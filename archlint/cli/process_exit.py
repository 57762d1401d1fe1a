"""End the ``archlint`` process without tearing the interpreter down.

At exit Python frees every module and object it holds; for a lint (onnx, protobuf, numpy, the
rule pack) that takes longer than the lint of a small model, and frees memory the system takes
back anyway. mypy ends its process the same way (``--fast-exit``, its default). Used only when
the process is archlint's own (the console script, ``python -m archlint``), never in-process.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

__all__ = ["exit_now"]

# Python's own status when the last flush of stdout fails (a closed pipe: `archlint ... | head`)
_FLUSH_FAILED = 120


def exit_now(code: object) -> NoReturn:
    """Exit with a SystemExit's ``code`` as ``sys.exit(code)`` would: the exit handlers run
    (the inference worker is closed, temporary folders removed) and the output is flushed."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            if stream is sys.stdout:
                status = _FLUSH_FAILED
    os._exit(status)
