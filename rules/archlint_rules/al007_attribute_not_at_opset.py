from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.onnx_ops import attribute_versions, attributes_at, checkable_opset
from archlint.recurrent import RECURRENT_OPS
from archlint_rules._layout import node_text, others_text

_ONNX_DOMAINS = ("", "ai.onnx")


class AttributeNotAtOpset(Rule):
    """A node of the ONNX domain has an attribute its op does not have at the model's opset.

    ## What it does
    For each op whose versions (from opset 7 on) do not all name the same attributes, finds
    the nodes that carry an attribute the version in force at the model's opset does not
    define: one of a later version (Split's ``num_outputs``, opset 18; DequantizeLinear's
    ``axis``, opset 13), of an earlier one (Squeeze's ``axes``, an input from opset 13), or of
    none. Each (op, attribute) is reported once, at its first node, with how many others
    carry it. Nodes inside model-local functions (their own opset) are left alone; the
    attributes of LSTM, GRU and RNN are AL215's.

    ## Why is this bad?
    onnxruntime checks every node against the schema of the model's opset and refuses to
    load the model (``Unrecognized attribute: num_outputs for operator Split``), as
    ``onnx.checker`` does. onnx's shape inference does not mind, so an export can look fine
    until it is loaded. Exporters write such nodes when asked for an opset below the one they
    build in: torch's dynamo exporter with ``opset_version=17`` keeps the opset-18 Split of
    an ``nn.LSTMCell`` loop; onnxruntime's static quantizer with ``per_channel=True`` writes
    DequantizeLinear's ``axis`` into an opset-10 or 11 model.

    ## Example
    ``Split <axis: int = 1, num_outputs: int = 4> (gates)`` in a model that imports opset 17:
    give the split sizes as Split's second input (opset 13 to 17), or import opset 18. See
    fixtures/AL007/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL007"
    name = "attribute-not-at-opset"
    severity = Severity.ERROR
    summary = "A node of the ONNX domain has an attribute its op does not have at the model's opset"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        opset = checkable_opset(ctx.model.opset)
        if opset is None:
            return  # no (valid) ONNX opset imported, or one newer than onnx here knows
        for op_type in sorted(ctx.graph.op_types - RECURRENT_OPS):  # AL215's
            allowed = attributes_at(op_type, opset)
            if allowed is None:
                continue
            reported: dict[str, list[str]] = {}
            for node_id, attribute in ctx.graph.attributes_outside(op_type, allowed):
                node = ctx.graph.node(node_id)
                if node.domain not in _ONNX_DOMAINS or ctx.graph.in_function_body(node.graph):
                    continue
                reported.setdefault(attribute, []).append(node_id)
            for attribute, ids in reported.items():
                yield self._finding(ctx, op_type, attribute, ids, allowed, opset)

    def _finding(self, ctx: RuleContext, op_type: str, attribute: str, ids: list[str],
                 allowed: frozenset[str], opset: int) -> Finding:
        node = ctx.graph.node(ids[0])
        others = len(ids) - 1
        also = others_text(others)
        has = ", ".join(sorted(allowed)) or "no attributes"
        return ctx.finding(
            self, node,
            f"{node_text(node)}{also} has attribute {attribute!r}, which {op_type} does not "
            f"have at opset {opset} (it has {has}): onnxruntime refuses to load the model",
            attribute=attribute, expected=f"{op_type}'s attributes at opset {opset}: {has}",
            actual=attribute,
            help=_fix(op_type, attribute, opset),
        )


def _fix(op_type: str, attribute: str, opset: int) -> str:
    """How to make the node what the model's opset defines, from where the attribute is."""
    having = [since for since, names in attribute_versions(op_type) if attribute in names]
    later = [since for since in having if since > opset]
    if later:
        return (f"{op_type} has {attribute!r} from opset {min(later)}: re-export at opset "
                f"{min(later)} or later (torch's dynamo exporter builds its graph at opset 18 "
                "and leaves such nodes at a lower opset_version), or write the node as "
                f"{op_type} at opset {opset} defines it.")
    if having:
        return (f"{op_type} took {attribute!r} as an attribute only up to an earlier opset; "
                f"at opset {opset} it is an input (or gone): re-export at opset {opset}, or "
                "convert the model with onnx.version_converter rather than by changing its "
                "opset_import.")
    return f"No version of {op_type} has {attribute!r}: remove it."
