"""Run the worker in a child process with a timeout, and say how it ended.

The parent never loads a model into onnxruntime itself. The child gets its own process group
so that, on timeout, the parent kills exactly what it started (the child and anything the child
spawned) and nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ChildOutcome", "read_results", "run_worker", "signal_name"]

STDERR_TAIL = 600


@dataclass(frozen=True)
class ChildOutcome:
    """How the child ended: exit code or signal, timeout, last stage reached, per-job results."""

    returncode: int | None
    timed_out: bool
    stage: tuple[str, str] | None  # (job id, step) last announced by the child
    stderr_tail: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    pid: int | None = None  # the child's pid (gone, and reaped, when this is returned)

    @property
    def signal(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            return signal_name(-self.returncode)
        return None

    @property
    def completed(self) -> bool:
        return not self.timed_out and self.returncode == 0


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_worker(request: dict[str, Any], workdir: Path, timeout: float) -> ChildOutcome:
    import time

    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    # faulthandler prints a C-level crash's Python stack; the message before it is kept.
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    started = time.perf_counter()
    from archlint.inference import lifeline_flag

    proc = subprocess.Popen(
        [sys.executable, "-m", "archlint.runtime.worker", str(request_path), lifeline_flag()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, errors="replace", env=env, start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    except BaseException:  # Ctrl-C or SIGTERM: the child's group goes with us, now
        _kill_group(proc)
        proc.wait()
        raise
    elapsed = time.perf_counter() - started
    results = read_results(request["jobs"], workdir)
    return ChildOutcome(
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        stage=_last_stage(stdout),
        stderr_tail=_tail(stderr),
        results=results,
        elapsed_s=elapsed,
        pid=proc.pid,
    )


def read_results(jobs: list[dict[str, Any]], workdir: Path) -> dict[str, dict[str, Any]]:
    """Each job's result, by job id; a file missing, or cut short by a kill while it was being
    written, is no result (the caller reports the job as not checked)."""
    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        path = workdir / f"{job['id']}.json"
        try:
            results[job["id"]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return results


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _last_stage(stdout: str) -> tuple[str, str] | None:
    stages = [line.split(" ", 2) for line in stdout.splitlines() if line.startswith("stage ")]
    stages = [s for s in stages if len(s) == 3]
    return (stages[-1][1], stages[-1][2]) if stages else None


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    # faulthandler's "Current thread ..." dump follows the C++ message; keep the message.
    for index, line in enumerate(lines):
        if line.startswith(("Fatal Python error", "Current thread", "Thread 0x")):
            lines = lines[:index] or lines[index:index + 1]
            break
    text = " | ".join(lines[-3:])
    return text[-STDERR_TAIL:]
