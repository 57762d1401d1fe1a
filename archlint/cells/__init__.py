"""Recurrent layers that are not an LSTM/GRU/RNN node: a Loop computing one cell step, or an
unrolled chain of per-step MatMuls. One job: match the cell pattern and recover its facts.

What exporters emit (tf2onnx 1.17, read from its ``rewriter/`` and checked on real exports in
fixtures/cells/): a Keras RNN layer becomes a TF while loop; tf2onnx's LSTM/GRU rewriters fold it
into a native op only when the body is exactly the fused cell. SimpleRNN, GRU with
reset_after=False, masking, recurrent dropout and Keras 3's GRU stay a ``Loop`` whose body:

* reads x_t with ``Gather(X_time_major, counter)`` from the outer graph;
* gets kernel, recurrent kernel and bias as loop-carried values passed through unchanged (or as
  outer-scope names), possibly Split/Slice per gate;
* computes ``x_t @ kernel`` and ``h @ recurrent_kernel`` (h a loop-carried state), adds the bias,
  applies the gates and writes the new h to a scan output.

``unroll=True`` (and a traced Python loop over a cell) leaves no loop at all: T MatMuls share the
kernel, T share the recurrent kernel, each step's recurrent product reading the previous step.

The matchers are declarative in the way of onnxscript's rewriter: each check either passes or
returns a :class:`NoMatch` with the reason, so a Loop that is not a cell says why.

Keras conventions: kernel ``[I, g·H]``, recurrent kernel ``[H, g·H]``, bias ``[g·H]`` or, for a
GRU with reset_after=True, ``[2, g·H]``. A Gemm with ``transB=1`` (PyTorch's Linear) stores
``[g·H, I]``: both orientations are read.

The package: archlint/cells/_trace.py (the facts and what every matcher shares),
loop.py (Loop and Scan bodies), unrolled.py (chains without a loop), steps.py (one step
per call); this module finds them all and makes their views.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import MappingProxyType

from archlint.cells._trace import (
    _PRODUCTS,
    CellFacts,
    NoMatch,
    WeightSource,
    _dedupe,
    _weight_products,
    _WeightProduct,
    is_bias_copy,
    weight_sources,
)
from archlint.cells.loop import match_loop_cells
from archlint.cells.steps import match_steps
from archlint.cells.unrolled import match_unrolled
from archlint.graph import ModelGraph
from archlint.recurrent import Recognition, RecurrentLayer

__all__ = [
    "CellFacts",
    "NoMatch",
    "WeightSource",
    "cell_layers",
    "find_cells",
    "is_bias_copy",
    "match_loop_cells",
    "match_steps",
    "match_unrolled",
]

def find_cells(graph: ModelGraph) -> tuple[list[CellFacts], list[NoMatch]]:
    """Every recognised cell in the model (Loops and Scans first, then unrolled chains and
    steps in each scope), and the reasons the Loops and Scans that are not cells were not
    recognised."""
    cells: list[CellFacts] = []
    misses: list[NoMatch] = []
    bodies: set[str] = set()
    for loop in graph.iter_nodes(frozenset({"Loop", "Scan"})):
        if loop.domain not in ("", "ai.onnx"):
            continue
        found = match_loop_cells(graph, loop)
        if isinstance(found, NoMatch):
            misses.append(found)
            continue
        cells.extend(found)
        bodies.update(graph.subgraphs_of(loop.id))
    taken = {node for cell in cells for node in cell.nodes}
    scopes = list(_scopes_with_products(graph))
    # a recognised Loop's body holds its own step, whose products can look like a short chain
    for scope in scopes:
        if scope in bodies:
            continue
        for result in match_unrolled(graph, scope):
            if isinstance(result, CellFacts):
                if result.nodes & taken:
                    continue  # a Loop body already recognised as a cell
                cells.append(result)
                taken |= result.nodes
            else:
                misses.append(result)
    for scope in scopes:
        if scope in bodies:
            continue
        for step in match_steps(graph, scope, taken):
            cells.append(step)
            taken |= step.nodes
    if not cells:
        return cells, misses
    products = [p for scope in scopes for p in _weight_products(graph, scope)]
    cells = [_with_replicas(cell, products) for cell in cells]
    taken = {node for cell in cells for node in cell.nodes}
    return [_with_sliced_replicas(graph, cell, products, taken) for cell in cells], misses


def _with_replicas(cell: CellFacts, products: list[_WeightProduct]) -> CellFacts:
    """Claim other products of the cell's own weights: tf2onnx keeps, next to a masked Loop,
    one step computed outside it (Keras computes it for the output's shape)."""
    keys = {s.key for s in (*cell.kernel, *cell.recurrent_kernel)}
    extra = {p.node.id for p in products if {s.key for s in p.sources} <= keys}
    nodes = cell.nodes | extra
    # a dynamically quantized product's MatMulInteger, Cast and quantizers belong to it too
    nodes |= {m for p in products if p.node.id in nodes for m in p.members}
    if nodes == cell.nodes:
        return cell
    return dataclasses.replace(cell, nodes=nodes)


def _with_sliced_replicas(
    graph: ModelGraph, cell: CellFacts, products: list[_WeightProduct], taken: set[str],
) -> CellFacts:
    """Claim the step Keras 2 computes outside a masked Loop where it reads gate slices of the
    cell's weights that TensorFlow's constant folding stored apart (a GRU with
    reset_after=False slices R, recurrent_dropout every kernel and bias): its products and
    their bias Adds are the cell's, the slices stored copies (counted in ONNX only)."""
    if cell.how != "loop-cell":
        return cell
    from archlint.stored_copies import block_of, stored_tensors

    scope = graph.node(cell.node).graph
    wholes = [t for _, t in stored_tensors(graph, (s.key for s in (
        *cell.kernel, *cell.recurrent_kernel)))]
    if not wholes:
        return cell
    claimed: list[_WeightProduct] = []
    copies: list[WeightSource] = []
    for product in products:
        if product.node.id in taken or product.node.graph != scope or not product.sources:
            continue
        parts = [t for _, t in stored_tensors(graph, (s.key for s in product.sources))]
        if len(parts) == len(product.sources) \
                and all(any(block_of(part, whole) for whole in wholes) for part in parts):
            claimed.append(product)
            copies.extend(product.sources)
    if not claimed:
        return cell
    biases = [t for _, t in stored_tensors(graph, (s.key for s in cell.bias))]
    bias_copies: list[WeightSource] = []
    for product in claimed:
        for add in graph.consumers_of(product.node.outputs[0], scope) \
                if product.node.outputs else ():
            if add.op_type != "Add" or add.graph != scope:
                continue
            for operand in add.inputs:
                sources = weight_sources(graph, operand, scope) if operand else None
                if not sources or len(sources) != 1:
                    continue
                stored = [t for _, t in stored_tensors(graph, (sources[0].key,))]
                if stored and any(block_of(stored[0], whole, any_values=True)
                                  for whole in biases):
                    bias_copies.append(sources[0])
    nodes = cell.nodes | {p.node.id for p in claimed} \
        | {m for p in claimed for m in p.members}
    return dataclasses.replace(
        cell, nodes=nodes, weight_copies=_dedupe((*cell.weight_copies, *copies)),
        bias_copies=_dedupe((*cell.bias_copies, *bias_copies)), sliced_copies=True)


def _scopes_with_products(graph: ModelGraph) -> Iterator[str]:
    yield from graph.scopes_with(_PRODUCTS)


def cell_layers(graph: ModelGraph, producer_name: str = "") -> tuple[RecurrentLayer, ...]:
    """One RecurrentLayer per recognised cell (``recognised_as`` LOOP_CELL or UNROLLED).

    Known facts are filled (cell type, direction, I and H through the ``cell`` field, GRU
    reset_after as linear_before_reset, which is the same choice); op slots stay empty and the
    attributes absent, since no LSTM/GRU/RNN node carries them.
    """
    cells, _ = find_cells(graph)
    return tuple(_view(graph, cell, producer_name) for cell in cells)


_RECOGNITION = {"loop-cell": Recognition.LOOP_CELL, "unrolled": Recognition.UNROLLED,
                "step": Recognition.STEP}


def _view(graph: ModelGraph, cell: CellFacts, producer_name: str) -> RecurrentLayer:
    node = graph.node(cell.node)
    enclosing: list[str] = []
    parent = node.parent
    while parent is not None:
        owner = graph.node(parent)
        enclosing.append(owner.op_type)
        parent = owner.parent
    reset_after = None if cell.reset_after is None else int(cell.reset_after)
    return RecurrentLayer(
        node=node, op_type=cell.cell, direction=cell.direction, hidden_size=None, layout=0,
        activations=None, activation_alpha=None, activation_beta=None, clip=None,
        input_forget=None, linear_before_reset=reset_after,
        attribute_types=MappingProxyType({}), inputs=MappingProxyType({}),
        outputs=MappingProxyType({}), producer_name=producer_name,
        enclosing_op_types=tuple(enclosing),
        recognised_as=_RECOGNITION[cell.how],
        cell=cell,
    )
