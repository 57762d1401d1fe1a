from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.runtime.collector import trim

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class RunFailed(RuntimeRule):
    """onnxruntime created the session but ``run`` raised on valid random inputs.

    ## What it does
    Feeds seeded random inputs of each input's dtype and shape (symbolic dims bound as the
    report states; token ids and ``sequence_lens`` kept in range) and reports onnxruntime's
    message when ``run`` raises, on the node the message names.

    A run that fails while some values were invented by archlint (an integer input no
    consumer bounds, a condition, a dimension without a name) is AL514's warning instead.
    So is one that fails at archlint's default sizes, unless a second run, with the named
    dims other than the batch at 512, fails on the same node with the same message: then the
    sizes are not the cause, and this rule reports it, at both sizes.

    ## Why is this bad?
    Most LSTM/GRU/RNN shape checks in onnxruntime run at ``run``, not at load: W must be
    ``[D, g·H, I]``, R ``[D, g·H, H]``, B ``[D, 2·g·H]``, initial_h ``[D, batch, H]``. A model
    that loads but fails on its first input fails in production on its first request. Some
    kernels are registered for a dtype they then refuse at run time (LSTM and GRU in double).

    ## Example
    fixtures/AL502/bad.onnx.txt is an LSTM in double precision: the session is created, then
    ``run`` fails with ``LSTM operator does not support double yet``. Export in float32, as in
    fixtures/AL502/good.onnx.txt.
    """

    code = "AL502"
    name = "run-failed"
    severity = Severity.ERROR
    summary = "onnxruntime raised while running the model on random inputs (runtime check)"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        main = run.main
        retried = run.retried
        # on values archlint invented the failure may be theirs: AL514 says which to give; on
        # sizes it chose, only the same failure at a larger size makes it the model's
        if main is None or main.status != "run_failed" or run.invented \
                or (retried is not None and retried.outcome != "same_failure"):
            return
        again = f" (at {retried.first}, and the same at {retried.second})" \
            if retried is not None else ""
        yield ctx.finding(
            self, main.node,
            f"onnxruntime failed to run the model on {main.on}{again}: {trim(main.error)}",
            help="The session loaded but the first run on valid inputs failed; fix the "
            "node it names (shapes are only checked at run time for LSTM/GRU/RNN).")
