from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class ClipNotPositive(LayerRule):
    """The clip attribute is 0 or negative.

    ## What it does
    Reports a ``clip`` attribute <= 0. clip is the cell clip threshold: pre-activations are
    clamped to [-clip, +clip], so only a positive value means anything.

    ## Why is this bad?
    Clipping bounds W x_t + R h_{t-1} + b before f, g, h are applied. clip = 0 clamps every
    gate input to 0 (every gate reads f(0), the layer ignores its input), and a negative
    threshold is an empty range. onnxruntime refuses LSTM and GRU at session creation
    (``clip_ > 0.f was false.``); its RNN runs clip = 0 as "clamp to 0" and a negative clip
    as "no clip", and OpenVINO takes |clip|: the same model means three things.

    ## Example
    ``LSTM <clip: float = -1.0>`` (an exporter's "no clip" sentinel): drop the attribute. See
    fixtures/AL214/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL214"
    name = "clip-not-positive"
    severity = Severity.ERROR
    layer_only = True
    summary = "clip is 0 or negative"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.clip is None or layer.clip > 0:
            return
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has clip={layer.clip:g}; the clip threshold must be > 0",
            attribute="clip", expected="clip > 0 (or no clip attribute)", actual=f"{layer.clip:g}",
            help="Remove the attribute for no clipping, or set the positive threshold meant.",
        )
