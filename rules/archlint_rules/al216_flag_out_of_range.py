from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class FlagOutOfRange(LayerRule):
    """layout, input_forget or linear_before_reset is not 0 or 1.

    ## What it does
    These integer attributes are switches: ``layout`` (0: X ``[seq, batch, I]``, 1:
    ``[batch, seq, I]``), ``input_forget`` (LSTM: couple the input and forget gates) and
    ``linear_before_reset`` (GRU). A layout outside {0, 1} is an error; the other two are
    warnings, since runtimes read any nonzero value as 1.

    ## Why is this bad?
    layout decides which axis of X is time: with any other value it is undefined whether
    x_t is X[t] or X[:, t], and onnxruntime refuses the node at session creation
    (``layout_ == 0 was false``). ``linear_before_reset = 2`` runs as 1 on onnxruntime, but a
    value the spec does not define may be read differently elsewhere.

    ## Example
    ``GRU <linear_before_reset: int = 2>``: write 1. See fixtures/AL216/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL216"
    name = "flag-out-of-range"
    severity = Severity.ERROR
    layer_only = True
    summary = "layout, input_forget or linear_before_reset is not 0 or 1"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        flags = (("layout", layer.layout if layer.has_attribute("layout") else None),
                 ("input_forget", layer.input_forget),
                 ("linear_before_reset", layer.linear_before_reset))
        for attribute, value in flags:
            if value is None or value in (0, 1) or layer.attribute_types.get(attribute) != "int":
                continue
            if attribute not in ("layout",) and not _owned(layer, attribute):
                continue  # on the wrong op: AL215's finding
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has {attribute}={value}; the spec defines 0 and 1",
                attribute=attribute, expected="0 or 1", actual=value,
                help=f"Set {attribute} to 0 or 1" + (
                    " (1 for batch-first X [batch, seq, I])." if attribute == "layout"
                    else "; runtimes read any nonzero value as 1."),
                severity=None if attribute == "layout" else Severity.WARNING,
            )


def _owned(layer: RecurrentLayer, attribute: str) -> bool:
    return (attribute, layer.op_type) in (("input_forget", "LSTM"), ("linear_before_reset", "GRU"))
