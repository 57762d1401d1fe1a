from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.recurrent import RECURRENT_OPS
from archlint.runtime.providers import CPU

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


_FALLBACK_HELP = ("cuDNN cannot run this node as exported (clip, activation alpha/beta, "
                  "non-default activations, input_forget, peepholes, or a GRU with "
                  "linear_before_reset=0); re-export without them to keep it on GPU.")


class RecurrentCpuFallback(RuntimeRule):
    """A recurrent node ran on the CPU although a GPU provider was requested.

    ## What it does
    Reads onnxruntime's profile of the first run, which records the provider of every node,
    and reports each LSTM, GRU or RNN node that ran on CPUExecutionProvider while the first
    requested provider was another one. The report lists the placement of every node.

    ## Why is this bad?
    onnxruntime's CUDA provider hands a recurrent node to the CPU when cuDNN cannot compute
    it: a ``clip`` or ``activation_alpha``/``activation_beta`` attribute, non-default
    activations (i, o, f must be sigmoid and c, h tanh), ``input_forget``, peepholes P, and a
    GRU with ``linear_before_reset = 0`` (the default: cuDNN computes
    r_t ⊙ (R_h·h_{t-1} + Rb_h), not R_h·(r_t ⊙ h_{t-1})). Every time step then copies X, h and
    c between the devices, and the GPU sits idle for the most expensive node.

    ## Example
    fixtures/AL506/bad.onnx.txt is a GRU with the default ``linear_before_reset = 0``: on
    ``--provider cuda`` it runs on CPU. Export with ``linear_before_reset = 1`` (PyTorch's
    nn.GRU already computes it that way), as in fixtures/AL506/good.onnx.txt.
    """

    code = "AL506"
    name = "recurrent-cpu-fallback"
    severity = Severity.WARNING
    summary = "An LSTM/GRU/RNN node ran on CPU although a GPU provider was requested"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        first = run.providers[0]
        if first == CPU:
            return
        for placed in run.placed:
            if placed.provider == CPU:
                yield ctx.finding(
                    self, placed.node, f"{placed.op_type} {placed.label!r} ran on {CPU}, not on "
                    f"{first}", expected=first, actual=placed.provider,
                    help=_FALLBACK_HELP if placed.op_type in RECURRENT_OPS else
                    f"onnxruntime has no GPU kernel for the contrib op {placed.op_type}: deploy "
                    "the float model (an ONNX LSTM) for the GPU and keep the quantized one for "
                    "CPU targets.")
