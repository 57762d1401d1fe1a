from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.patterns import upstream_layer
from archlint_rules._dims import describe


class StackedInputSizeMismatch(Rule):
    """Layer k+1's input size I differs from D_k·H_k, the feature size of layer k's output.

    ## What it does
    For each LSTM, GRU or RNN whose X is the Y of another recurrent node reshaped through
    Transpose / Reshape / Squeeze only (a stacked layer), it compares layer k+1's input size
    I (the last axis of W ``[D, gates·H, I]``) with D_k·H_k of layer k. It reports only when X's
    own feature axis is not a known number, i.e. when the per-node check of X against W cannot
    see the mismatch (a Reshape target computed at run time, as the dynamo exporter writes it).

    ## Why is this bad?
    Layer k+1 reads, at each time step, the features of layer k: h_t of the forward direction
    followed by h_t of the backward one, D_k·H_k values (PyTorch: ``input_size`` of layer
    k+1 is ``D·hidden_size``). W·x_t of layer k+1 needs exactly that many columns. With any
    other I the model loads (the shape is only known at run time) and onnxruntime fails in the
    LSTM on the first call.

    ## Example
    A bidirectional ``LSTM <hidden_size: int = 3>`` flattened to ``[seq, batch, 6]`` by a
    computed Reshape, feeding an LSTM whose W is ``[1, 12, 3]``: layer 1 needs W
    ``[1, 12, 6]``. See fixtures/AL313/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL313"
    name = "stacked-input-size-mismatch"
    severity = Severity.ERROR
    summary = "stacked layer's input size I differs from D·H of the layer feeding it"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        by_node = {layer.node.id: layer for layer in ctx.layers}
        for layer in ctx.layers:
            x = layer.tensor("X")
            if x is None or x.rank not in (None, 3) or isinstance(x.dim(2), int):
                continue  # a known X feature axis is compared with W by the per-node rules
            up = upstream_layer(ctx.graph, layer, by_node)
            size = layer.dim("W", 2)
            if up is None or not isinstance(size, int):
                continue
            d, h = up.num_directions, up.effective_hidden_size
            if d is None or h is None or size == d * h:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} reads the output of {describe(up)} (D={d}, H={h}: "
                f"{d * h} features per step) but its W has input size {size}",
                input="W", expected=f"I = D·H = {d * h}", actual=f"I = {size}",
                help=f"Re-export {layer.label}'s W (and hence R, B) for input size {d * h}, or "
                f"check that {up.label}'s Y is flattened to [seq, batch, D·H].",
            )
