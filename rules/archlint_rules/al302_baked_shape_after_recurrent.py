from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, Rule, RuleContext, Safety, Severity
from archlint.graph import NodeInfo, TensorInfo
from archlint.patterns import (
    align_reshape,
    attr_int,
    integer_matmuls_rescaled_by,
    reshape_target,
)
from archlint.shapes import Dim, format_shape, known_product
from archlint_rules._fixes import leading_ints, node_of
from archlint_rules._layout import (
    HEAD_OPS,
    computed_shape,
    downstream_of_recurrent,
    dynamic_symbols,
    ints_text,
    made_by_head,
    node_text,
)

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from onnx import NodeProto

    from archlint.fixes import ModelEditor


class BakedShapeAfterRecurrent(Rule):
    """A constant Reshape/Expand/ConstantOfShape shape after a recurrent node fixes a dynamic axis.

    ## What it does
    Looks at every Reshape and Expand downstream of an LSTM, GRU or RNN whose target shape is a
    constant. It lines the target up with the axes of the data it reshapes (a ``0`` copies an
    axis, a number takes the run of known axes whose product it is, the ``-1`` takes what is
    left) and reports a number that stands where the data has a symbolic axis, such as the
    ``seq`` or ``batch`` of the graph input X ``[seq, batch, I]``. A ConstantOfShape with a
    constant shape is checked the same way against the recurrent output it is combined with
    (Add, Mul, Concat...), with broadcasting's right alignment. A target of numbers and one
    ``-1`` whose numbers need a factor that only the dynamic axes can give is a warning:
    ``[-1, 25]`` on ``[seq, batch, 1, 5]`` holds only when seq × batch is a multiple of 5
    (a time-major ``view(batch, -1)`` traced at seq 5); which axis the example fixed, and
    whether the constraint was meant, cannot be told. So is a target whose first axis is a
    number > 1 where the input's first axis is dynamic, the -1 after it: ``[2, -1]`` on
    ``[batch, 5, 12]`` runs at every batch and keeps 2 rows, each cut across the batch
    (paddle's ``reshape(y, [2, -1])`` traced at batch 2 gives ``[2, 90]`` at batch 3). A
    target of numbers only (no 0, no -1) on an input with a dynamic axis is an error: it fixes
    the element count, so only the traced sizes run (torch's classic exporter writes
    ``y.reshape(T * B, 2 * H)`` with Python ints as ``[10, 12]`` on ``[T, B, 2, 6]``). The
    data's shape is what the graph computes: where a Transpose, Identity or Cast makes it and
    its declaration fixes an axis the op makes dynamic (AL316: torch's dynamo exporter
    declares ``[batch, 5, 16]`` for ``[batch, time, 16]``), the dynamic axis is the one judged;
    so where a product by a matrix or a bias (a Linear on every step) makes it. A target that
    is that declaration with a -1 in place of one dynamic axis (unit axes aside) bakes the
    traced size of the other: darts' ``fc(out).view(batch, -1, 2, 1)`` traced at 12 steps is
    ``[-1, 12, 2, 1]`` on ``[batch, time, 2]`` declared ``[batch, 12, 2]``, an error (12
    steps alone give the right result; 24 at batch 2 give ``[4, 12, 2, 1]``). The rows a
    Reshape ``[-1, K]`` flattened for a product and its bias are read as the tensor they came
    from: onnxsim writes a Linear on ``[batch, seq, 32]`` declared ``[batch, 5, 32]`` as
    ``Reshape [-1, 32], Gemm, Reshape [-1, 5, 5]``, whose 5 is the traced seq (and after
    quantize_dynamic, a MatMulInteger between the same Reshapes).

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
    fixtures/AL302/bad.onnx.txt and good.onnx.txt, fixtures/exported/lstm_l2_bi_dynamo.onnx,
    fixtures/AL302/torch_linear_view_dynamo.onnx and tagger_dynamo_onnxsim.onnx.
    """

    code = "AL302"
    name = "baked-shape-after-recurrent"
    severity = Severity.ERROR
    summary = (
        "constant Reshape/Expand/ConstantOfShape shape after a recurrent node fixes a dynamic axis"
    )
    fix_safety = Safety.SAFE
    # how an export keeps the axis, in the help of a finding
    export_hint = "torch: the classic exporter, dynamo=False, keeps Reshape [0, 0, -1]"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        shapers = list(ctx.graph.iter_nodes(frozenset({"Reshape", "Expand", "ConstantOfShape"})))
        if not symbols or not ctx.layers or not shapers:
            return  # the walk downstream of every layer is only worth it with a shaper to judge
        for node in shapers:
            if node.op_type == "ConstantOfShape" or not node.inputs \
                    or not self._placed(ctx, node, judged=False):
                continue
            finding = self._judge(ctx, node, symbols)
            if finding is not None and self._placed(ctx, node, judged=True):
                yield finding
        yield from self._constant_of_shape(ctx, symbols)

    def _placed(self, ctx: RuleContext, node: NodeInfo, *, judged: bool) -> bool:
        """Whether ``node`` is where this rule looks: after a recurrent node (AL319 looks
        before one). Asked before a shaper is judged (``judged=False``: the walk upstream from
        it is cheap) and again once it would be reported."""
        return judged or downstream_of_recurrent(ctx, node.id)

    def _judge(self, ctx: RuleContext, node: NodeInfo, symbols: dict[str, str]) -> Finding | None:
        """The finding for a Reshape or Expand whose constant target fixes a dynamic axis."""
        target = reshape_target(ctx.graph, node)
        data = ctx.graph.tensor(node.inputs[0], node.graph)
        if target is None or data is None or data.shape is None:
            return None
        # a stale declaration of the data (AL316's) does not hide what the graph computes
        shape = computed_shape(ctx, data, symbols)
        baked = _baked_axes(node, shape, target)
        baked = [(j, axis, dim) for j, axis, dim in baked if dim in symbols]
        traced = None
        if not baked and node.op_type == "Reshape" and shape != data.shape:
            baked = _traced_axes(data.shape, shape, target, symbols)
            traced = data.shape if baked else None
        if baked and not (node.op_type == "Reshape" and _holds_anyway(node, shape, target)):
            return self._finding(ctx, node, shape, target, baked, symbols, traced=traced)
        if node.op_type != "Reshape":
            return None
        if not baked and (rows := _flattened_rows(ctx, data, symbols)) is not None:
            flat, declared, computed = rows
            baked = _traced_axes(declared, computed, target, symbols)
            if baked and not _holds_anyway(node, computed, target):
                return self._finding(ctx, node, computed, target, baked, symbols,
                                     traced=declared, flattened=flat)
        if (factor := _dynamic_factor(shape, target, symbols)) is not None:
            return self._factor_finding(ctx, node, shape, target, factor, symbols)
        if _leads_across(shape, target, symbols):
            return self._leading_finding(ctx, node, shape, target, symbols)
        if _fixed_count(shape, target, symbols):
            return self._count_finding(ctx, node, shape, target, symbols)
        return None

    def _factor_finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...],
        factor: int, symbols: dict[str, str],
    ) -> Finding:
        """A warning: the target holds every size on this input only when the dynamic axes'
        product is a multiple of ``factor``; which axis the export's example fixed cannot be
        told, nor whether that constraint was meant (pairing time steps is, sometimes)."""
        names, inputs = _dynamic_names(shape, symbols)
        fixed, constants = _products(shape, target)
        return ctx.finding(
            self, node,
            f"{node_text(node)} has the constant target {ints_text(target)} for input "
            f"{format_shape(shape)}: its numbers ({constants}) need a factor {factor} beyond "
            f"the input's fixed axes ({fixed}), which only {names} can give (dynamic in graph "
            f"input {', '.join(map(repr, inputs))}): it holds only when {names} is a multiple "
            f"of {factor}",
            input="shape", severity=Severity.WARNING,
            expected="a target computed from Shape() of the input",
            actual=ints_text(target),
            help="Compute the target from Shape() of the input, or re-export with dynamic "
            "shapes that cover these axes (torch: the classic exporter, dynamo=False, computes "
            "view()'s target from the input's shape). As it is, other sizes fail in the "
            "Reshape or regroup its rows silently.",
        )

    def _count_finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...],
        symbols: dict[str, str],
    ) -> Finding:
        """An error: a target of numbers only fixes the element count, so the input's dynamic
        axes hold only the sizes whose product gives it (torch's classic exporter writes
        ``y.reshape(T * B, H)`` with Python ints as the constant ``[10, 12]``)."""
        names, inputs = _dynamic_names(shape, symbols)
        fixed, count = _products(shape, target)
        return ctx.finding(
            self, node,
            f"{node_text(node)} has the constant target {ints_text(target)} for input "
            f"{format_shape(shape)}: it fixes the element count at {count}, so {names} "
            f"(dynamic in graph input {', '.join(map(repr, inputs))}) must multiply to "
            f"{count // fixed if count % fixed == 0 else f'{count}/{fixed}'}, the sizes the "
            "export traced",
            input="shape", expected="a target computed from Shape() of the input, or 0 / -1 "
            "where it keeps or takes the dynamic axes", actual=ints_text(target),
            help="Compute the target from the input's shape (torch: x.size(0) traced by the "
            "classic exporter, or reshape(-1, H) / flatten(0, 1)), or re-export with dynamic "
            "shapes that cover these axes. As it is, every other size fails in the Reshape.",
        )

    def _leading_finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...],
        symbols: dict[str, str],
    ) -> Finding:
        """A warning: the target's first axis is a number where the input's first axis is
        dynamic; every size runs, but the output keeps that many rows, each a slice across the
        dynamic axis. Whether the regrouping was meant cannot be told."""
        dim = shape[0]
        assert isinstance(dim, str)
        other = target[0] + 1
        grown = tuple(other if isinstance(d, str) and d == dim else d for d in shape)
        return ctx.finding(
            self, node,
            f"{node_text(node)} has the constant target {ints_text(target)} for input "
            f"{format_shape(shape)}: its first axis is {target[0]} whatever {dim!r} (dynamic in "
            f"graph input {symbols[dim]!r}) is: at {dim}={other} it regroups "
            f"{format_shape(grown)} into {target[0]} rows, each across {dim!r}",
            input="shape", severity=Severity.WARNING,
            expected=f"a target whose first axis follows {dim!r} (0, or computed from Shape())",
            actual=ints_text(target),
            help=f"Keep {dim!r} as the first axis: [0, -1] (0 copies it, allowzero=0), or "
            "compute the target from Shape() of the input, or re-export with dynamic shapes "
            f"that cover it. If {target[0]} rows is meant at every size, nothing to fix.",
        )

    def _constant_of_shape(self, ctx: RuleContext, symbols: dict[str, str]) -> Iterator[Finding]:
        """A constant-shape ConstantOfShape combined with a recurrent output's dynamic axes."""
        recurrent_ids = {layer.node.id for layer in ctx.layers}
        for node in ctx.graph.iter_nodes(frozenset({"ConstantOfShape"})):
            target = reshape_target(ctx.graph, node)
            if target is None or not node.outputs:
                continue
            for consumer in ctx.graph.consumers_of(node.outputs[0], node.graph):
                if consumer.id in recurrent_ids:
                    continue  # a state: AL308 checks its batch
                skip_axis = attr_int(consumer, "axis") if consumer.op_type == "Concat" else None
                for other in consumer.inputs:
                    producer = ctx.graph.producer(other, consumer.graph) if other else None
                    info = ctx.graph.tensor(other, consumer.graph) if other else None
                    if producer is None or info is None or info.shape is None or not (
                            producer.id in recurrent_ids
                            or downstream_of_recurrent(ctx, producer.id)):
                        continue
                    baked = _broadcast_baked(info.shape, target, skip_axis)
                    baked = [(j, axis, dim) for j, axis, dim in baked if dim in symbols]
                    if baked:
                        yield self._finding(ctx, node, info.shape, target, baked, symbols,
                                            partner=consumer)
                        break

    def _finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...],
        baked: list[tuple[int, int, str]], symbols: dict[str, str],
        partner: NodeInfo | None = None, traced: tuple[Dim, ...] | None = None,
        flattened: NodeInfo | None = None,
    ) -> Finding:
        parts = [
            f"{target[j]} fixes axis {axis} ({dim!r}, dynamic in graph input {symbols[dim]!r})"
            for j, axis, dim in baked
        ]
        if traced is not None:  # the declaration shows the sizes the export traced
            parts[-1] += (f"; the input is declared {format_shape(traced)}, the traced "
                          "sizes: the target is that shape with a -1 in place of one axis")
        allowzero = attr_int(node, "allowzero") == 1
        copyable = node.op_type == "Reshape" and flattened is None \
            and all(j == axis for j, axis, _ in baked)
        if copyable:
            fixed = [0 if any(j == k for k, _, _ in baked) else t for j, t in enumerate(target)]
            expected = ints_text(fixed) + (" with allowzero=0" if allowzero else "")
            how = (f"Use {ints_text(fixed)} (0 copies the input's axis"
                   + (", and set allowzero=0" if allowzero else "") + ")")
        else:
            expected = "a target computed from Shape() of the input"
            how = "Compute the target from Shape() of the input"
        what = f"for input {format_shape(shape)}"
        if flattened is not None:  # onnxsim's Reshape [-1, K], Gemm, Reshape back
            what = (f"for the rows of {format_shape(shape)} that {node_text(flattened)} "
                    "flattened for a product")
            expected = ("a target computed from Shape() of the tensor "
                        f"{node_text(flattened)} flattens")
            how = (f"Compute the target from Shape() of the tensor {node_text(flattened)} "
                   "flattens (a simplifier wrote this Reshape pair around the product from "
                   "the declared sizes: simplify the export made with dynamic shapes' "
                   "declarations fixed, or keep the 3-D MatMul)")
        if partner is not None:
            what = f"and meets {format_shape(shape)} from a recurrent node in {node_text(partner)}"
            expected = "a shape computed from Shape() of that tensor"
            how = "Compute the shape from Shape() of the recurrent output it is combined with"
        return ctx.finding(
            self, node,
            f"{node_text(node)} has the constant target {ints_text(target)} {what}: "
            + "; ".join(parts),
            input="input" if partner is not None else "shape",
            expected=expected, actual=ints_text(target),
            help=f"{how}, or re-export with dynamic shapes that cover this axis "
            f"({self.export_hint}). As it is, any other length fails or mixes axes.",
        )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """A Reshape whose baked values each stand for one input axis in place: 0 copies that
        axis (allowzero=0), so every size that ran before gives the same result. An Expand's
        baked value becomes 1, which broadcasting reads as "keep the input's axis": unsafe,
        since where that axis was 1 the original broadcast it to the baked size."""
        node = node_of(finding, editor)
        if node is not None and node.op_type == "Expand" and finding.location.input == "shape":
            return self._fix_expand(finding, editor, node)
        target = leading_ints(finding.expected)
        if node is None or target is None or node.op_type != "Reshape" or len(node.input) < 2:
            return None
        import numpy as np  # `archlint fix` only

        fixed = np.array(target, dtype=np.int64)
        ctx = editor.context
        data = ctx.graph.tensor(node.input[0], finding.location.graph)
        shape = () if data is None or data.shape is None \
            else computed_shape(ctx, data, dynamic_symbols(ctx))
        # the output's declared axis was baked with the target: it is the input's symbol again
        symbols = {j: shape[j] for j, value in enumerate(target)
                   if value == 0 and j < len(shape) and isinstance(shape[j], str)}

        def apply() -> None:
            editor.set_constant_input(node, 1, fixed, f"{node.name or 'reshape'}_shape")
            editor.remove_attribute(node, "allowzero")
            for j, symbol in symbols.items():
                editor.set_declared_symbol(node.output[0], j, str(symbol))

        return Fix(f"Reshape target {finding.actual} -> {ints_text(target)} (0 copies the "
                   "input's axis)", Safety.SAFE, apply)

    def _fix_expand(self, finding: Finding, editor: ModelEditor, node: NodeProto) -> Fix | None:
        loc = finding.location
        info = editor.context.graph.node(f"{loc.graph}/{loc.node_index}")
        target = reshape_target(editor.context.graph, info)
        data = editor.context.graph.tensor(info.inputs[0], loc.graph)
        if target is None or data is None or data.shape is None:
            return None
        import numpy as np  # `archlint fix` only

        baked = {j for j, _, _ in _broadcast_baked(data.shape, target, None)}
        fixed = [1 if j in baked else value for j, value in enumerate(target)]
        if not baked:
            return None
        return Fix(f"Expand shape {ints_text(target)} -> {ints_text(fixed)} (1 keeps the "
                   "input's axis)", Safety.UNSAFE,
                   lambda: editor.set_constant_input(node, 1, np.array(fixed, dtype=np.int64),
                                                     f"{node.name or 'expand'}_shape"))


