"""Every recurrent layer of a model, in one tuple: the assembly of the views.

archlint/recurrent.py defines the view and builds it for one native node; archlint/contrib_ops.py
rebinds a contrib op's slots on that view; archlint/cells/ recognises Loop cells and unrolled
chains. This module is the one that imports all three, so each of them depends on the views only
and the imports go one way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from archlint import contrib_ops
from archlint.graph import ModelGraph, NodeInfo
from archlint.onnx_ops import loadable_from
from archlint.recurrent import RECURRENT_OPS, RecurrentLayer, build_layer

__all__ = ["build_layers", "unseen_recurrent"]

# What every cell archlint/cells/ recognises is made of: a model without any of them has
# none, and the matchers are not even imported (a lint of a plain LSTM export starts faster).
_CELL_OPS = frozenset({"MatMul", "Gemm", "MatMulInteger", "MatMulNBits", "QLinearMatMul", "QGemm",
                       "FusedGemm", "Einsum", "Loop", "Scan"})


def build_layers(graph: ModelGraph, producer_name: str = "") -> tuple[RecurrentLayer, ...]:
    """Native LSTM/GRU/RNN nodes and onnxruntime's contrib recurrent ops, in graph order, then
    the cells recognised in Loops, unrolled chains and single steps.

    What needs no inferred type comes first, while the inference child may still work (the
    first type read waits for it): the nodes' weights and the cell search, which looks at the
    index before it traces anything (on 100k plain nodes it is most of this step).
    """
    nodes = list(graph.iter_nodes(RECURRENT_OPS | frozenset(contrib_ops.CONTRIB_OPS)))
    for node in nodes:
        graph.stored_tensors(node.inputs, node.graph)
    cells: tuple[RecurrentLayer, ...] = ()
    if graph.scopes_with(_CELL_OPS):
        from archlint.cells import cell_layers

        cells = cell_layers(graph, producer_name)
    layers: list[RecurrentLayer] = []
    for node in nodes:
        if node.domain in ("", "ai.onnx") and node.op_type in RECURRENT_OPS:
            layers.append(build_layer(graph, node, producer_name))
        elif (contrib := contrib_ops.contrib_op(node)) is not None:
            base = build_layer(graph, node, producer_name, op=contrib.cell)
            layers.append(contrib_ops.build_contrib_layer(graph, node, base))
    return tuple(layers) + cells


_RECURRENT_NAME = re.compile(r"lstm|gru|rnn", re.IGNORECASE)
# what a recurrent layer's step multiplies its input or state by: a loop body with none of
# them computes no layer (it may still carry a value: a counter, a running sum)
_WEIGHTED_OPS = (_CELL_OPS - {"Loop", "Scan"}) | {"Conv", "ConvInteger", "QLinearConv",
                                                  "Einsum", "DynamicQuantizeLSTM"}


def unseen_recurrent(graph: ModelGraph, found: Iterable[RecurrentLayer]) -> tuple[str, ...]:
    """Nodes that may compute a recurrence but gave no layer, as ``graph/label (op)``: a Scan
    or Loop whose body multiplies by weights (a MatMul, Gemm, Conv or their quantized forms)
    but is not a recognised cell and holds no layer of ``found`` (a decoding loop around an
    LSTM node or a cell step is seen through that layer), an op named like
    LSTM/GRU/RNN outside the ONNX domains or that ONNX does not define (a framework op a
    converter left in, tf2onnx's BlockLSTM)."""
    layers = tuple(found)
    seen = {layer.node.id for layer in layers}
    scopes = {layer.node.graph for layer in layers}
    # the scopes that hold a product of weights or a recurrent op: a Loop or Scan body with
    # none (an audio framing Scan, a counter, onnx's Range and SequenceMap expansions) holds
    # no layer to see
    weighted = {node.graph for node in graph.iter_nodes(_WEIGHTED_OPS | RECURRENT_OPS)}
    unseen = []
    # op types named like a recurrent op that no ONNX opset defines, whatever their domain
    named = frozenset(op for op in graph.op_types
                      if _RECURRENT_NAME.search(op) and loadable_from(op) is None)
    for node in graph.iter_nodes(frozenset({"Loop", "Scan"}) | named, unusual_domains=True):
        bodies = graph.subgraphs_of(node.id)
        if node.id in seen or _inside(bodies, scopes):
            continue
        standard = node.domain in ("", "ai.onnx")
        if standard and node.op_type in ("Loop", "Scan") and (
                not _inside(bodies, weighted) or not _carries_changing_state(graph, node)):
            continue  # no weights to see, or no state a recurrence could carry (a map_fn)
        if (standard and node.op_type in ("Loop", "Scan")) or node.op_type in named or (
            not standard and _RECURRENT_NAME.search(node.op_type)
        ):
            unseen.append(f"{node.graph}/{node.label} ({node.op_type})")
    return tuple(unseen)


def _carries_changing_state(graph: ModelGraph, node: NodeInfo) -> bool:
    from archlint.cells.loop import carries_changing_state  # only for a weighted Loop/Scan

    return carries_changing_state(graph, node, _WEIGHTED_OPS | RECURRENT_OPS)


def _inside(bodies: Iterable[str], scopes: Iterable[str]) -> bool:
    """Whether one of ``scopes`` is one of the subgraph ``bodies`` or nested in one."""
    return any(scope == body or scope.startswith(body + "/")
               for body in bodies for scope in scopes)
