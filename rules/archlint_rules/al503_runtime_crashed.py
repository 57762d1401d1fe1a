from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class RuntimeCrashed(RuntimeRule):
    """onnxruntime killed the process (a signal such as SIGABRT or SIGSEGV) instead of raising.

    ## What it does
    Runs every session in a child process. When the child dies from a signal, archlint names
    the signal, the step it was in (session creation or run, and for which job) and the last
    line onnxruntime printed, and goes on with the next model.

    ## Why is this bad?
    An abort takes the whole serving process with it: no exception to catch, no error reply.
    onnxruntime 1.32 aborts with ``terminate called without an active exception`` when an LSTM
    gets batch = 0, and a GRU batch = 0 or seq_length = 0 (X ``[seq, batch, I]`` with a zero
    axis): a request with an empty batch brings the server down.

    ## Example
    fixtures/AL503/bad.onnx.txt is a GRU whose X is ``[4, 0, 2]``: batch 0. The child dies
    with SIGABRT during run. Reject empty batches before inference, or pad them to batch 1, as
    fixtures/AL503/good.onnx.txt does.
    """

    code = "AL503"
    name = "runtime-crashed"
    severity = Severity.ERROR
    summary = "onnxruntime crashed (killed by a signal) while loading or running the model"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        child = run.child
        if child is None or child.timed_out:
            return
        said = f": {child.stderr_tail}" if child.stderr_tail else ""
        yield ctx.finding(
            self, child.node,
            f"onnxruntime crashed with {child.died} {child.where} on {child.on}{said}",
            expected="a result or a Python exception", actual=child.died,
            help=_CREATION_HELP if child.at_creation else
            "The runtime aborted instead of raising: find the input that triggers it (an "
            "empty batch or sequence for LSTM/GRU on onnxruntime's CPU kernels is a known one) "
            "and reject it before inference.")


_CREATION_HELP = (
    "The runtime aborted while creating its session, before any input was fed: its graph "
    "optimizations and kernels are set up then. Create the session with "
    "SessionOptions.graph_optimization_level = ORT_ENABLE_BASIC (or ORT_DISABLE_ALL) to tell "
    "an optimization pass from a kernel; report the crash to onnxruntime with the model, and "
    "until it is fixed, run at the level that works (or save the model optimized at it).")