def _baked_axes(
    node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...]
) -> list[tuple[int, int, str]]:
    """(target index, input axis, symbol) for each constant that stands for a symbolic axis."""
    found: list[tuple[int, int, str]] = []
    if node.op_type == "Reshape":
        groups = align_reshape(shape, target, attr_int(node, "allowzero") == 1)
        for j, axes in sorted(groups.items()):
            if target[j] <= 1 or len(axes) != 1:  # a 1 is an inserted unit axis
                continue
            dim = shape[axes[0]]
            if isinstance(dim, str):
                found.append((j, axes[0], dim))
        return found
    return _broadcast_baked(shape, target, None)


def _flattened_rows(
    ctx: RuleContext, data: TensorInfo, symbols: dict[str, str]
) -> tuple[NodeInfo, tuple[Dim, ...], tuple[Dim, ...]] | None:
    """(the flattening Reshape, the declared view, the computed view) where ``data`` is the
    rows of a tensor ``[..., K]`` that a Reshape ``[-1, K]`` flattened, then a product by a
    matrix or a bias (:func:`made_by_head`) made ``[rows, N]``: onnxsim fuses a 3-D MatMul
    and its bias into ``Reshape [-1, K], Gemm, Reshape [-1, 5, N]``. The views are that
    tensor's shape, declared and computed, with its last axis N: the target that unflattens
    the rows is judged against them."""
    info = data
    for _ in range(_FOLLOWED_HEADS):
        producer = ctx.graph.producer(info.name, info.graph)
        if producer is None or not producer.inputs or not producer.inputs[0]:
            return None
        if producer.op_type == "Reshape":
            target = reshape_target(ctx.graph, producer)
            source = ctx.graph.tensor(producer.inputs[0], producer.graph)
            last = data.shape[-1] if data.shape else None
            if target is None or source is None or source.shape is None \
                    or len(source.shape) < 3 or len(target) != 2 or target[0] != -1 \
                    or target[1] != source.shape[-1] or not isinstance(last, int):
                return None
            computed = computed_shape(ctx, source, symbols)
            return producer, (*source.shape[:-1], last), (*computed[:-1], last)
        quantized = _dequantized_rows(ctx, producer)
        if quantized is not None:
            info = quantized
            continue
        if producer.op_type not in HEAD_OPS or (made := made_by_head(ctx, producer)) is None:
            return None
        info = made[0]
    return None


