"""Single cell steps (archlint/cells/): one step per call, its state read from the model's (or
a subgraph's) inputs and returned through its outputs: torch's ``nn.LSTMCell`` / ``GRUCell`` /
``RNNCell`` with both exporters, a Keras cell called once, a cell in a decoding loop."""

from __future__ import annotations

from collections.abc import Iterable

from archlint.cells._trace import (
    _CELL_BY_GATES,
    _CONCATS,
    _PRODUCT_NODES,
    _PRODUCTS,
    _QDQ,
    _WEIGHT_VIEW_OPS,
    CellFacts,
    NoMatch,
    _as_float_op,
    _bias_sources,
    _check_activations,
    _concat_parts,
    _dedupe,
    _downstream_adds,
    _first,
    _geometry,
    _integer_matmul,
    _is_stored,
    _last_dim,
    _match_core,
    _model_position,
    _op_types,
    _operands,
    _order,
    _pairs_on_last_axis,
    _upstream,
    _weight_product,
    _WeightProduct,
)
from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import gemm_c

__all__ = ["match_steps"]

# A model that computes one step per call reads the state from its inputs and returns the new
# one: a streaming voice-activity detector or keyword spotter, an autoregressive decoder
# exported step by step. torch writes nn.LSTMCell / nn.GRUCell / nn.RNNCell as Gemm + Split +
# gates with both exporters when traced (never as an LSTM node; a scripted cell is a native
# node of one step); a Keras cell called once is the same.

# Ops between a state input and the product that reads it (state[0], state.view(...)).
_STATE_READ_OPS = frozenset({"Identity", "Cast", "Gather", "Slice", "Split", "Squeeze",
                             "Unsqueeze", "Reshape", "Flatten", "Transpose",
                             "DynamicQuantizeLinear"}) | _QDQ
# What a walk between a state input and its product passes: those views and a Mul by a stored
# tensor (SmoothQuant's per-channel scale before a step's QuantizeLinear: ModelGraph._scaled).
_STATE_READS = _STATE_READ_OPS | {"Mul"}
# Ops between a new state and the output that returns it (torch.stack, a packed (h, c)).
_STATE_WRITE_OPS = frozenset({"Identity", "Cast", "Squeeze", "Unsqueeze", "Reshape", "Flatten",
                              "Concat", "Transpose"}) | _QDQ
# Ops between a product and the Add that sums it with the other (its bias, its gate slices).
_SUM_OPS = frozenset({"Add", "Split", "Slice", "Identity", "Cast", "Reshape", "Squeeze",
                      "Unsqueeze"}) | _QDQ
_SUM_HOPS = 4  # ops between a product and that Add, and back up to the other product
_RETURN_HOPS = 6  # ops between a new state and the output that returns it
_STEP_REGION = 64  # nodes of one step looked at downstream of its products


