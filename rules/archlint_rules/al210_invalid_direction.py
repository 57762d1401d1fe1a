from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._fixes import node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


class InvalidDirection(LayerRule):
    """The direction attribute is not forward, reverse or bidirectional.

    ## What it does
    Reports a string ``direction`` attribute whose value is none of ``forward``, ``reverse``
    and ``bidirectional`` (the spec's values, case-sensitive).

    ## Why is this bad?
    direction decides D = num_directions and the order in which x_1..x_T are fed to
    h_t = f(x_t, h_{t-1}): forwards, backwards, or both with two sets of weights. Any other
    value leaves D undefined, so none of the weight shapes can be checked. onnxruntime
    refuses the node at session creation (``Invalid 'direction' argument of 'sideways'.
    Must be one of 'forward', 'reverse', or 'bidirectional'.``).

    ## Example
    ``LSTM <direction: string = "Bidirectional">``: the value is case-sensitive; write
    ``"bidirectional"``. See fixtures/AL210/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL210"
    name = "invalid-direction"
    severity = Severity.ERROR
    layer_only = True
    summary = "direction is not 'forward', 'reverse' or 'bidirectional'"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.num_directions is not None or layer.attribute_types.get("direction") != "string":
            return
        near = next((d for d in ("forward", "reverse", "bidirectional")
                     if d == layer.direction.strip().lower()), None)
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has direction={layer.direction!r}; the spec allows 'forward', "
            "'reverse' or 'bidirectional'",
            attribute="direction", expected="forward | reverse | bidirectional",
            actual=layer.direction,
            help=f"Write direction={near!r} (the value is case-sensitive)." if near
            else "Set direction to 'forward', 'reverse' or 'bidirectional' (D = 1, 1, 2).",
        )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Casing and spaces only: 'Bidirectional' -> 'bidirectional' means what it says;
        any other word is a guess, so it has no fix."""
        node = node_of(finding, editor)
        near = next((d for d in ("forward", "reverse", "bidirectional")
                     if d == (finding.actual or "").strip().lower()), None)
        if node is None or near is None:
            return None
        return Fix(f"direction {finding.actual!r} -> {near!r}", Safety.SAFE,
                   lambda: editor.set_attribute(node, "direction", near))