def _dequantized_rows(ctx: RuleContext, mul: NodeInfo) -> TensorInfo | None:
    """The float rows onnxruntime's quantize_dynamic multiplies by a weight where ``mul``
    rescales the product: Mul(Cast(MatMulInteger(DynamicQuantizeLinear(x)[0], W_int8,
    ...)), scales) is x @ W (a simplified model quantized after: onnxsim's flattened Gemm
    becomes this); None for any other node."""
    if mul.op_type != "Mul":
        return None
    graph = ctx.graph
    for matmul in integer_matmuls_rescaled_by(graph, mul):
        quantize = graph.producer(matmul.inputs[0], mul.graph) if matmul.inputs else None
        if quantize is not None and quantize.op_type == "DynamicQuantizeLinear" \
                and quantize.inputs and quantize.inputs[0]:
            return graph.tensor(quantize.inputs[0], mul.graph)
    return None


# how many products and biases _flattened_rows follows up to the flattening Reshape
_FOLLOWED_HEADS = 4


def _traced_axes(
    declared: tuple[Dim, ...], shape: tuple[Dim, ...], target: tuple[int, ...],
    symbols: dict[str, str],
) -> list[tuple[int, int, str]]:
    """(target index, input axis, symbol) for each number of a target of numbers and one -1
    that copies the input's declared size where the graph computes a dynamic axis, when the
    whole target, unit axes aside, is that declaration with the -1 in place of one dynamic
    axis: torch's dynamo exporter declares the Linear after a batch-first LSTM ``[batch, 12,
    2]`` (AL316) and writes ``fc(out).view(batch, -1, 2, 1)`` as ``[-1, 12, 2, 1]``; the
    12 is the traced ``time``, and the -1 takes what another length adds (at time 24 and
    batch 2 it gives ``[4, 12, 2, 1]``). Empty when the target does not line up so."""
    if not _numbers_and_one_minus_one(target) or len(declared) != len(shape):
        return []
    numbers = [(j, t) for j, t in enumerate(target) if t != 1]
    axes = [k for k, dim in enumerate(declared) if dim != 1]
    if len(numbers) != len(axes):
        return []
    found: list[tuple[int, int, str]] = []
    for (j, value), k in zip(numbers, axes, strict=True):
        computed = shape[k]
        if value == -1:
            if not (isinstance(computed, str) and computed in symbols):
                return []  # the -1 stands for a dynamic axis
        elif declared[k] != value:
            return []
        elif isinstance(computed, str) and computed in symbols:
            found.append((j, k, computed))
    return found


