from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint_rules._runtime import output_differences

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class CompareModelMismatch(RuntimeRule):
    """The model's outputs differ from a second model's (``--compare-model``) on the same inputs.

    ## What it does
    Feeds the same random inputs (cast to the second model's input dtypes) to both models and
    compares outputs of the same name with ``|a - b| <= atol + rtol·|b|`` (defaults
    rtol = 1e-3, atol = 1e-3). Use it to check an fp16 or quantized export against its fp32
    original.

    ## Why is this bad?
    Reduced precision changes every product W·x_t and R·h_{t-1}, and the recurrence feeds the
    error back: h_t depends on all earlier steps. A conversion that is fine for one step can
    drift over a long sequence, or saturate a gate (σ near 0 or 1) and flip a decision.

    ## Example
    fixtures/AL511/bad.onnx is fixtures/AL511/lstm_fp32.onnx converted with onnxconverter-common
    ``float16.convert_float_to_float16`` (script fixtures/AL511/make_fp16.py), checked against
    the fp32 original with ``rtol = 0, atol = 1e-6``: the fp16 rounding shows. With the default
    tolerances the same model passes (fixtures/AL511/good.onnx).
    """

    code = "AL511"
    name = "compare-model-mismatch"
    severity = Severity.ERROR
    summary = "Outputs differ from --compare-model (e.g. the fp32 original) on the same inputs"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        yield from output_differences(self, run, ctx, "compare_model")
