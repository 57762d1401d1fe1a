from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class NonFiniteOutput(RuntimeRule):
    """An output contains NaN or Inf although every input was finite.

    ## What it does
    Feeds finite random inputs (floats uniform in [-1, 1)) and counts NaN and Inf values in
    every floating-point output.

    ## Why is this bad?
    The gates of an LSTM are bounded: i, o, f = sigmoid(...) in (0, 1), c~ = tanh(...) in
    (-1, 1), so h_t = o_t ⊙ tanh(c_t) is always in (-1, 1). A NaN from finite inputs means a
    weight is already NaN/Inf, or a node after the recurrence (Log, Sqrt, Div) is fed values
    outside its domain. One NaN in h_t spreads to every later time step.

    ## Example
    fixtures/AL508/bad.onnx.txt takes Sqrt of the LSTM's Y, which is negative half the time.
    Apply it to a non-negative value (fixtures/AL508/good.onnx.txt takes Sqrt of Sigmoid(Y)).
    """

    code = "AL508"
    name = "non-finite-output"
    severity = Severity.ERROR
    summary = "An output has NaN or Inf values from finite inputs"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        for out in run.outputs:
            if out.nans or out.infs:
                yield ctx.finding(
                    self, out.producer,
                    f"output {out.name!r} has {out.nans} NaN and {out.infs} Inf values of "
                    f"{out.size} from finite inputs",
                    expected="finite values", actual=f"{out.nans} NaN, {out.infs} Inf",
                    tensor=out.name,
                    help="Check the weights for NaN/Inf and the ops after the recurrence (Log, "
                    "Sqrt, Div, Pow) for inputs outside their domain.")