def match_steps(graph: ModelGraph, scope: str, taken: set[str]) -> list[CellFacts]:
    """Every single cell step in ``scope``: h @ R and x @ W summed into the gates (R square
    per gate: ``[H, g·H]``), h read from a graph input, and the new state, H wide, returned
    through a graph output (or carried by the Loop whose body this is). Products in ``taken``
    belong to a cell found already. A candidate that fails is no cell and gets no reason: an
    MLP's first layer reads a graph input too."""
    found: list[CellFacts] = []
    used = set(taken)
    deferred: list[_WeightProduct] = []
    for node_id in graph.reading_inputs(_PRODUCTS, scope, _STATE_READS):
        if node_id in used:
            continue
        state = _weight_product(graph, graph.node(node_id))
        if state is None or state.node.id in used or _shared(graph, state):
            continue
        gates = _gates_of(state)
        # [H, 2H]: a reset_after=False GRU's z and r, or a two-gate cell's (MGU) whole kernel
        reset = _reset_product(graph, state) if gates is None or gates[1] == 2 else None
        width = sum(_columns(p) or 0 for p in (state, reset) if p is not None)
        if gates is not None and gates[1] == 3 \
                and _sliced_geometry(graph, state) == (gates[0], 2 * gates[0]):
            # the same, its pieces sliced from the stored R at every step (a Keras
            # GRUCell(reset_after=False) in a tf.while_loop body: R reaches it as a loop input)
            reset = _reset_product(graph, state, sliced=True)
            width = 3 * gates[0] if reset is not None else width
        if gates is None and reset is None:
            deferred.append(state)
            continue
        cell = _step_of(graph, state, width, used, reset)
        if cell is not None:
            found.append(cell)
            used |= cell.nodes
    # an LSTM with projection's state product [P, 4·H] is no square recurrence: looked at
    # once every plain step is taken (a decoder's x_t @ W_ih [E, 4·H] reading its carried
    # embedding, and its output Linear after h, would read as one otherwise)
    for state in deferred:
        projection = None if state.node.id in used else _step_projection(graph, state, used)
        cell = None if projection is None else _step_of(
            graph, state, _columns(state) or 0, used, projection=projection)
        if cell is not None:
            found.append(cell)
            used |= cell.nodes
    for concat in graph.iter_nodes(_CONCATS):
        if concat.graph == scope and concat.outputs and concat.outputs[0]:
            cell = _joint_step(graph, concat, used)
            if cell is not None:
                found.append(cell)
                used |= cell.nodes
    return found


def _joint_step(graph: ModelGraph, concat: NodeInfo, used: set[str]) -> CellFacts | None:
    """An LSTM step whose one kernel ``[I+H, 4H]`` multiplies ``Concat([x, h])``, h a graph
    input (a view of one) H wide (the tutorials' cell: one Linear over ``torch.cat([x, h],
    1)``, called once per call), and c read by the forget gate. A SimpleRNN or GRU of this
    shape is not claimed: a concatenation of two inputs through one Linear whose result is
    as wide as one of them is no sign of a recurrence without the cell state."""
    scope = concat.graph
    if not _pairs_on_last_axis(graph, concat, scope):
        return None
    parts = _concat_parts(concat)
    states = [k for k, name in enumerate(parts)
              if name and graph.viewed_input(name, scope, _STATE_READS) is not None]
    for consumer in graph.consumers_of(concat.outputs[0], scope):
        product = _weight_product(graph, consumer) \
            if consumer.op_type in _PRODUCT_NODES and consumer.id not in used else None
        if product is None or product.data != concat.outputs[0]:
            continue
        geometry = _geometry(_dedupe(product.sources))
        if isinstance(geometry, str):
            return None
        rows, columns = geometry
        for k in reversed(states):  # h second, as torch.cat([x, h]) writes it, when both are
            hidden = _last_dim(graph, parts[k], scope)
            if hidden is None or hidden <= 0 or rows <= hidden or columns != 4 * hidden:
                continue
            cell = _match_joint_step(graph, product, parts[k], rows - hidden, hidden)
            if cell is not None:
                return cell
    return None


def _match_joint_step(
    graph: ModelGraph, product: _WeightProduct, state: str, inputs: int, hidden: int
) -> CellFacts | None:
    scope, ids = product.node.graph, frozenset({product.node.id})
    closing = _new_states(graph, ids, scope, hidden)
    if not closing:
        return None
    step_nodes = _step_nodes(graph, closing, scope, ids)
    inner = step_nodes - ids
    if _check_activations(product.node.id, "LSTM", _op_types(graph, inner)) is not None:
        return None
    if not _reads_cell_state(graph, inner, state, scope):
        return None  # an LSTM step reads c as well as h
    used = {s.key for s in product.sources}
    bias = _dedupe((*_bias_sources(graph, step_nodes & _sum_region(graph, (product,)), used),
                    *product.bias))
    return CellFacts(
        how="step", cell="LSTM", node=product.node.id, input_size=inputs, hidden_size=hidden,
        kernel=_dedupe(product.sources), recurrent_kernel=(), bias=bias, reset_after=None,
        direction="forward", returns_sequence=False, sequence=None, steps=1, nodes=ids,
        joint_kernel=True,
    )