def _dynamic_factor(
    shape: tuple[Dim, ...], target: tuple[int, ...], symbols: dict[str, str]
) -> int | None:
    """The factor a constant Reshape target needs from the input's dynamic axes, or None.

    A target of numbers and one -1 (no 0, which copies an axis) holds for every size of the
    dynamic axes only when its numbers' product divides the product of the input's fixed
    axes: ``[-1, 25]`` on ``[seq, batch, 1, 5]`` needs seq × batch to be a multiple of 5 (the
    view of a time-major ``[seq, batch, 5]`` as ``(batch, -1)``, traced at seq 5). Only on an
    input whose every axis is a number or a symbol of a graph input."""
    if not _numbers_and_one_minus_one(target):
        return None
    if not any(isinstance(dim, str) for dim in shape) or not all(
            (isinstance(dim, int) and dim > 0) or (isinstance(dim, str) and dim in symbols)
            for dim in shape):
        return None
    fixed, constants = _products(shape, target)
    factor = constants // math.gcd(constants, fixed)
    return factor if factor > 1 else None


def _leads_across(
    shape: tuple[Dim, ...], target: tuple[int, ...], symbols: dict[str, str]
) -> bool:
    """Whether a constant target's first axis is a number > 1 where the input's first axis is
    a graph input's dynamic symbol, the -1 coming later: ``[2, -1]`` on ``[batch, 5, 12]``
    (paddle's ``reshape(y, [2, -1])`` traced at batch 2) runs at every batch and gives
    ``[2, 90]`` at batch 3. Rows, in row-major order, are cut from the input's leading axes:
    a first output axis that is not the leading dynamic axis cuts across it."""
    return bool(shape) and bool(target) and isinstance(shape[0], str) \
        and shape[0] in symbols and target[0] > 1 and _numbers_and_one_minus_one(target)


