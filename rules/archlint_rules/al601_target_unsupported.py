from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._targets import placements, provenance, quoted

_KINDS = ("refused", "miscomputed")


class TargetUnsupported(LayerRule):
    """A selected deployment target refuses this recurrent node, or runs it with wrong results.

    ## What it does
    Only with ``--target`` (or ``targets`` in the configuration). For each selected target it
    predicts where each LSTM/GRU/RNN node runs (docs/targets.md) and reports the profile entries
    that make the runtime refuse the node (at session creation, at Run, or when parsing) or run
    it silently wrong. A node that falls back to another provider is judged by the provider that
    receives it: an LSTM with ``clip=0`` on onnxruntime-cuda falls back to the CPU, whose kernel
    refuses ``clip <= 0``. The message names the target, the profile entry, the reason and the
    runtime's own words, so the error a user would meet can be searched for.

    ## Why is this bad?
    The model is valid ONNX, so nothing fails until it reaches the device. onnxruntime's kernels
    enforce more than the spec: ``layout=1`` (X as ``[batch, seq, I]``) is refused outright
    ("Batchwise recurrent operations (layout == 1) are not supported."), ``hidden_size`` must be
    written although the spec lets H come from R ``[D, g·H, H]``, and a clip threshold on the
    pre-activations of i, f, c must be positive. Other runtimes do worse: OpenVINO's ONNX
    frontend never reads ``layout`` and runs a batch-first model with wrong h_t values.

    ## Example
    ``LSTM <hidden_size: int = 3, layout: int = 1>`` under ``--target onnxruntime-cpu``: entry
    ``ort-cpu-layout``; fix by exporting with ``layout=0`` and Transposes around the node. See
    fixtures/AL601/bad.onnx.txt and its fix in fixtures/AL601/good.onnx.txt.
    """

    code = "AL601"
    name = "target-unsupported"
    severity = Severity.ERROR
    summary = "a selected deployment target refuses this node or runs it with wrong results"
    fixture_options: ClassVar[dict[str, object]] = {"targets": ("onnxruntime-cpu",)}
    requires_options: ClassVar[frozenset[str]] = frozenset({"targets"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        for placement in placements(ctx, layer):
            for match in placement.reasons:
                entry = match.entry
                if entry.kind not in _KINDS:
                    continue
                handed_on = entry.profile != placement.target
                if handed_on:
                    subject = (f"{describe(layer)} falls back from {placement.target} to "
                               f"{entry.profile}, which")
                    verdict = ("refuses it at " + entry.stage if entry.kind == "refused"
                               else "computes it wrongly with no error")
                else:
                    subject = f"{describe(layer)} on {placement.target}"
                    verdict = ("is refused at " + entry.stage if entry.kind == "refused"
                               else "runs with wrong results and no error")
                said = f"; the runtime says{quoted(match)}" if match.runtime_message else ""
                yield ctx.finding(
                    self, layer, f"{subject} {verdict} [{entry.id}]: {entry.reason}{said}",
                    expected=f"{placement.target}: {entry.expected}", actual=match.found,
                    help=f"{entry.help} {provenance(match)}",
                    attribute=match.entry.attribute, input=match.entry.input,
                )