def _shared(graph: ModelGraph, product: _WeightProduct) -> bool:
    """Whether another product reads the weights of ``product``: the steps of a chain (which
    :func:`match_unrolled` matched or refused), not one step."""
    for source in product.sources:
        frontier, seen, products = [source.tensor], {source.tensor}, 0
        while frontier:
            name = frontier.pop()
            for consumer in graph.consumers_of(name, source.graph):
                if consumer.op_type in _PRODUCTS:
                    products += 1
                elif consumer.op_type in _WEIGHT_VIEW_OPS or consumer.op_type in (
                        "Transpose", "Concat"):
                    for out in consumer.outputs:
                        if out and out not in seen and consumer.graph == source.graph:
                            seen.add(out)
                            frontier.append(out)
            if products > 1:
                return True
    return False


def _gates_of(product: _WeightProduct) -> tuple[int, int] | None:
    """(H, gates) when the product's weight is square per gate, ``[H, g·H]`` with g 1 to 4."""
    geometry = _geometry(_dedupe(product.sources))
    if isinstance(geometry, str):
        return None
    rows, columns = geometry
    if rows <= 0 or columns % rows or columns // rows not in _CELL_BY_GATES:
        return None
    return rows, columns // rows


def _summed_with(
    graph: ModelGraph, product: _WeightProduct, width: int
) -> list[_WeightProduct]:
    """The other stored-weight products ``width`` columns wide added to ``product`` (after
    their biases, or gate by gate after a Split), in model order."""
    scope = product.node.graph
    own = {product.node.id}
    frontier = [(product.node.outputs[0] if product.node.outputs else "", 0)]
    adds: list[NodeInfo] = []
    fused: list[NodeInfo] = []
    while frontier:
        name, hops = frontier.pop()
        if not name or hops >= _SUM_HOPS:
            continue
        for consumer in graph.consumers_of(name, scope):
            if consumer.graph != scope or consumer.id in own:
                continue
            if _fused_sum(consumer) == name:
                fused.append(consumer)  # the other product adds this one as its C
                continue
            kind = _as_float_op(consumer)
            if kind not in _SUM_OPS:
                continue
            own.add(consumer.id)
            if kind == "Add":
                adds.append(consumer)
            # an Identity costs no hop (paddle2onnx writes one after every op), nor a
            # quantize-dequantize pair (onnxruntime's QDQ format puts one after every op)
            step = 0 if kind == "Identity" or consumer.op_type in _QDQ else 1
            frontier.extend((out, hops + step) for out in consumer.outputs)
    partners: dict[str, _WeightProduct] = {}
    own_sum = _fused_sum(product.node)
    above = _product_above(graph, own_sum, scope, own) if own_sum else None
    for node in (*fused, *([above] if above is not None else [])):
        other = _weight_product(graph, node)
        if other is not None and _columns(other) == width:
            partners[node.id] = other
    for add in adds:
        for operand in _operands(add):
            above = _product_above(graph, operand, scope, own)
            if above is None or above.id in partners:
                continue
            other = _weight_product(graph, above)
            if other is not None and _columns(other) == width:
                partners[above.id] = other
    return sorted(partners.values(), key=_order)


def _fused_sum(node: NodeInfo) -> str:
    """The C input of a standard Gemm (what it adds to its product: tf2onnx folds
    ``x @ W + h @ R`` into ``Gemm(x, W, MatMul(h, R))``), or ""."""
    if node.op_type == "Gemm" and node.domain in ("", "ai.onnx"):
        return gemm_c(node)
    return ""


