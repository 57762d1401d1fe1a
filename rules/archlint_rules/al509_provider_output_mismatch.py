from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint_rules._runtime import output_differences

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class ProviderOutputMismatch(RuntimeRule):
    """The requested provider's outputs differ from the ``--compare`` provider's.

    ## What it does
    Runs the same inputs on the requested providers and on the ``--compare`` provider (usually
    ``cpu``) and compares every output with ``|a - b| <= atol + rtol·|b|`` (defaults
    rtol = 1e-3, atol = 1e-3, set with ``--rtol`` and ``--atol``). The finding names the
    output and gives the largest absolute and relative differences.

    ## Why is this bad?
    cuDNN and the CPU kernels compute the same recurrence in a different order and precision
    (TF32, fused gates). Small differences are normal; a large one means the provider computes
    another function, for example one that ignores an attribute (clip, input_forget) or the
    sequence_lens mask, and it grows with every step t through h_{t-1}.

    ## Example
    ``archlint run model.onnx --provider cuda --compare cpu --rtol 0 --atol 0`` shows the
    differences even when they are tiny. fixtures/AL509/runtime.json does that on an LSTM; it
    needs a GPU (the fixture test is skipped without CUDAExecutionProvider).
    """

    code = "AL509"
    name = "provider-output-mismatch"
    severity = Severity.ERROR
    summary = "Outputs on the requested provider differ from the --compare provider"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        yield from output_differences(self, run, ctx, "compare")
