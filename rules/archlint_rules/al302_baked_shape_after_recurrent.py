from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import align_reshape, attr_int, reshape_target
from archlint.shapes import Dim, format_shape
from archlint_rules._layout import downstream_of_recurrent, dynamic_symbols, ints_text, node_text


class BakedShapeAfterRecurrent(Rule):
    """A constant Reshape/Expand target after a recurrent node fixes an axis declared dynamic.

    ## What it does
    Looks at every Reshape and Expand downstream of an LSTM, GRU or RNN whose target shape is a
    constant. It lines the target up with the axes of the data it reshapes (a ``0`` copies an
    axis, a number takes the run of known axes whose product it is, the ``-1`` takes what is
    left) and reports a number that stands where the data has a symbolic axis, such as the
    ``seq`` or ``batch`` of the graph input X ``[seq, batch, I]``.

    ## Why is this bad?
    A recurrent node's outputs carry the sequence and batch axes of X: Y is
    ``[seq, D, batch, H]`` and Y_h, Y_c are ``[D, batch, H]``. Flattening Y to
    ``[seq, batch, D·H]`` with the constant target ``[5, -1, 6]`` hard-codes the sequence length
    of the export example (5). The graph still declares ``seq`` dynamic, so nothing warns until
    a caller feeds 7 steps: onnxruntime then fails in the Reshape ("cannot be reshaped to the
    requested shape"), or, when the element count happens to divide, silently mixes sequence
    and batch positions. torch's default (dynamo) exporter emits exactly this for a
    bidirectional multi-layer ``nn.LSTM``.

    ## Example
    ``[flatten] out = Reshape (Yt, target)`` with ``target = [5, -1, 6]`` and Yt
    ``[seq, batch, 2, 3]``: the 5 stands for ``seq``. Use ``0`` (copy the axis, with
    ``allowzero=0``) or a target computed from ``Shape(X)``: ``[0, -1, 6]``. See
    fixtures/AL302/bad.onnx.txt and good.onnx.txt, and fixtures/exported/lstm_l2_bi_dynamo.onnx.
    """

    code = "AL302"
    name = "baked-shape-after-recurrent"
    severity = Severity.ERROR
    summary = "constant Reshape/Expand target after a recurrent node fixes a dynamic seq/batch axis"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        if not symbols or not ctx.layers:
            return
        downstream = downstream_of_recurrent(ctx)
        for node in ctx.graph.iter_nodes(frozenset({"Reshape", "Expand"})):
            if node.id not in downstream or not node.inputs:
                continue
            target = reshape_target(ctx.graph, node)
            data = ctx.graph.tensor(node.inputs[0], node.graph)
            if target is None or data is None or data.shape is None:
                continue
            baked = _baked_axes(node, data.shape, target)
            baked = [(j, axis, dim) for j, axis, dim in baked if dim in symbols]
            if baked:
                yield self._finding(ctx, node, data.shape, target, baked, symbols)

    def _finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...],
        baked: list[tuple[int, int, str]], symbols: dict[str, str],
    ) -> Finding:
        parts = [
            f"{target[j]} fixes axis {axis} ({dim!r}, dynamic in graph input {symbols[dim]!r})"
            for j, axis, dim in baked
        ]
        allowzero = attr_int(node, "allowzero") == 1
        copyable = node.op_type == "Reshape" and all(j == axis for j, axis, _ in baked)
        if copyable:
            fixed = [0 if any(j == k for k, _, _ in baked) else t for j, t in enumerate(target)]
            expected = ints_text(fixed) + (" with allowzero=0" if allowzero else "")
            how = (f"Use {ints_text(fixed)} (0 copies the input's axis"
                   + (", and set allowzero=0" if allowzero else "") + ")")
        else:
            expected = "a target computed from Shape() of the input"
            how = "Compute the target from Shape() of the input"
        return ctx.finding(
            self, node,
            f"{node_text(node)} has the constant target {ints_text(target)} for input "
            f"{format_shape(shape)}: " + "; ".join(parts),
            input="shape", expected=expected, actual=ints_text(target),
            help=f"{how}, or re-export with dynamic shapes that cover this axis (torch: the "
            "classic exporter, dynamo=False, keeps Reshape [0, 0, -1]). As it is, any other "
            "length fails or mixes axes.",
        )


def _baked_axes(
    node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...]
) -> list[tuple[int, int, str]]:
    """(target index, input axis, symbol) for each constant that stands for a symbolic axis."""
    found: list[tuple[int, int, str]] = []
    if node.op_type == "Reshape":
        groups = align_reshape(shape, target, attr_int(node, "allowzero") == 1)
        for j, axes in sorted(groups.items()):
            if target[j] <= 0 or len(axes) != 1:
                continue
            dim = shape[axes[0]]
            if isinstance(dim, str):
                found.append((j, axes[0], dim))
        return found
    offset = len(target) - len(shape)  # Expand broadcasts right-aligned
    for j, value in enumerate(target):
        axis = j - offset
        if axis >= 0 and value > 1 and isinstance(shape[axis], str):
            found.append((j, axis, str(shape[axis])))
    return found
