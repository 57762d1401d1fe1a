from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo, TensorInfo
from archlint.shapes import Dim, Shape, format_shape, is_invented_symbol
from archlint_rules._layout import (
    HEAD_OPS,
    LAYOUT_OPS,
    downstream_of_recurrent,
    dynamic_symbols,
    made_by_head,
    made_shape,
    node_text,
)


class DeclaredShapeFixesDynamicAxis(Rule):
    """A declared shape after a recurrent node fixes an axis the graph computes as dynamic.

    ## What it does
    Looks at the layout nodes downstream of an LSTM, GRU or RNN (Transpose, Identity, Cast),
    and at a head that makes a graph output by a product with a matrix or a bias (MatMul by
    a ``[K, N]`` weight keeps the leading axes, as a Gemm keeps its first, torch's
    ``fc(out[:, -1, :])``; Add, Sub, Mul or Div by numbers that
    broadcast into the data keeps its shape), and works out, from the shape of the data they
    read, the shape they make. It reports a node whose output the model declares (in
    ``value_info`` or as a graph output) with a number where that shape has a dynamic axis
    of the graph inputs, such as the ``seq`` or ``batch`` of X. The node's own Y, Y_h and Y_c
    are checked the same way against the spec's shape from X (``[1, batch, H]`` for Y_h):
    torch 2.10's dynamo exporter, tracing an autoencoder at batch 1, declared its encoder's
    Y_h ``[1, 1, 32]`` under X ``[30, batch_size, 64]``, and everything after it held 1. The
    declarations after it follow it and are not reported again.

    ## Why is this bad?
    A recurrent node's Y carries the sequence and batch axes of X (``[seq, D, batch, H]``),
    and so does every layout op that moves them. A declaration of ``[batch, 5, 6]`` for a
    tensor the graph computes as ``[batch, seq, 6]`` holds only for the export example's
    length: torch's default (dynamo) exporter writes it for a batch-first bidirectional
    ``nn.LSTM`` followed by a head, keeping ``seq`` dynamic on X. onnx's shape inference takes
    the declared 5 as a refinement of ``seq``, so nothing fails statically. onnxruntime runs
    other lengths but warns that the output does not match the model, and a caller or runtime
    that sizes its buffers from the declared output shape gets the example's length.

    Where the declaration is all numbers (the exporter fixed the batch too) and the tensor is
    the input of a MatMul followed by a bias Add, it is an error: onnxruntime's MatMul+Add
    fusion, on by default, replaces the pair by a Gemm between two Reshapes whose shapes it
    computes from that declaration (onnxruntime/core/optimizer/matmul_add_fusion.cc), and
    every other length fails in its ``gemm_input_reshape``.

    ## Example
    ``[to_bs] flat = Transpose <perm = [1, 0, 2]> (Ym)`` with Ym ``[seq, batch, 6]`` and
    ``value_info`` ``float[batch, 5, 6] flat``: the 5 stands for ``seq``. Declare
    ``[batch, seq, 6]`` (or leave the dim unnamed), and the graph output ``[batch, seq, 2]``
    likewise. See fixtures/AL316/bad.onnx.txt and good.onnx.txt, and
    fixtures/exported_defects/lstm_bi_bf_head_dynamo.onnx.
    """

    code = "AL316"
    name = "declared-shape-fixes-dynamic-axis"
    severity = Severity.WARNING
    summary = "a declared shape after a recurrent node fixes an axis the graph computes as dynamic"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        if not symbols or not ctx.layers:
            return
        # the layout ops, then the heads that make a graph output (a product or a bias)
        heads = (ctx.graph.producer(name) for name in ctx.graph.graph_outputs.get("main", ()))
        for node in itertools.chain(ctx.graph.iter_nodes(LAYOUT_OPS), (
                head for head in heads if head is not None and head.op_type in HEAD_OPS)):
            if not node.inputs or not node.outputs or not node.outputs[0]:
                continue
            made = made_shape(ctx, node) if node.op_type in LAYOUT_OPS \
                else made_by_head(ctx, node)
            if made is None:
                continue
            data, shape = made
            declared = ctx.graph.tensor(node.outputs[0], node.graph)
            if declared is None or declared.shape is None or len(declared.shape) != len(shape):
                continue
            fixed = _fixed_axes(shape, declared.shape, symbols)
            if fixed and downstream_of_recurrent(ctx, node.id):
                yield self._finding(ctx, node, data, shape, declared, fixed, symbols)
        yield from self._recurrent_outputs(ctx, symbols)

    def _recurrent_outputs(self, ctx: RuleContext, symbols: dict[str, str]) -> Iterator[Finding]:
        """A node's own Y, Y_h or Y_c declared with a number where the spec gives it X's
        dynamic axis: torch 2.10's dynamo exporter, tracing at batch 1, declared an
        autoencoder's encoder Y_h [1, 1, 32] under X [30, batch_size, 64], and everything
        after it with batch 1 (a zero state stored at batch 1 behind it went unseen)."""
        for layer in ctx.layers:
            x = layer.inputs.get("X")
            if layer.cell is not None or x is None:
                continue
            data = ctx.graph.tensor(x.name, layer.node.graph)
            if data is None:
                continue
            for index, slot in enumerate(("Y", "Y_h", "Y_c")):
                ref = layer.outputs.get(slot)
                shape = layer.expected_shape(slot)
                declared = None if ref is None else ctx.graph.tensor(ref.name, layer.node.graph)
                if shape is None or declared is None or declared.shape is None \
                        or len(declared.shape) != len(shape):
                    continue
                fixed = _fixed_axes(shape, declared.shape, symbols)
                if fixed:
                    yield self._finding(ctx, layer.node, data, shape, declared, fixed, symbols,
                                        output=str(index), advice=_SPECIALISED)

    def _finding(
        self, ctx: RuleContext, node: NodeInfo, data: TensorInfo, shape: Shape,
        declared: TensorInfo, fixed: Sequence[tuple[int, Dim, int]], symbols: dict[str, str],
        output: str = "0", advice: str | None = None,
    ) -> Finding:
        shape = tuple(None if is_invented_symbol(dim) else dim for dim in shape)
        shown = format_shape(tuple(None if is_invented_symbol(dim) else dim
                                   for dim in data.shape or ()))
        axes = "; ".join(f"{found} fixes axis {axis} ({dim!r}, dynamic in graph input "
                         f"{symbols[str(dim)]!r})" for axis, dim, found in fixed)
        where = "graph output" if declared.is_graph_output else "value_info"
        fused = _fused_by_onnxruntime(ctx, declared)
        consequence = (
            f"; onnxruntime's MatMul+Add fusion (on by default) reshapes it for "
            f"{node_text(fused)} with the declared {format_shape(declared.shape)} as "
            "constants: every other size fails there ('gemm_input_reshape')"
            if fused is not None else "")
        return ctx.finding(
            self, node,
            f"{node_text(node)} makes {format_shape(shape)} of {data.name!r} "
            f"{shown}, but its output {declared.name!r} is declared "
            f"{format_shape(declared.shape)} ({where}): {axes}{consequence}",
            output=output, tensor=declared.name,
            expected=format_shape(shape), actual=format_shape(declared.shape),
            severity=Severity.ERROR if fused is not None else None,
            help=advice or "The declaration holds for the export example's length only. "
            "Declare the axis with the graph input's symbol (or leave it unnamed) here and in the "
            "declarations after it (graph outputs too); in torch, the classic exporter "
            "(dynamo=False) declares it dynamic. As it is, "
            + ("onnxruntime's graph optimiser builds a fixed-size Reshape from it (with "
               "graph optimisations off, or the value_info removed, the model runs)."
               if fused is not None else
               "onnxruntime warns on every other length, and buffers sized from the "
               "declared shape are wrong."),
        )


