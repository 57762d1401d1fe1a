from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class PlacementPredictionMismatch(RuntimeRule):
    """Where onnxruntime placed a recurrent node contradicts the target profile's prediction.

    ## What it does
    Compares, for every LSTM, GRU or RNN node that onnxruntime placed or refused, what the
    runtime did with what the deployment target profile of the first requested provider
    predicts from the static view (the prediction of ``archlint lint --target``):
    CPUExecutionProvider is described by the ``onnxruntime-cpu`` profile,
    CUDAExecutionProvider by ``onnxruntime-cuda`` (fallback to the CPU included). A node that
    ran where the profile predicted a refusal, a node a kernel refused at session creation
    where the profile predicted it runs, and a node that ran on another provider than
    predicted are reported, with the profile entries behind the prediction and the installed
    onnxruntime version. For TensorRT and OpenVINO the profiles describe the standalone parser
    or frontend, whose refusal onnxruntime turns into a hand-off to the next provider: there
    only "on that provider or not" is compared (for OpenVINO only a predicted refusal, since
    its provider also keeps nodes off by its own operator table). Pin or patch a profile with
    ``archlint run --profiles DIR``.

    ## Why is this bad?
    The profiles are data read from one runtime version: which attributes make the CPU kernel
    refuse a node at session creation (``layout = 1``: the kernels only compute
    h_t = o_t ⊙ tanh(c_t) over X ``[seq, batch, I]``), which send it from cuDNN to the CPU
    (``clip``, non-default activations of the gates i, o, f, c). When a runtime release
    changes one of them, the static target checks (AL601-AL603) start to warn about models
    that deploy fine, or stay silent about ones that do not. The runtime's own placement is the
    ground truth; a disagreement says which profile entry to re-check.

    ## Example
    fixtures/AL512/bad.onnx.txt is a GRU with ``linear_before_reset = 1`` (the gate
    r_t is applied after R_h·h_{t-1}, as in PyTorch), run on the CPU with
    fixtures/AL512/stale-profiles/, a copy of the CPU profile with one wrong entry claiming the
    CPU kernel refuses such a GRU. onnxruntime runs it, so the entry is reported as stale.
    fixtures/AL512/good.onnx.txt is the same model with the built-in profiles: the prediction
    agrees.
    """

    code = "AL512"
    name = "placement-prediction-mismatch"
    severity = Severity.WARNING
    summary = "onnxruntime placed a recurrent node where its target profile did not predict"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        for m in run.prediction:
            yield ctx.finding(
                self, m.layer,
                f"{m.layer.op_type} {m.layer.label!r} {m.observed}, but profile {m.target} "
                f"predicted {m.predicted} ({m.reasons}): the profile is stale for onnxruntime "
                f"{m.version}",
                expected=m.predicted, actual=m.actual, attribute=m.attribute, input=m.input,
                help=f"Check the entries named against onnxruntime {m.version} and correct "
                "them in a copy of the profile that `archlint run --profiles DIR` uses in "
                "place of the built-in one (docs/targets.md, \"Keeping profiles honest\"); "
                "report the finding with `pip show onnxruntime` to archlint so the shipped "
                "profile is fixed.")
