"""What a process that ends right after its command leaves for its end to drop.

The console script ends without tearing the interpreter down (archlint/cli/process_exit.py),
so whatever is alive then is never freed, only given back to the system. Freeing the views of
the last model a lint read (the graph index, one object per tensor and node) takes 0.1-0.3 s on
a 100k-node model, which nothing waits for once the report is out; so does the cyclic
collector's first walk over them once the engine turns it back on. When the process says it
ends after its command, the engine keeps that last model here instead of freeing it; the one
before is freed before the next is read, so no more than one model is alive at a time. An
in-process caller (the Python API, the pytest plugin) never says so, and every model is freed
as soon as its report is made.
"""

from __future__ import annotations

import gc

__all__ = ["end_after_command", "ends_after_command", "keep_until_exit", "release"]

_ends_after_command = False
_kept: list[object] = []


def end_after_command() -> None:
    """This process exits without teardown once its command is done (the console script)."""
    global _ends_after_command
    _ends_after_command = True


def ends_after_command() -> bool:
    """Whether this process ends once its command is done (what it leaves, the kernel frees:
    the inference worker is not waited for either, archlint/inference.py)."""
    return _ends_after_command


def keep_until_exit(value: object) -> None:
    """Keep ``value`` (the last model's analysis) alive to the end, if the process ends soon."""
    if _ends_after_command:
        _kept[:] = [value]
        # and out of the cyclic collector's care: its next collection would otherwise walk
        # every object of those views (0.1 s at 30k nodes) to find nothing to free
        gc.freeze()


def release() -> None:
    """Free what was kept: before the next model is read. What the collector was kept from
    is its again (any cycle among it is collected as usual)."""
    if _kept:
        _kept.clear()
        gc.unfreeze()
