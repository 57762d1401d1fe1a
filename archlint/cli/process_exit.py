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
import threading
from typing import NoReturn

__all__ = ["exit_now"]

# Python's own status when the last flush of stdout fails (a closed pipe: `archlint ... | head`)
_FLUSH_FAILED = 120


def exit_now(code: object) -> NoReturn:
    """Exit with a SystemExit's ``code`` as ``sys.exit(code)`` would: the exit handlers run
    (the inference worker is closed, temporary folders removed) and the output is flushed.
    While a thread or a child process is still running (a ``-j`` pool stopped by SIGTERM),
    this is ``sys.exit(code)`` itself: Python's shutdown joins them, in its own order."""
    if not _nothing_to_wait_for():
        sys.exit(code)  # type: ignore[arg-type]  # SystemExit's code, as it was raised
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


def _nothing_to_wait_for() -> bool:
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return False
    if "multiprocessing" not in sys.modules:  # never imported: no child of its making
        return True
    import multiprocessing

    return not multiprocessing.active_children()