def _step_nodes(
    graph: ModelGraph, names: Iterable[str], scope: str, ids: frozenset[str]
) -> frozenset[str]:
    """The nodes one step computes ``names`` with, back to its products (``ids``), a product
    that another adds as its Gemm C included (the walk crosses a stopped Gemm's C)."""
    return frozenset().union(*(_upstream(graph, [name], scope, stop=ids).nodes
                               for name in names))


def _product_above(
    graph: ModelGraph, name: str, scope: str, own: set[str]
) -> NodeInfo | None:
    """The MatMul or Gemm that ``name`` is computed from through a bias Add, a Split or a
    view, outside the nodes in ``own`` (an Identity or a quantize-dequantize op costs no
    hop)."""
    hops = 0
    for _ in range(6 * _SUM_HOPS):
        if hops >= _SUM_HOPS:
            return None
        producer = graph.producer(name, scope) if name else None
        if producer is None or producer.graph != scope or producer.id in own:
            return None
        hops += producer.op_type != "Identity" and producer.op_type not in _QDQ
        if producer.op_type in _PRODUCT_NODES:
            return producer
        if producer.op_type == "Mul" and (integer := _integer_matmul(graph, producer)):
            return integer
        kind = _as_float_op(producer)
        if kind not in _SUM_OPS:
            return None
        operands = [operand for operand in (_operands(producer) if kind == "Add"
                                            else producer.inputs[:1])
                    if operand and not _stored_view(graph, operand, scope)]
        if len(operands) != 1:
            return None  # a sum of two computed values: not a bias Add
        name = operands[0]
    return None


def _stored_view(graph: ModelGraph, name: str, scope: str) -> bool:
    """A stored tensor or a view of one (:func:`_is_stored`): a Keras GRUCell's ``[2, 3H]``
    bias reaches a tf.while_loop body as a loop input, and each product adds its row,
    ``Squeeze(Split(bias))``."""
    for _ in range(_SUM_HOPS):
        if _is_stored(graph, name, scope):
            return True
        producer = graph.producer(name, scope) if name else None
        if producer is None or producer.graph != scope \
                or producer.op_type not in _WEIGHT_VIEW_OPS or not producer.inputs \
                or not all(_is_stored(graph, other, scope)
                           for other in producer.inputs[1:] if other):
            return False
        name = producer.inputs[0]
    return False


def _columns(product: _WeightProduct) -> int | None:
    geometry = _geometry(_dedupe(product.sources))
    return None if isinstance(geometry, str) else geometry[1]


def _sliced_geometry(graph: ModelGraph, product: _WeightProduct) -> tuple[int, int] | None:
    """(rows, columns) of what a MatMul multiplies by where that is a Slice of its stored
    weight (the operand's own shape, known and rank 2), else None."""
    if product.node.op_type != "MatMul" or len(product.sources) != 1:
        return None
    producer = graph.producer(product.weight, product.node.graph)
    info = graph.tensor(product.weight, product.node.graph)
    if producer is None or producer.op_type != "Slice" or info is None or info.shape is None \
            or len(info.shape) != 2 or not all(isinstance(d, int) for d in info.shape):
        return None
    rows, columns = info.shape
    assert isinstance(rows, int) and isinstance(columns, int)
    return rows, columns


def _reset_product(
    graph: ModelGraph, state: _WeightProduct, *, sliced: bool = False
) -> _WeightProduct | None:
    """A GRU step with reset_after=False (Keras ``GRUCell(reset_after=False)`` through
    tf2onnx) multiplies h by R[:, :2H] (z and r) and r ⊙ h by R[:, 2H:] (the candidate), each
    piece stored on its own: when ``state`` is the first, the second, ``[H, H]`` and reading a
    Mul of h. ``sliced``: both pieces are Slices of one stored R, read by their shapes."""
    geometry = _sliced_geometry(graph, state) if sliced else _geometry(_dedupe(state.sources))
    if geometry is None or isinstance(geometry, str) or geometry[1] != 2 * geometry[0]:
        return None
    hidden, scope = geometry[0], state.node.graph
    muls = [node for data in _state_views(graph, state.data, scope)
            for node in graph.consumers_of(data, scope)]
    for mul in muls:
        if mul.graph != scope or _as_float_op(mul) != "Mul" or not mul.outputs \
                or not mul.outputs[0]:
            continue
        for consumer in graph.consumers_of(mul.outputs[0], scope):
            if consumer.graph != scope or consumer.op_type not in _PRODUCT_NODES \
                    or _first(consumer) != mul.outputs[0]:
                continue
            product = _weight_product(graph, consumer)
            if product is None:
                continue
            if sliced:  # the other Slice of the same R
                if _sliced_geometry(graph, product) == (hidden, hidden) \
                        and _dedupe(product.sources) == _dedupe(state.sources):
                    return product
            elif _geometry(_dedupe(product.sources)) == (hidden, hidden) \
                    and not _shared(graph, product):
                return product
    return None


