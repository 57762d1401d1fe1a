from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, RuleContext
from archlint.graph import NodeInfo
from archlint_rules._layout import downstream_of_recurrent, upstream_of_recurrent
from archlint_rules.al302_baked_shape_after_recurrent import BakedShapeAfterRecurrent


class BakedShapeBeforeRecurrent(BakedShapeAfterRecurrent):
    """A constant Reshape/Expand shape on the way into a recurrent node fixes a dynamic axis.

    ## What it does
    Judges every Reshape and Expand that a recurrent layer reads from, directly or not, and
    that no recurrent layer comes before (those are AL302's), as AL302 judges the ones after:
    it lines a constant target up with the axes of the data it reshapes and reports a number
    that stands where the data has a dynamic axis of a graph input (an error), a target of
    numbers only on such data (an error: it fixes the element count), and the two patterns
    that hold only at some sizes (warnings: numbers whose product needs a factor only the
    dynamic axes give, and a number > 1 first where the first axis is dynamic).

    ## Why is this bad?
    A recurrent layer runs over the sequence and batch axes of what it reads. A front end
    traced by an exporter (an attention block, a convolution stack, a flatten before the
    LSTM) can bake the example's sizes into its Reshape targets: torch's classic exporter
    writes the Python ints of ``x.view(T, B, heads, d)`` as the constant ``[5, 6, 4]``. The
    graph still declares ``time`` and ``batch`` dynamic, the layer's own slots check out, and
    every other length fails in that Reshape, before the layer ever runs.

    ## Example
    ``[flatten] seq = Reshape (x, target)`` with ``target = [5, 2, 6]`` on x
    ``[time, batch, 2, 3]`` before an LSTM: the 5 stands for ``time`` and the 2 for
    ``batch``. Use ``[0, 0, 6]`` (0 copies the input's axis) or a target computed from
    ``Shape(x)``. See fixtures/AL319/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL319"
    name = "baked-shape-before-recurrent"
    summary = "constant Reshape/Expand shape before a recurrent node fixes a dynamic axis"
    export_hint = ("torch: keep sizes as tensors, x.size(0) rather than int(x.size(0)), which "
                   "the classic exporter writes as the example's number")

    def _placed(self, ctx: RuleContext, node: NodeInfo, *, judged: bool) -> bool:
        """Before a recurrent node and after none; asked only of a shaper that would be
        reported (the walks may cover the graph)."""
        return not judged or (upstream_of_recurrent(ctx, node.id)
                              and not downstream_of_recurrent(ctx, node.id))

    def _constant_of_shape(
        self, ctx: RuleContext, symbols: dict[str, str]
    ) -> Iterator[Finding]:
        """A ConstantOfShape before a layer is its state (AL308's) or no concern of this rule."""
        yield from ()
