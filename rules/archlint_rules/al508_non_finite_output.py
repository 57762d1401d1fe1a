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
    every floating-point output. Where there are some, the model runs once more with those
    inputs' absolute values: finite outputs then mean the model may expect non-negative
    inputs (a power spectrum, a state holding a running mean), and the finding is a warning
    that asks for the inputs the model is meant for. It is a warning too where archlint made
    up an input with nothing to show its values valid (random booleans for a condition or a
    mask, a float scalar, an integer no consumer bounds): an attention mask with every
    position off gives NaN by design, as does a frequency range below zero. In both cases the
    outputs that one cause makes non-finite are one finding, at the first, naming the others.

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
        non_finite = [out for out in run.outputs if out.nans or out.infs]
        if not non_finite:
            return
        # negative inputs where the model runs clean on non-negative ones, or the values
        # archlint invented: one cause for every output, one finding at the first
        out = non_finite[0]
        if run.finite_when_non_negative:
            yield ctx.finding(
                self, out.producer,
                f"output {out.name!r} has {out.nans} NaN and {out.infs} Inf values of "
                f"{out.size}{_others(run, out.name)} from random inputs in [-1, 1), and "
                "none when those inputs are non-negative: the model may expect "
                "non-negative inputs (a power spectrum, a state that holds a running mean)",
                expected="finite values", actual=f"{out.nans} NaN, {out.infs} Inf",
                tensor=out.name, severity=Severity.WARNING,
                help="Give the run the inputs the model is meant for (--input NAME=FILE, "
                "--inputs FILE.npz); if negative values are valid for it, guard the op "
                "after them (Sqrt, Log, Div, Pow) against them.")
            return
        if run.invented_inputs:
            names = ", ".join(repr(name) for name, _ in run.invented_inputs)
            flags = " ".join(flag for _, flag in run.invented_inputs)
            yield ctx.finding(
                self, out.producer,
                f"output {out.name!r} has {out.nans} NaN and {out.infs} Inf values of "
                f"{out.size}{_others(run, out.name)} from inputs archlint made up with "
                f"nothing to show them valid ({names}): the model may need values of a kind "
                "only the caller knows (a mask with one position set, a frequency range)",
                expected="finite values", actual=f"{out.nans} NaN, {out.infs} Inf",
                tensor=out.name, severity=Severity.WARNING,
                help=f"Give the run the values the model is meant for ({flags}, or "
                "--inputs FILE.npz); if NaN remains with them, check the weights and the "
                "ops that produce it (Log, Sqrt, Div, Pow, a Softmax over masked "
                "positions only).")
            return
        for out in non_finite:
            yield ctx.finding(
                self, out.producer,
                f"output {out.name!r} has {out.nans} NaN and {out.infs} Inf values of "
                f"{out.size} from finite inputs",
                expected="finite values", actual=f"{out.nans} NaN, {out.infs} Inf",
                tensor=out.name,
                help="Check the weights for NaN/Inf and the ops after the recurrence (Log, "
                "Sqrt, Div, Pow) for inputs outside their domain.")


def _others(run: RuntimeRun, first: str) -> str:
    """`` (and outputs 'a', 'b' and 3 more)``: the other outputs with NaN or Inf, which the
    same invented values explain (a streaming model's 45 state outputs are one finding)."""
    names = [out.name for out in run.outputs if (out.nans or out.infs) and out.name != first]
    if not names:
        return ""
    shown = ", ".join(repr(name) for name in names[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f" (and output{'s' if len(names) > 1 else ''} {shown}{more})"