def _state_views(graph: ModelGraph, data: str, scope: str) -> list[str]:
    """``data`` and the other views in ``scope`` of the graph input it views: a float16
    conversion that keeps the model's inputs float32 casts h once for each node that reads it,
    so the product reads one Cast of h and the reset gate's Mul another."""
    views = [data]
    origin = graph.viewed_input(data, scope, _STATE_READS)
    if origin is None:
        return views
    frontier, seen = [origin], {origin}
    while frontier and len(seen) < _STEP_REGION:
        path, name = frontier.pop()
        for node in graph.consumers_of(name, path):
            if node.op_type not in _STATE_READ_OPS or _first(node) != name:
                continue
            for out in node.outputs:
                if out and (node.graph, out) not in seen:
                    seen.add((node.graph, out))
                    frontier.append((node.graph, out))
                    if node.graph == scope and out != data:
                        views.append(out)
    return views


def _step_of(
    graph: ModelGraph, state: _WeightProduct, width: int, used: set[str],
    reset: _WeightProduct | None = None, projection: _WeightProduct | None = None,
) -> CellFacts | None:
    """The step of state product ``state`` with the first product summed with it that makes
    one."""
    for partner in _summed_with(graph, state, width):
        if partner.node.id in used or _shared(graph, partner) or partner is projection:
            continue
        cell = _match_step(graph, state, partner, reset, projection)
        if cell is not None:
            return cell
    return None


