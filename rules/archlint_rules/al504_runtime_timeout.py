from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class RuntimeTimeout(RuntimeRule):
    """The model did not finish loading and running within the timeout.

    ## What it does
    Gives the child process that loads and runs one model ``--timeout`` seconds (default 120).
    When the time is up, archlint kills the child (and only its own process group) and reports
    the step it was in.

    ## Why is this bad?
    A recurrent model runs seq steps of h_t = f(W·x_t + R·h_{t-1} + b): its time grows with the
    sequence length, and a Loop whose trip count comes from data can run practically forever.
    A model that does not answer within the deployment's budget is a hung request.

    ## Example
    fixtures/AL504/bad.onnx.txt is a Loop with a trip count of 10^12 (checked with
    ``timeout = 3`` from fixtures/AL504/runtime.json). Bound the trip count, as in
    fixtures/AL504/good.onnx.txt, or raise ``--timeout`` when the model is simply slow.
    """

    code = "AL504"
    name = "runtime-timeout"
    severity = Severity.ERROR
    summary = "Loading and running the model took longer than --timeout"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        child = run.child
        if child is None or not child.timed_out:
            return
        timeout = run.settings.timeout
        yield ctx.finding(
            self, child.node,
            f"onnxruntime did not finish within {timeout:g}s {child.where} on {child.on}; the "
            "child process was killed",
            expected=f"<= {timeout:g}s", actual=child.died,
            help="Bound the model's loops and sequence length, or raise --timeout if the "
            "model is only slow.")
