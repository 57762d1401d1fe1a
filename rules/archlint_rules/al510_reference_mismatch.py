from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class ReferenceMismatch(RuntimeRule):
    """A recurrent node's outputs in onnxruntime differ from the onnx reference evaluator's.

    ## What it does
    Captures each main-graph LSTM, GRU and RNN node's inputs and outputs from an onnxruntime
    run and runs the node alone through ``onnx.reference.ReferenceEvaluator`` (the ONNX spec in
    numpy) on the same inputs, comparing Y, Y_h and Y_c with rtol/atol. A float16 node is
    evaluated in float32 from its float16 inputs, as onnxruntime's CPU kernels compute it
    (numpy's float16 arithmetic drifts by 2e-3 over a 256-wide layer), and its float16
    outputs are compared no tighter than float16 holds (2^-10). Nodes the reference
    cannot represent are skipped, and the report says why: it ignores ``clip``,
    ``input_forget``, ``activation_alpha``/``beta``, non-default LSTM/GRU activations and
    ``sequence_lens`` (when a length is shorter than seq); for RNN it knows only Tanh.

    ## Why is this bad?
    The reference evaluator is the spec's equations: i_t = σ(W_i x_t + R_i h_{t-1} + b_i) and so
    on, with c_t = f_t ⊙ c_{t-1} + i_t ⊙ c~_t and h_t = o_t ⊙ tanh(c_t). A runtime that
    disagrees beyond float rounding is computing a different recurrence than the one exported.

    ## Example
    fixtures/AL510/bad.onnx.txt is a plain LSTM checked with ``rtol = 0, atol = 0``
    (fixtures/AL510/runtime.json): float rounding in onnxruntime's fused kernels shows up as a
    difference of about 1e-7. A float16 LSTM with the default tolerances agrees
    (fixtures/AL510/good).
    """

    code = "AL510"
    name = "reference-mismatch"
    severity = Severity.ERROR
    summary = "A recurrent node disagrees with onnx.reference on the same inputs"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        rtol, atol = run.settings.rtol, run.settings.atol
        for found in run.reference:
            layer, diff = found.layer, found.diff
            yield ctx.finding(
                self, layer,
                f"{layer.op_type} {layer.label!r} output {found.slot} differs from "
                f"onnx.reference on the same inputs: {diff.summary()} (rtol={rtol:g}, "
                f"atol={atol:g})",
                expected=f"|ort - ref| <= {atol:g} + {rtol:g}·|ref|",
                actual=f"max abs {diff.max_abs:.3g}, max rel {diff.max_rel:.3g}",
                output=found.slot,
                help="onnxruntime computes this node differently from the spec: an "
                "attribute it implements differently, another precision on another provider, "
                "or, under a tolerance tighter than float rounding, the rounding of its fused "
                "kernels (about 1e-7 in float32) (docs/runtime.md).")
