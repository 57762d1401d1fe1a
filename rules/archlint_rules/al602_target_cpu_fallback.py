from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._targets import placements, provenance, quoted


class TargetCpuFallback(LayerRule):
    """A selected deployment target will run this recurrent node on another device than asked.

    ## What it does
    Only with ``--target`` (or ``targets`` in the configuration). Reports, once per node and
    target, the profile entries that make the runtime hand the node to another provider: on
    onnxruntime-cuda, a node with ``clip``, ``activation_alpha`` or ``activation_beta``,
    non-default activations, an LSTM with ``input_forget != 0`` or a peephole input P, or a GRU
    with ``linear_before_reset != 1`` runs on the CPU (onnxruntime's RNNNeedFallbackToCPU).
    When the receiving provider refuses the node, AL601 reports that instead.

    ## Why is this bad?
    Nothing fails: the session is created, the outputs are right, and the model is slow. The
    whole recurrence (every step's gates i, o, f, c and h_t = o_t ⊙ tanh(c_t)) runs on the
    host, with device-to-host copies of X and the states before it and host-to-device copies of
    Y, Y_h, Y_c after it. The session option ``session.disable_cpu_ep_fallback=1`` turns the
    silent fallback into a session-creation error, which is what a GPU deployment wants.

    ## Example
    ``LSTM <hidden_size: int = 3, clip: float = 5.0>`` under ``--target onnxruntime-cuda``: entry
    ``ort-cuda-fallback-attributes``; onnxruntime-cpu runs the same node as is. See
    fixtures/AL602/bad.onnx.txt and its fix in fixtures/AL602/good.onnx.txt.
    """

    code = "AL602"
    name = "target-cpu-fallback"
    severity = Severity.WARNING
    summary = "a selected deployment target runs this node on another provider (e.g. CUDA -> CPU)"
    fixture_options: ClassVar[dict[str, object]] = {"targets": ("onnxruntime-cuda",)}
    requires_options: ClassVar[frozenset[str]] = frozenset({"targets"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        from archlint.targets import load_profiles  # a lint without targets never reads them

        profiles = load_profiles()
        for placement in placements(ctx, layer):
            moves = [m for m in placement.reasons if m.entry.kind == "fallback"]
            if not moves or placement.refused:
                continue  # a refusal downstream is AL601's finding
            first = moves[0]
            why = "; ".join(f"[{m.entry.id}] {m.entry.reason} ({m.found})" for m in moves)
            cost = profiles[first.entry.profile].fallback_cost or "the node leaves the device"
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} on {placement.target} runs on {placement.provider}, not "
                f"{placement.requested}: {why}. Cost: {cost}. With "
                f"session.disable_cpu_ep_fallback=1 the runtime says{quoted(first)}",
                expected=f"{placement.target}: " + "; ".join(m.entry.expected for m in moves),
                actual="; ".join(m.found for m in moves),
                help=f"{first.entry.help} {provenance(first)}",
                attribute=first.entry.attribute, input=first.entry.input,
            )
