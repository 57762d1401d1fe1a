from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class HiddenSizeNotPositive(LayerRule):
    """The hidden_size attribute is 0 or negative.

    ## What it does
    Reports a ``hidden_size`` attribute that is an integer <= 0, with the H the weights imply
    (R's last axis) when it is known.

    ## Why is this bad?
    H is the number of units: the width of h_t, of each gate and of c_t. A layer with H = 0
    computes nothing, and a negative H is no size at all. onnxruntime refuses LSTM and GRU at
    session creation (``... && int64_value > 0 was false``); for RNN it runs H = 0 into an
    empty Y, and H = -1 fails at Run with a W-shape message.

    ## Example
    ``GRU <hidden_size: int = 0> (X, W, R)`` with R ``[1, 9, 3]``: set hidden_size = 3. See
    fixtures/AL203/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL203"
    name = "hidden-size-not-positive"
    severity = Severity.ERROR
    layer_only = True
    summary = "hidden_size is 0 or negative"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        hidden = layer.hidden_size
        if hidden is None or hidden > 0:
            return
        implied = layer.implied_hidden_size
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has hidden_size={hidden}; it must be a positive number of units",
            attribute="hidden_size", expected=implied if implied is not None else "H > 0",
            actual=hidden,
            help=f"Set hidden_size={implied} (the value R's shape implies)." if implied
            else "Set hidden_size to the width of h_t (R is [D, gates·H, H]).",
        )
