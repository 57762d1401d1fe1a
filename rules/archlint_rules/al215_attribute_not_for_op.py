from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._attrs import attribute_types, opset_note
from archlint_rules._dims import describe
from archlint_rules._fixes import node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor

_BELONGS_TO = {"input_forget": "LSTM", "linear_before_reset": "GRU"}


class AttributeNotForOp(LayerRule):
    """The node carries an attribute its operator does not have.

    ## What it does
    Reports any attribute outside the operator's schema at the model's opset:
    ``input_forget`` exists only on LSTM, ``linear_before_reset`` only on GRU (from opset 3);
    anything else not in the common set (activation_alpha, activation_beta, activations,
    clip, direction, hidden_size, and layout from opset 14) is unknown too. Before opset 7
    the ops also had ``output_sequence``.

    ## Why is this bad?
    input_forget couples the LSTM's input and forget gates (f_t = 1 - i_t);
    linear_before_reset moves the GRU's reset gate after R_h·h_{t-1}. Neither has a meaning
    on another cell, so the author expected a behaviour the node will not have. The ONNX
    checker rejects the model (``Unrecognized attribute``), and onnxruntime refuses it at
    session creation.

    ## Example
    ``GRU <input_forget: int = 1>``: GRU has no input/forget coupling; remove the attribute.
    See fixtures/AL215/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL215"
    name = "attribute-not-for-op"
    severity = Severity.ERROR
    layer_only = True
    summary = "An attribute the operator does not have (input_forget on GRU, ...)"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        opset = ctx.model.opset
        known = attribute_types(layer, opset)
        for attribute in layer.attribute_types:
            if attribute in known:
                continue
            owner = _BELONGS_TO.get(attribute)
            where = f"; it is an {owner} attribute" if owner == "LSTM" else (
                f"; it is a {owner} attribute" if owner else "")
            when = opset_note(attribute, layer, opset)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has attribute {attribute!r}, which {layer.display_op} does "
                f"not have{when}{where}",
                attribute=attribute, expected=f"one of {', '.join(sorted(known))}",
                actual=attribute,
                help=_help(layer, attribute, owner, when),
            )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Drop another cell's attribute (the op's equations never read it); drop ``layout``
        on a contrib op only when it is 0 (its only layout). An unknown attribute may be a
        typo whose intent is a guess: no fix."""
        node = node_of(finding, editor)
        attribute = finding.location.attribute
        if node is None or attribute is None:
            return None
        attr = next((a for a in node.attribute if a.name == attribute), None)
        if attr is None:
            return None
        if attribute == "layout" and not (attr.type == attr.INT and attr.i == 0):
            return None  # layout=1 on a sequence-first op needs transposes, not a deletion
        if attribute != "layout" and attribute not in _BELONGS_TO:
            return None
        return Fix(f"remove attribute {attribute!r} ({node.op_type} does not have it)",
                   Safety.SAFE, lambda: editor.remove_attribute(node, attribute))


def _help(layer: RecurrentLayer, attribute: str, owner: str | None, when: str) -> str:
    if attribute == "layout" and when:
        return ("Remove 'layout' (before opset 14 every recurrent op is sequence first, "
                "layout=0; if it was 1, transpose X, the states and the outputs around the "
                "node), or raise the model's opset to 14.")
    if attribute == "output_sequence" and when:
        return "Remove 'output_sequence': from opset 7 on, Y is an optional output."
    if attribute == "linear_before_reset" and when:
        return "Raise the model's opset to 3 or later, or remove 'linear_before_reset'."
    if attribute == "layout" and layer.display_op != layer.op_type:
        return (f"Remove 'layout': {layer.display_op} is always sequence first (layout=0); if "
                "it was 1, transpose X, the states and the outputs around the node.")
    return f"Remove {attribute!r}" + (f" (it belongs to {owner} nodes)." if owner else ".")