def _fixed_count(
    shape: tuple[Dim, ...], target: tuple[int, ...], symbols: dict[str, str]
) -> bool:
    """Whether a target of positive numbers only (no 0, no -1) meets an input with a dynamic
    axis of a graph input, every other axis a number: the element count is the target's
    whatever those axes are (``[10, 12]`` on ``[T, B, 12]``)."""
    return bool(target) and all(t > 0 for t in target) \
        and any(isinstance(dim, str) for dim in shape) and all(
            (isinstance(dim, int) and dim > 0) or (isinstance(dim, str) and dim in symbols)
            for dim in shape)


def _holds_anyway(node: NodeInfo, shape: tuple[Dim, ...], target: tuple[int, ...]) -> bool:
    """Whether a target with a -1 runs at every size of the input's dynamic axes: its numbers'
    product divides the product of the input's fixed axes that no 0 copies, so the -1 takes
    the dynamic ones whatever they are. The numbers then need not stand for a dynamic axis:
    tf2onnx turns NHWC ``[N, 8, W, 1]`` into NCHW with the target ``[0, 1, 8, -1]``, whose 8
    is the input's 8. (Whether it regroups rows is AL302's warning's concern.)"""
    if target.count(-1) != 1 or attr_int(node, "allowzero") == 1:
        return False
    copied = {j for j, t in enumerate(target) if t == 0}
    rest = [dim for k, dim in enumerate(shape) if k not in copied]
    if not all((isinstance(dim, int) and dim > 0) or isinstance(dim, str) for dim in rest):
        return False
    fixed = known_product([dim for dim in rest if isinstance(dim, int)]) or 1
    numbers = known_product([t for t in target if t > 0]) or 1
    return fixed % numbers == 0