def _match_step(
    graph: ModelGraph, state: _WeightProduct, partner: _WeightProduct,
    reset: _WeightProduct | None = None, projection: _WeightProduct | None = None,
) -> CellFacts | None:
    """The step of ``state`` (h @ R) and ``partner`` (x @ W); ``reset``: the second piece of a
    reset_after=False GRU's recurrent product ((r ⊙ h) @ R[:, 2H:]); ``projection``: an LSTM
    with projection's ``(o ⊙ tanh c) @ W_hr``, h then P wide and c H wide."""
    scope = state.node.graph
    ids = frozenset({state.node.id, partner.node.id, *([reset.node.id] if reset else [])})
    first = min(ids, key=_model_position)
    gates = _gates_of(state)
    geometry = _geometry(_dedupe(state.sources))
    if isinstance(geometry, str) or (gates is None and reset is None and projection is None):
        return None
    hidden = geometry[0]
    if projection is not None:
        projected = _geometry(_dedupe(projection.sources))
        if isinstance(projected, str):
            return None
        hidden = projected[0]  # the new c is H wide; the new h, the projection's, P wide
    closing = _new_states(graph, ids, scope, hidden)
    if not closing:
        return None
    step_nodes = _step_nodes(graph, closing, scope, ids)
    if not ids <= step_nodes:
        return None
    inner = step_nodes - ids
    if reset is None and _gates_of(partner) == gates \
            and _read_elementwise(graph, partner, inner) \
            and not _read_elementwise(graph, state, inner):
        state, partner = partner, state  # I = H: the state is the one the update reads too
    # deduplicated: the two pieces of a reset_after=False R sliced from one stored tensor
    recurrent = _dedupe((*state.sources, *(reset.sources if reset is not None else ())))
    core = _match_core(first, partner.sources, recurrent,
                       projection.sources if projection is not None else ())
    if isinstance(core, NoMatch) or core.hidden_size != hidden \
            or (reset is not None and core.cell != "GRU"):
        return None
    if _check_activations(first, core.cell, _op_types(graph, inner)) is not None:
        return None
    if core.cell == "RNN" and any(_blended(graph, name, scope) for name in closing):
        return None  # a gate that blends the old state: a gated cell archlint does not know
    if core.cell == "LSTM" and not _reads_cell_state(graph, inner, state.data, scope):
        return None  # an LSTM step reads c as well as h
    if projection is not None and not _returned(graph, projection.node.outputs[0], scope):
        return None  # the projected h is the state the next call reads
    used = {s.key for s in (*core.kernel, *core.recurrent, *core.projection)}
    # the bias joins the products' sum before the gates: the step's other Adds (a layer
    # above that reads this h, a packed state of several layers) are not this cell's
    summed = step_nodes & _sum_region(graph, (state, partner, *([reset] if reset else [])))
    bias = _dedupe((*_bias_sources(graph, summed | _downstream_adds(graph, [partner]), used),
                    *state.bias, *partner.bias))
    return CellFacts(
        how="step", cell=core.cell, node=first,
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        # a GRU's R reads h itself (reset_after=True), or r ⊙ h in its second piece
        reset_after=(reset is None) if core.cell == "GRU" else None,
        direction="forward", returns_sequence=False, sequence=None, steps=1,
        nodes=ids | ({projection.node.id} if projection is not None else set()),
        projection=core.projection, projection_size=core.projection_size,
    )