def _fixed_axes(
    shape: Shape, declared: Shape, symbols: dict[str, str]
) -> list[tuple[int, Dim, int]]:
    """(axis, the dynamic symbol the graph computes there, the number declared) for each
    axis of ``shape`` (same rank as ``declared``) that the declaration fixes."""
    return [(axis, dim, found) for axis, (dim, found) in enumerate(
        zip(shape, declared, strict=True))
        if isinstance(dim, str) and dim in symbols and isinstance(found, int)]


_SPECIALISED = (
    "The exporter wrote the export example's size for a dynamic dim from this output on "
    "(torch.export specialises a dynamic dim whose example size is 1): the declarations after "
    "it hold the size, and what the graph builds from them may too (a zero state, a Reshape "
    "target), where static checks read the declared size. Export with an example whose "
    "dynamic dims are 2 or more, or with the classic exporter (dynamo=False), and run "
    "lint --runtime: it tries other sizes.")


# the element types onnxruntime's MatMulAddFusion fuses into a Gemm
_GEMM_TYPES = frozenset({1, 10, 16})  # float, float16, bfloat16


def _fused_by_onnxruntime(ctx: RuleContext, declared: TensorInfo) -> NodeInfo | None:
    """The MatMul whose A is ``declared``, where onnxruntime's MatMulAddFusion (CPU, level
    2, on by default: onnxruntime/core/optimizer/matmul_add_fusion.cc) makes a Gemm between
    two Reshapes whose shapes are the constants A's shape gives: A of rank other than 2 and
    every dim a number, B rank 2 of numbers, the MatMul's one consumer an Add of a bias
    ``[N]``, its output no graph output, one float type. None otherwise."""
    shape = declared.shape
    if shape is None or len(shape) == 2 or not all(isinstance(d, int) for d in shape) \
            or declared.dtype not in _GEMM_TYPES:
        return None
    graph = ctx.graph
    for consumer in graph.consumers_of(declared.name, declared.graph):
        if consumer.op_type != "MatMul" or consumer.domain not in ("", "ai.onnx") \
                or len(consumer.inputs) != 2 or consumer.inputs[0] != declared.name \
                or not consumer.outputs:
            continue
        weight = graph.tensor(consumer.inputs[1], consumer.graph)
        output = graph.tensor(consumer.outputs[0], consumer.graph)
        if weight is None or weight.shape is None or len(weight.shape) != 2 \
                or not all(isinstance(d, int) for d in weight.shape) \
                or output is None or output.is_graph_output:
            continue
        readers = graph.consumers_of(output.name, consumer.graph)
        if len(readers) != 1 or readers[0].op_type != "Add" or len(readers[0].inputs) != 2:
            continue
        add = readers[0]
        bias_name = add.inputs[1] if add.inputs[0] == output.name else add.inputs[0]
        bias = graph.tensor(bias_name, add.graph)
        if bias is not None and bias.shape == (weight.shape[1],) \
                and bias.dtype == declared.dtype:
            return consumer
    return None
