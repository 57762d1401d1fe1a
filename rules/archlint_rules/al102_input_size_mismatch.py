from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe, stored_note


class InputSizeMismatch(LayerRule):
    """W's input-size axis disagrees with the feature axis of X.

    ## What it does
    W is ``[D, gates·H, I]`` and X is ``[seq, batch, I]``: I, the number of features per time
    step, is W's last axis and X's last axis. This rule compares the two when both are known
    numbers (a symbol against a number cannot be proved wrong and is not reported). When W's
    gate axis is already wrong (AL201, e.g. an untransposed Keras kernel), this rule stays
    silent: that is one defect.

    ## Why is this bad?
    Each gate is a_t = W_g·x_t + R_g·h_{t-1} + b_g, so every row of W is dotted with one
    input vector x_t of I features. A W exported for another I cannot be multiplied with
    x_t; onnxruntime fails at the first Run with
    ``Input W must have shape {1,12,2}. Actual:{1,12,5}``. The usual cause is a layer fed
    by a bidirectional layer (2·H features) whose weights were made for H, or an embedding or
    feature extractor that changed width.

    ## Example
    ``LSTM <hidden_size: int = 3> (X, W, R)`` with X ``[seq, batch, 2]`` and W
    ``[1, 12, 5]``: W needs ``[1, 12, 2]``. See fixtures/AL102/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL102"
    name = "input-size-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "W's input-size axis (I) disagrees with X's last dimension"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        w_in = layer.conformable_dim("W", 2)
        x_in = layer.conformable_dim("X", 2)
        if not isinstance(w_in, int) or not isinstance(x_in, int) or w_in == x_in:
            return
        hidden = layer.effective_hidden_size
        rows = layer.conformable_dim("W", 1)
        if hidden is not None and isinstance(rows, int) and rows != layer.gates * hidden:
            return  # W's gate axis is wrong too: AL201 reports W
        shape = layer.shape("W") or ()
        expected = format_shape((*shape[:2], x_in))
        help_text = f"Re-export W for input size {x_in}, or fix what feeds X."
        if x_in == 2 * w_in:
            help_text = (f"X has 2·{w_in} features, as a bidirectional layer before this one "
                         f"makes (its Y concatenates both directions): re-export W for "
                         f"I = {x_in}, or make the previous layer unidirectional.")
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} input W has input size {w_in} but X has {x_in} features "
            f"per step; W must be {expected}{stored_note(layer, 'W')}",
            input="W", expected=expected, actual=format_shape(shape), help=help_text,
        )