def _step_projection(
    graph: ModelGraph, state: _WeightProduct, used: set[str]
) -> _WeightProduct | None:
    """The projection of an LSTM with projection's step, for a state product ``h @ W_hh``
    ``[P, 4·H]``: the first product downstream of it (within a step's region) whose weight is
    ``[H, P]`` and which reads the gates' result, not a graph input."""
    geometry = _geometry(_dedupe(state.sources))
    if isinstance(geometry, str):
        return None
    width, columns = geometry
    if width <= 0 or columns % 4:
        return None
    scope, seen = state.node.graph, {state.node.id}
    frontier = [state.node]
    while frontier and len(seen) < _STEP_REGION:
        node = frontier.pop(0)
        for name in node.outputs:
            for consumer in graph.consumers_of(name, scope) if name else ():
                if consumer.graph != scope or consumer.id in seen:
                    continue
                seen.add(consumer.id)
                product = _weight_product(graph, consumer) \
                    if consumer.op_type in _PRODUCT_NODES else None
                if product is not None and product.node.id not in used:
                    shape = _geometry(_dedupe(product.sources))
                    if not isinstance(shape, str) and shape == (columns // 4, width):
                        return product
                    continue  # another product: the step ends there
                frontier.append(consumer)
    return None


def _blended(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether the new state ``name`` is made by a product or sum of gated terms rather than by
    a SimpleRNN's activation: ``(1 - f) ⊙ n + f ⊙ h`` (a minimal gated unit, Flax's MGUCell),
    whose forget gate alone looks like a SimpleRNN step with a sigmoid."""
    producer = graph.producer(graph.through(name, scope, _STATE_VIEWS), scope)
    return producer is not None and _as_float_op(producer) in ("Add", "Sub", "Mul")


_STATE_VIEWS = frozenset({"Identity", "Reshape", "Squeeze", "Unsqueeze", "Cast"})


def _sum_region(graph: ModelGraph, products: Iterable[_WeightProduct]) -> frozenset[str]:
    """The nodes at most ``_SUM_HOPS`` sum ops (Add, Split, views) after the products: where
    they are summed with each other and with the bias, up to the gates' activations."""
    found: set[str] = set()
    for product in products:
        scope = product.node.graph
        frontier = [(name, 0) for name in product.node.outputs if name]
        while frontier:
            name, hops = frontier.pop()
            if hops >= _SUM_HOPS:
                continue
            for consumer in graph.consumers_of(name, scope):
                if consumer.graph == scope and _as_float_op(consumer) in _SUM_OPS \
                        and consumer.id not in found:
                    found.add(consumer.id)
                    frontier.extend((out, hops + 1) for out in consumer.outputs if out)
    return frozenset(found)


def _new_states(graph: ModelGraph, ids: frozenset[str], scope: str, hidden: int) -> list[str]:
    """Tensors computed from both products, ``hidden`` wide, that the graph returns."""
    region: list[NodeInfo] = []
    seen = set(ids)
    frontier = [graph.node(node_id) for node_id in sorted(ids, key=_model_position)]
    while frontier and len(region) < _STEP_REGION:
        node = frontier.pop(0)
        for name in node.outputs:
            for consumer in graph.consumers_of(name, scope) if name else ():
                if consumer.graph == scope and consumer.id not in seen:
                    seen.add(consumer.id)
                    region.append(consumer)
                    frontier.append(consumer)
    found = []
    for node in region:
        for name in node.outputs:
            if name and _last_dim(graph, name, scope) == hidden \
                    and _returned(graph, name, scope) \
                    and ids <= _step_nodes(graph, [name], scope, ids):
                found.append(name)
    return found


def _returned(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` reaches, through views and packing, an output of the model, or of a
    Loop or Scan body (a carried or scanned value); an If branch's output is followed on
    from the If."""
    frontier = [(name, scope, 0)]
    seen = {(name, scope)}
    while frontier:
        current, path, hops = frontier.pop()
        outputs = graph.graph_outputs.get(path, ())
        if current in outputs:
            owner_id = graph.subgraph_owner(path)
            if owner_id is None:
                return path == "main"
            owner = graph.node(owner_id)
            if owner.op_type in ("Loop", "Scan"):
                return True
            position = outputs.index(current)
            if owner.op_type == "If" and position < len(owner.outputs) \
                    and owner.outputs[position] \
                    and (owner.outputs[position], owner.graph) not in seen:
                seen.add((owner.outputs[position], owner.graph))
                frontier.append((owner.outputs[position], owner.graph, hops))
            continue
        if hops >= _RETURN_HOPS:
            continue
        for consumer in graph.consumers_of(current, path):
            if consumer.graph == path and consumer.op_type in _STATE_WRITE_OPS \
                    and consumer.outputs and consumer.outputs[0] \
                    and (consumer.outputs[0], path) not in seen:
                seen.add((consumer.outputs[0], path))
                frontier.append((consumer.outputs[0], path, hops + 1))
    return False


def _read_elementwise(graph: ModelGraph, product: _WeightProduct, nodes: Iterable[str]) -> bool:
    """Whether the graph input that ``product`` reads its data from is read again by a node of
    the step other than a view: a GRU's h in its update, an LSTM's c packed with its h."""
    scope = product.node.graph
    source = graph.viewed_input(product.data, scope, _STATE_READS)
    if source is None:
        return False
    for node_id in nodes:
        node = graph.node(node_id)
        if node.op_type in _STATE_READ_OPS or node.op_type in _PRODUCTS:
            continue
        if any(operand and graph.viewed_input(operand, scope, _STATE_READS) == source
               for operand in node.inputs):
            return True
    return False


def _reads_cell_state(graph: ModelGraph, nodes: Iterable[str], h: str, scope: str) -> bool:
    """Whether a Mul of the step reads a graph input (c) other than h."""
    for node_id in nodes:
        node = graph.node(node_id)
        if _as_float_op(node) != "Mul":
            continue
        if any(operand and operand != h
               and graph.viewed_input(operand, scope, _STATE_READS) is not None
               for operand in _operands(node)):
            return True
    return False
