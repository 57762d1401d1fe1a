from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.recurrent import Recognition
from archlint.runtime.collector import trim

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class RunFailedOnInventedInputs(RuntimeRule):
    """onnxruntime failed on values archlint had to invent: give them, then judge the model.

    ## What it does
    When ``run`` raises while some fed values came from no declared range (an integer input
    that no Gather or ``sequence_lens`` bounds, such as a sample rate or a mode selector; a
    boolean condition; a dimension with neither a size nor a name), reports a warning that
    names those inputs and the flags to give them (``--input sr=16000``,
    ``--dim input:1=512``), instead of AL502's error against the model.

    A named dimension is bound to a default (batch 2, seq 5, any other 3). When ``run`` raises
    at those defaults, archlint runs the model again with every such dimension but the batch
    at 512. When that run succeeds, the check goes on from it (outputs, placement, reference,
    and the sweep, 512 -> 514 included) and this rule reports the first failure as a warning
    that names the dimensions to give (``--dim samples=SIZE``). When it fails otherwise, or
    cannot be made (no time left, inputs too big), the warning says so too. Only the same
    failure at both sizes (same node, same message) is AL502's error.

    ## Why is this bad?
    A model whose ``If`` branches on a sample rate, or that cuts its input in fixed chunks,
    declares neither in its types: a made-up ``sr`` of 2 or a chunk of 1 sample fails where
    the model is fine. A model that needs a minimum length declares that neither:
    ``silero_vad_half.onnx`` in the ``silero-vad`` 6.2 package reflect-pads its
    ``[batch, sequence]`` audio by 64 samples, so 5 samples fail in onnxruntime's Pad, and
    256 to 576 samples run. archlint cannot tell the model's fault from its own guess, so it
    says what it guessed and how to give the real values; the error comes once they are given.

    ## Example
    fixtures/AL514/bad.onnx.txt picks a Gather row with an integer ``mode`` no consumer
    bounds (a Gather over a runtime tensor); fixtures/AL514/good.onnx.txt bounds it by
    gathering from an initializer. fixtures/runtime_sizes/reflect_pad_lstm.onnx.txt
    reflect-pads its ``samples`` by 64 before an LSTM: it fails at the default 3 samples and
    runs at 512.
    """

    code = "AL514"
    name = "run-failed-on-invented-inputs"
    severity = Severity.WARNING
    summary = "the run failed on input values archlint invented; give them (runtime check)"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        retried = run.retried
        if retried is not None and retried.outcome == "ran":
            yield ctx.finding(
                self, retried.node,
                f"onnxruntime failed to run the model on {retried.on} at the sizes archlint "
                f"chose ({retried.first}) and ran it at {run.binding}: {trim(retried.error)}",
                expected="the sizes the model is meant to get",
                actual=f"{retried.first}, chosen by archlint for {', '.join(retried.dims)}",
                help=f"Give them and run again: archlint run {' '.join(retried.flags)} (or "
                "--inputs FILE.npz), or [tool.archlint.runtime] dims in the config for lint "
                "--runtime; the rest of this check ran at the larger sizes." + _unrolled(ctx))
            return
        main = run.main
        if main is None or main.status != "run_failed":
            return
        # a failure at sizes archlint chose that a larger size did not clear up, or on values
        # it invented: which of its guesses is at fault, archlint cannot tell
        doubt = retried if retried is not None and retried.outcome != "same_failure" else None
        if not run.invented and doubt is None:
            return  # the model's own failure: AL502
        names = [*run.invented, *(doubt.dims if doubt else ())]
        flags = [*run.invented_flags, *(doubt.flags if doubt else ())]
        what = (f"values archlint invented for {', '.join(run.invented)}" if run.invented
                else f"the sizes archlint chose for {', '.join(names)}")
        later = ""
        if doubt is not None:
            later = (f"; at {doubt.second} it failed too, otherwise: {doubt.detail}"
                     if doubt.outcome == "failed" else f"; not run at larger sizes: {doubt.detail}")
        tables = " and ".join(key for key, flag in (("inputs", "--input "), ("dims", "--dim "))
                              if any(f.startswith(flag) for f in flags))
        yield ctx.finding(
            self, main.node,
            f"onnxruntime failed to run the model on {main.on} with {what}: "
            f"{trim(main.error)}{later}",
            expected=f"values of {', '.join(names)} the model is meant to get",
            actual=f"invented ({run.binding})" if run.binding else "invented",
            help=f"Give them and run again: archlint run {' '.join(flags)} (or --inputs "
            f"FILE.npz), or [tool.archlint.runtime] {tables} in the config for lint "
            "--runtime; an error against the model comes from a run on values it accepts."
            + _unrolled(ctx))


def _unrolled(ctx: RuleContext) -> str:
    """A word on the recurrent chains unrolled to a fixed number of steps (AL317's), which
    fail below that length whatever the sizes: bigger ones do not make the model right."""
    steps = sorted({layer.cell.steps for layer in ctx.recognised
                    if layer.recognised_as is Recognition.UNROLLED and layer.cell is not None
                    and layer.cell.stepped is not None and layer.cell.steps})
    if not steps:
        return ""
    counts = " and ".join(map(str, steps))
    return (f" This model holds recurrent layers unrolled to {counts} steps (AL317): below "
            "that length they fail and above it they read only the first steps, whatever "
            "sizes are given.")