def _numbers_and_one_minus_one(target: tuple[int, ...]) -> bool:
    """A target of positive numbers and one -1, no 0 (which copies an input axis)."""
    return 0 not in target and target.count(-1) == 1 and all(t >= -1 for t in target)


def _dynamic_names(shape: tuple[Dim, ...], symbols: dict[str, str]) -> tuple[str, list[str]]:
    """The input's dynamic axes as a message names them (``'T' × 'B'``), and the graph
    inputs they are dynamic in."""
    dynamic = [dim for dim in shape if isinstance(dim, str)]
    return " × ".join(repr(dim) for dim in dynamic), sorted({symbols[dim] for dim in dynamic})


def _products(shape: tuple[Dim, ...], target: tuple[int, ...]) -> tuple[int, int]:
    """(the product of the input's fixed axes, the product of the target's numbers)."""
    return (known_product([dim for dim in shape if isinstance(dim, int)]) or 1,
            known_product([t for t in target if t > 0]) or 1)


def _broadcast_baked(
    shape: tuple[Dim, ...], target: tuple[int, ...], skip_axis: int | None
) -> list[tuple[int, int, str]]:
    """Right-aligned (broadcasting) comparison: a number > 1 against a symbolic axis."""
    found: list[tuple[int, int, str]] = []
    offset = len(target) - len(shape)
    for j, value in enumerate(target):
        axis = j - offset
        if skip_axis is not None and axis in (skip_axis, skip_axis + len(shape)):
            continue  # Concat's own axis may differ
        if 0 <= axis < len(shape) and value > 1 and isinstance(shape[axis], str):
            found.append((j, axis, str(shape[axis])))
    return found
