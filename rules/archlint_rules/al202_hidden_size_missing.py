from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._fixes import node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


class HiddenSizeMissing(LayerRule):
    """An LSTM, GRU or RNN node has no hidden_size attribute.

    ## What it does
    Reports a node without the ``hidden_size`` attribute, and states the H its weights imply
    (R ``[D, gates·H, H]``: R's last axis), so the fix is one attribute.

    ## Why is this bad?
    H is the width of h_t, of every gate (i, o, f, c for an LSTM) and of the cell state c_t.
    The ONNX schema marks ``hidden_size`` optional, but onnxruntime refuses the node at
    session creation (``info.GetAttr("hidden_size", &int64_value).IsOK() && int64_value > 0
    was false``), and TensorRT and OpenVINO require it too. Only the onnx reference evaluator
    runs it, taking H from R's shape. There is no separate "cell size" to give instead: c_t is
    H wide because h_t = o_t ⊙ tanh(c_t) is elementwise.

    ## Example
    ``LSTM (X, W, R)`` with R ``[1, 12, 3]``: add ``<hidden_size: int = 3>``. See
    fixtures/AL202/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL202"
    name = "hidden-size-missing"
    severity = Severity.ERROR
    layer_only = True
    summary = "hidden_size attribute is missing (onnxruntime, TensorRT and OpenVINO require it)"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.has_attribute("hidden_size"):
            return  # a present but invalid value is AL203's or AL217's finding
        implied = layer.implied_hidden_size
        if implied is None:
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has no hidden_size attribute, and its weight shapes are "
                "unknown",
                attribute="hidden_size", expected="hidden_size = H", actual="absent",
                help="Add hidden_size = H, the width of h_t (R is [D, gates·H, H]).",
            )
            return
        source = ("R implies" if isinstance(layer.conformable_dim("R", 2), int)
                  else "the weights imply")
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has no hidden_size attribute; {source} hidden_size={implied}",
            attribute="hidden_size", expected=implied, actual="absent",
            help=f"Add the attribute hidden_size={implied}.",
        )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Add hidden_size = the H that R's shape implies (none when the weights' shapes are
        unknown). onnxruntime refused the node; the fixed one computes what the weights say."""
        node = node_of(finding, editor)
        if node is None or not (finding.expected or "").isdigit():
            return None  # the weights' shapes are unknown: nothing to set it from
        hidden = int(finding.expected or "0")
        return Fix(f"add hidden_size={hidden} (from R's shape)", Safety.SAFE,
                   lambda: editor.set_attribute(node, "hidden_size", hidden))
