"""One command, one fresh process: wall time and peak RSS from ``os.wait4``. See bench/README.md.

Peak RSS is ``ru_maxrss`` of the process and of every child it waited for (archlint's
shape-inference child counts). When the command is bench/probe.py, its last stdout line is
the seconds the operation alone took (imports excluded), kept as ``work_s``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

PROBE_NAME = "probe.py"


@dataclass(frozen=True)
class Sample:
    wall_s: float
    work_s: float | None
    peak_mb: float
    status: str  # "ok", "timeout", "error: <last stderr line>", "not installed", "not run"
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def measure(command: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> Sample:
    """Run ``command`` once."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        pid = os.posix_spawn(command[0], list(command), env or dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        deadline = started + timeout_s
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(pid, 9)
                os.wait4(pid, 0)
                return Sample(timeout_s, None, 0.0, "timeout")
            time.sleep(0.002)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        err.seek(0)
        said = err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return Sample(wall, None, 0.0, f"error: {_last_line(said)}", text)
    work = None
    if len(command) > 1 and command[1].endswith(PROBE_NAME):
        work = float(text.strip().splitlines()[-1].split()[0])
    return Sample(wall, work, usage.ru_maxrss / 1024, "ok", text)


def measure_together(commands: Sequence[Sequence[str]], timeout_s: float) -> Sample:
    """Start ``commands`` at once; the wall time until the last one ends (peak RSS: the
    largest). What two processes that share nothing get from the machine together."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as sink:
        pids = [os.posix_spawn(command[0], list(command), dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, sink.fileno(), 1), (os.POSIX_SPAWN_DUP2, sink.fileno(), 2)])
            for command in commands]
    peak, failed, left = 0.0, "", set(pids)
    while left:
        for pid in list(left):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                left.discard(pid)
                peak = max(peak, usage.ru_maxrss / 1024)
                if os.waitstatus_to_exitcode(status) != 0:
                    failed = f"error: exit status {os.waitstatus_to_exitcode(status)}"
        if left and time.perf_counter() > started + timeout_s:
            for pid in left:
                os.kill(pid, 9)
                os.wait4(pid, 0)
            return Sample(timeout_s, None, 0.0, "timeout")
        time.sleep(0.002)
    wall = time.perf_counter() - started
    return Sample(wall, None, 0.0, failed) if failed else Sample(wall, None, peak, "ok")


def combine(samples: Sequence[Sample]) -> Sample:
    """Medians of the runs that succeeded (peak: the largest); the first failure otherwise."""
    ok = [s for s in samples if s.ok]
    if not ok:
        return samples[0]
    work = [s.work_s for s in ok if s.work_s is not None]
    return Sample(statistics.median(s.wall_s for s in ok),
                  statistics.median(work) if work else None,
                  max(s.peak_mb for s in ok), "ok", ok[-1].stdout)


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:120] if lines else "failed"


def compile_bytecode() -> None:
    """Write the bytecode of archlint's modules, as ``pip install`` does for every package it
    installs (onnx's and numpy's are there already). An editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set would otherwise compile each module at every start, a cost
    no installed archlint pays."""
    import compileall
    import importlib.util

    for package in ("archlint", "archlint_rules"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
            compileall.compile_dir(folder, quiet=1)
