from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._targets import placements, provenance, quoted


class TargetBehaviourDiffers(LayerRule):
    """A selected deployment target runs this recurrent node, but not the way the others do.

    ## What it does
    Only with ``--target`` (or ``targets`` in the configuration). Reports the profile entries of
    kind ``differs`` for the provider where the node lands: on onnxruntime-cuda a
    ``sequence_lens`` input that is not a constant proven > 0 (zero lengths are run as length 1
    and masked), on TensorRT a recurrent node inside a Loop body (engine-build failures reported
    for TensorRT 7.x), on OpenVINO a negative ``clip`` (taken as its absolute value).

    ## Why is this bad?
    The node runs, so tests on one runtime pass and the difference shows up on the other:
    extra work per empty sequence (and Y_h = 0 rather than initial_h for it), an engine that
    does not build, a clip threshold on the gate pre-activations that is not the one written.

    ## Example
    ``LSTM (X, W, R, , seq_lens)`` with ``seq_lens`` a graph input under ``--target
    onnxruntime-cuda``: entry ``ort-cuda-zero-sequence-lens``. See fixtures/AL603/bad.onnx.txt
    and its fix (constant lengths > 0) in fixtures/AL603/good.onnx.txt.
    """

    code = "AL603"
    name = "target-behaviour-differs"
    severity = Severity.WARNING
    summary = "a selected deployment target runs this node with a documented difference"
    fixture_options: ClassVar[dict[str, object]] = {"targets": ("onnxruntime-cuda",)}
    requires_options: ClassVar[frozenset[str]] = frozenset({"targets"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        for placement in placements(ctx, layer):
            for match in placement.reasons:
                entry = match.entry
                if entry.kind != "differs":
                    continue
                said = f"; the runtime says{quoted(match)}" if match.runtime_message else ""
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} on {placement.target} behaves differently at "
                    f"{entry.stage} [{entry.id}]: {entry.reason}{said}",
                    expected=f"{placement.target}: {entry.expected}", actual=match.found,
                    help=f"{entry.help} {provenance(match)}",
                    attribute=match.entry.attribute, input=match.entry.input,
                )
