"""Loop and Scan cells: a loop body that computes one LSTM / GRU / SimpleRNN step, or several
stacked (archlint/cells/). Keras's layout (``x_t @ kernel`` and ``h @ recurrent_kernel``, tf2onnx's
Loop) and TF1's (one kernel over ``Concat([x_t, h])``, tf2onnx's Scan); a Scan's scan elements
and directions, opset 8's sequence_lens and IR<4 bodies are read as the spec writes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.cells._projection import (
    _axis_at_data,
    _axis_before,
    _normal_axis,
    _projection_of,
    _reversed_axis,
)
from archlint.cells._trace import (
    _CELL_BY_GATES,
    _FLOAT_TYPES,
    _SEQUENCE_VIEW_OPS,
    _VIEWS,
    CellFacts,
    NoMatch,
    WeightSource,
    _all_zero,
    _bias_sources,
    _check_activations,
    _concat_parts,
    _dedupe,
    _downstream_adds,
    _first,
    _gate_peepholes,
    _geometry,
    _is_reset,
    _last_dim,
    _match_core,
    _model_position,
    _op_types,
    _pairs_on_last_axis,
    _resets_before_product,
    _Upstream,
    _upstream,
    _weight_products,
    _WeightProduct,
    step_axis,
    weight_sources,
)
from archlint.graph import ModelGraph, NodeInfo
from archlint.onnx_ops import loadable_from
from archlint.patterns import (
    attr_int,
    attr_ints,
    const_ints,
    flips_whole,
    gather_spec,
    slice_spec,
)

__all__ = ["carries_changing_state", "match_loop_cells"]


@dataclass(frozen=True)
class _LoopBody:
    """A Loop's or a Scan's body as the cell matchers read it."""

    node: NodeInfo  # the Loop or the Scan
    scope: str  # its body
    states: Mapping[str, str]  # a carried floating-point body input -> its next value
    carried: int  # how many leading outputs of the node are final states (then scan outputs)
    # Scan: body input x_t -> (outer sequence, reversed, the sequence's axis it steps)
    elements: Mapping[str, tuple[str, bool, int]]


def _loop_body(graph: ModelGraph, node: NodeInfo) -> _LoopBody | NoMatch:
    """What a Loop or Scan carries from one iteration to the next
    (:meth:`ModelGraph.carried_values`), and, for a Scan, which body inputs are one step of an
    outer sequence: after the carried ones, each scan element stands for a node input after
    the carried ones (at opset 8 the node inputs start with sequence_lens)."""
    bodies = [p for p in graph.subgraphs_of(node.id) if p.endswith(".body")]
    if node.op_type not in ("Loop", "Scan") or len(bodies) != 1:
        return NoMatch(node.id, f"not a Loop or Scan with one body ({node.op_type})")
    body = bodies[0]
    values = graph.carried_values(node, body)
    elements: dict[str, tuple[str, bool, int]] = {}
    if node.op_type == "Scan":
        inputs = graph.formal_inputs(body)
        scans = attr_int(node, "num_scan_inputs") or 0
        carried, offset = len(inputs) - scans, len(node.inputs) - len(inputs)
        if carried < 0 or offset < 0:
            return NoMatch(node.id, f"the Scan's num_scan_inputs={scans} does not fit its "
                           f"{len(inputs)} body inputs and {len(node.inputs)} inputs")
        directions = attr_ints(node, "scan_input_directions") or ()
        scan_axes = attr_ints(node, "scan_input_axes") or ()
        for j in range(scans):
            outer = node.inputs[offset + carried + j]
            if outer:
                reverse = j < len(directions) and directions[j] == 1
                # opset 8's Scan (sequence_lens first) reads [batch, seq, ...]: seq is axis 1
                axis = scan_axes[j] if j < len(scan_axes) else offset
                elements[inputs[carried + j]] = (outer, reverse, axis)
    if not values or not all(output for _, output, _ in values):
        return NoMatch(node.id, "the body carries no value from one iteration to the next")
    states: dict[str, str] = {}  # body input -> its next value
    for name, new, _ in values:
        info = graph.tensor(name, body)
        if graph.through(new, body) == name:
            continue  # passed through unchanged: a constant of the loop
        if info is not None and info.dtype is not None \
                and info.dtype not in _FLOAT_TYPES | _QUANTIZED_TYPES:
            continue  # a counter, a condition
        states[name] = new
    if not states:
        return NoMatch(node.id, "no floating-point or quantized value changes from one "
                       "iteration to the next")
    return _LoopBody(node, body, MappingProxyType(states), len(values),
                     MappingProxyType(elements))


# 8- and 16-bit integers: a quantized recurrence carries its state so (tract's test LSTM of
# a Kaldi model, snips' converter: an int8 state in a Scan); counters are int32 or int64
_QUANTIZED_TYPES = frozenset({2, 3, 4, 5})  # uint8, int8, uint16, int16


def carries_changing_state(
    graph: ModelGraph, node: NodeInfo, weighted_ops: frozenset[str]
) -> bool:
    """Whether the Loop or Scan ``node`` carries a floating-point (or 8- or 16-bit quantized)
    value that changes from one iteration to the next and is computed from an op of
    ``weighted_ops`` (or a nested control-flow op, or an op of another domain), which a
    recurrence needs: a tf.map_fn or a torch loop applying a Linear to each step carries
    only a counter, pass-through weights and a list of outputs (SequenceInsert), a dynamo
    Scan a float counter; a loop carrying the last step's output only does not read it back
    (a value a step computes from its own input alone)."""
    body = _loop_body(graph, node)
    if isinstance(body, NoMatch):
        return False
    states = {(body.scope, name) for name in body.states}
    for new in body.states.values():
        producer = graph.producer(graph.through(new, body.scope), body.scope)
        if producer is None or producer.op_type.startswith("Sequence"):
            continue  # an outer value, or a list of outputs appended to
        walk = _upstream(graph, [new], body.scope)
        if not walk.complete:
            return True
        # a nested If, Loop or Scan may read the state as an outer name, which no input shows
        nested = any(graph.node(node_id).op_type in ("Loop", "Scan", "If")
                     for node_id in walk.nodes)
        if not nested and not walk.leaves & states:
            continue  # made afresh at every step: nothing is carried into it
        if nested or any((n := graph.node(node_id)).op_type in weighted_ops
                         or n.domain not in ("", "ai.onnx") for node_id in walk.nodes):
            return True
    return False


def match_loop_cells(graph: ModelGraph, node: NodeInfo) -> list[CellFacts] | NoMatch:
    """The LSTM / GRU / SimpleRNN steps a Loop's or a Scan's body computes, or why it computes
    none. One cell with its own kernel and recurrent kernel (Keras through tf2onnx), or cells
    whose one kernel multiplies the step input and the state side by side (TF1's rnn_cell
    layout, tf2onnx's Scan), several of them when a MultiRNNCell stacks them in one body."""
    body = _loop_body(graph, node)
    if isinstance(body, NoMatch):
        return body
    native = next((n for n in graph.iter_nodes(frozenset({"LSTM", "GRU", "RNN"}))
                   if n.graph == body.scope), None)
    if native is not None:
        article = "a" if native.op_type == "GRU" else "an"
        return NoMatch(node.id, f"the body holds {article} {native.op_type} node, which is the "
                       "layer (a decoding loop around it, not a cell written out)")
    products = _weight_products(graph, body.scope)
    if not products:
        return NoMatch(node.id, "the body has no MatMul with a stored weight")
    stop = frozenset(p.node.id for p in products)
    joint = {p.node.id: operands for p in products
             if (operands := _joint_operands(graph, p, body, stop)) is not None}
    cells = _with_projections(graph, body, _body_cells(graph, body, products, stop), stop)
    if joint:
        return _match_joint_cells(graph, body, cells, joint, stop)
    if len(cells) >= 2:
        return _match_split_cells(graph, body, cells, stop)
    cell = _match_split_cell(graph, body, products)
    return cell if isinstance(cell, NoMatch) else [cell]


def _match_split_cell(
    graph: ModelGraph, body: _LoopBody, products: list[_WeightProduct]
) -> CellFacts | NoMatch:
    """One cell computing ``x_t @ kernel`` and ``h @ recurrent_kernel`` (Keras's layout)."""
    loop, scope, states = body.node, body.scope, body.states
    state_products: list[_WeightProduct] = []
    input_products: list[_WeightProduct] = []
    sequences: set[tuple[str, bool]] = set()
    axes: set[int | None] = set()
    for product in products:
        walk = _upstream(graph, [product.data], scope)
        reached = {name for path, name in walk.leaves if path == scope}
        if reached & states.keys():
            state_products.append(product)
            continue
        read = _step_read(graph, walk, body)
        if read is not None:
            input_products.append(product)
            sequences.add(read[:2])
            axes.add(read[2])
    if not state_products:
        return NoMatch(loop.id, "no MatMul multiplies a loop-carried state by a stored weight")
    projection = _split_projection(graph, body, state_products)
    state_products = [p for p in state_products if p not in projection]
    hoisted: _Hoisted | None = None
    if not input_products:
        found = _hoisted_projection(graph, body, state_products)
        if isinstance(found, NoMatch):
            return found
        hoisted = found
        input_products.append(hoisted.product)
        sequences.add((hoisted.sequence, False))
        axes.add(hoisted.axis)
    core = _match_core(loop.id, (s for p in input_products for s in p.sources),
                       (s for p in state_products for s in p.sources),
                       (s for p in projection for s in p.sources))
    if isinstance(core, NoMatch):
        return core

    product_ids = {p.node.id for p in (*state_products, *input_products, *projection)}
    feeding = {name: _upstream(graph, [new], scope) for name, new in states.items()}
    closed = [name for name, walk in feeding.items()
              if walk.nodes & {p.node.id for p in state_products}]
    if not closed:
        return NoMatch(loop.id, "the state product does not feed the next state: no recurrence")
    widths = {_last_dim(graph, name, scope) for name in closed}
    allowed = {core.hidden_size, core.projection_size}
    if any(isinstance(w, int) and w not in allowed for w in widths):
        return NoMatch(loop.id, f"the carried state is {sorted(w for w in widths if w)} wide but "
                       f"the recurrent kernel implies H={core.hidden_size}")
    step_nodes = frozenset().union(*(feeding[name].nodes for name in closed))
    failure = _check_activations(loop.id, core.cell, _op_types(graph, step_nodes))
    if failure is not None:
        return failure
    if core.cell == "LSTM" and len(closed) < 2:
        return NoMatch(loop.id, "LSTM-sized weights but only one state (h) is carried; an LSTM "
                       "carries h and c")
    peephole = _gate_peepholes(graph, scope, step_nodes, core.hidden_size) \
        if core.cell == "LSTM" else ()
    used = {s.key for s in (*core.kernel, *core.recurrent, *core.projection, *peephole)}
    projection_adds = frozenset() if hoisted is None else hoisted.adds
    bias = _dedupe((*_bias_sources(graph, step_nodes | projection_adds, used),
                    *(s for p in (*state_products, *input_products) for s in p.bias)))
    sequence = sorted(sequences)[0] if len(sequences) == 1 else None
    axis = next(iter(axes)) if sequence is not None and len(axes) == 1 else None
    return CellFacts(
        how="loop-cell", cell=core.cell, node=loop.id,
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        reset_after=(not _resets_before_product(graph, state_products)
                     if core.cell == "GRU" else None),
        direction=_sequence_direction(graph, body, sequence, axis) if hoisted is None
        else hoisted.direction,
        returns_sequence=_loop_returns_sequence(graph, loop, body.carried),
        sequence=None if sequence is None else sequence[0], steps=None,
        nodes=frozenset({loop.id, *product_ids}), sequence_axis=axis, peephole=peephole,
        projection=core.projection, projection_size=core.projection_size,
    )


def _next_values(graph: ModelGraph, body: _LoopBody) -> set[str]:
    """The tensors the carried states' next values are views of: what a product that
    computes a state (an LSTM's projection, h = m @ W_hr) outputs."""
    return {graph.through(value, body.scope, _VIEWS) for value in body.states.values()}


def _split_projection(
    graph: ModelGraph, body: _LoopBody, state_products: list[_WeightProduct]
) -> list[_WeightProduct]:
    """The products of an LSTM with projection's W_hr (a scripted LSTMP): each computed from
    another state product, its output the next value of a carried state (h = (o ⊙ tanh c)
    @ W_hr), all of one weight; none otherwise. (A GRU's ``(r ⊙ h) @ R`` is computed from
    a state product too, but a tanh reads it, no state is it.)"""
    ids = frozenset(p.node.id for p in state_products)
    new = _next_values(graph, body)
    found = [p for p in state_products if p.node.outputs and p.node.outputs[0] in new
             and (_upstream(graph, [p.data], body.scope, stop=ids).nodes & ids) - {p.node.id}]
    if not found or len(found) == len(state_products) \
            or len({s.key for p in found for s in p.sources}) != 1:
        return []
    return found


@dataclass(frozen=True)
class _JointOperands:
    """A product's data as ``Concat([x, h], axis=-1)``: the step input and the state side by
    side, multiplied by one kernel ``[I+H, g·H]`` (TF1's LSTMCell, GRUCell, BasicRNNCell)."""

    step: str  # x_t, or the output of the cell below (MultiRNNCell)
    state: str  # h, or r ⊙ h (a GRUCell's candidate)
    states: frozenset[str]  # the carried states the state side reads


def _joint_operands(
    graph: ModelGraph, product: _WeightProduct, body: _LoopBody, stop: frozenset[str]
) -> _JointOperands | None:
    """``stop``: the body's products, which the walks visit but do not cross."""
    concat = graph.producer(graph.through(product.data, body.scope, _VIEWS), body.scope)
    if concat is None or not _pairs_on_last_axis(graph, concat, body.scope):
        return None
    parts = _concat_parts(concat)
    sides = []
    for operand in parts:
        walk = _upstream(graph, [operand], body.scope, stop=stop)
        sides.append(frozenset(name for path, name in walk.leaves
                               if path == body.scope and name in body.states))
    # the state side reads a carried state itself (h, or r ⊙ h); the step side may read
    # states only through the cell below it (MultiRNNCell), which a direct read tells apart
    direct = [_reads_state(graph, operand, body) for operand in parts]
    if direct[0] != direct[1]:
        k = 1 if direct[1] else 0
    elif bool(sides[0]) != bool(sides[1]):
        k = 1 if sides[1] else 0
    else:
        return None
    return _JointOperands(parts[1 - k], parts[k], sides[k])


def _reads_state(graph: ModelGraph, name: str, body: _LoopBody) -> bool:
    """``name`` is a carried state, or a Mul with one (r ⊙ h), through Identity and Cast."""
    def state(candidate: str) -> bool:
        return graph.through(candidate, body.scope, _VIEWS) in body.states

    if state(name):
        return True
    producer = graph.producer(name, body.scope)
    return producer is not None and producer.op_type == "Mul" \
        and producer.graph == body.scope and any(state(n) for n in producer.inputs)


@dataclass(frozen=True)
class _BodyCell:
    """The products of one cell in a loop body and the states it carries."""

    products: tuple[_WeightProduct, ...]  # in model order
    states: frozenset[str]


def _body_cells(
    graph: ModelGraph, body: _LoopBody, products: list[_WeightProduct], stop: frozenset[str]
) -> list[_BodyCell]:
    """The body's products grouped into cells, in model order: products belong to one cell
    when a next state is computed from them all (a GRU's gates and candidate, a Keras cell's
    kernel and recurrent products); a state belongs to the cell its next value is computed
    from. A state computed from no product (a mask, a running value) belongs to none."""
    groups: list[tuple[frozenset[str], frozenset[str]]] = []  # (product ids, states)
    for state, new in body.states.items():
        hit = _upstream(graph, [new], body.scope, stop=stop).nodes & stop
        if not hit:
            continue
        merged = [group for group in groups if group[0] & hit]
        ids = frozenset(hit).union(*(group[0] for group in merged))
        names = frozenset({state}).union(*(group[1] for group in merged))
        groups = [group for group in groups if group not in merged] + [(ids, names)]
    by_id = {p.node.id: p for p in products}
    cells = [_BodyCell(tuple(by_id[n] for n in sorted(ids, key=_model_position)), names)
             for ids, names in groups]
    return sorted(cells, key=lambda cell: _model_position(cell.products[0].node.id))


def _match_joint_cells(
    graph: ModelGraph, body: _LoopBody, cells: list[_BodyCell],
    joint: Mapping[str, _JointOperands], stop: frozenset[str],
) -> list[CellFacts] | NoMatch:
    """The cells of a body whose products read ``Concat([x, h])`` (TF1's layout)."""
    if not cells:
        return NoMatch(body.node.id, "the state products do not feed the next state: no "
                       "recurrence")
    facts: list[CellFacts] = []
    steps: list[set[str]] = []
    for group in cells:
        cell = _joint_cell(graph, body, list(group.products), joint, set(group.states), stop,
                           single=len(cells) == 1)
        if isinstance(cell, NoMatch):
            return cell
        facts.append(cell)
        steps.append({joint[p.node.id].step for p in group.products if p.node.id in joint})
    return _stacked(graph, body, facts, steps, stop)


def _with_projections(
    graph: ModelGraph, body: _LoopBody, cells: list[_BodyCell], stop: frozenset[str],
) -> list[_BodyCell]:
    """``cells`` with each cell that is an LSTM's projection merged into that LSTM: products
    of one weight whose outputs are next values of carried states and which are computed
    from one other cell's products. An LSTM with projection carries h as ``(o ⊙ tanh c) @
    W_hr`` (TF1's ``LSTMCell(num_proj=P)``, a scripted LSTMP), so the new h is computed from
    the projection alone and the new c from the other products: two cells by their states.
    A stacked cell above another reads that cell's h through products of its own, whose
    outputs feed its gates, not a state."""
    new = _next_values(graph, body)
    merged = {id(cell): cell for cell in cells}
    for cell in cells:
        keys = {s.key for p in cell.products for s in p.sources}
        if len(keys) != 1 or not all(p.node.outputs and p.node.outputs[0] in new
                                     for p in cell.products):
            continue
        reached = frozenset().union(*(_upstream(graph, [p.data], body.scope, stop=stop).nodes
                                      for p in cell.products))
        owners = [own for own in cells if own is not cell
                  and reached & {p.node.id for p in own.products}]
        if len(owners) != 1 or id(owners[0]) not in merged:
            continue
        owner = merged[id(owners[0])]
        merged[id(owners[0])] = _BodyCell(
            tuple(sorted((*owner.products, *cell.products),
                         key=lambda p: _model_position(p.node.id))),
            owner.states | cell.states)
        del merged[id(cell)]
    return sorted(merged.values(), key=lambda cell: _model_position(cell.products[0].node.id))


def _match_split_cells(
    graph: ModelGraph, body: _LoopBody, cells: list[_BodyCell], stop: frozenset[str]
) -> list[CellFacts] | NoMatch:
    """Two cells or more in one body, each with its own kernel and recurrent kernel (Keras's
    StackedRNNCells): a cell's state products read its own states, its input products the
    step input or the next h of the cell below."""
    facts: list[CellFacts] = []
    steps: list[set[str]] = []
    for group in cells:
        where = group.products[0].node.id
        state_products: list[_WeightProduct] = []
        input_products: list[_WeightProduct] = []
        for product in group.products:
            walk = _upstream(graph, [product.data], body.scope, stop=stop)
            if any(path == body.scope and name in group.states for path, name in walk.leaves):
                state_products.append(product)
            else:
                input_products.append(product)
        if not state_products or not input_products:
            return NoMatch(where, "a cell of the body lacks a state product or an input product")
        core = _match_core(where, (s for p in input_products for s in p.sources),
                           (s for p in state_products for s in p.sources))
        if isinstance(core, NoMatch):
            return core
        widths = {_last_dim(graph, name, body.scope) for name in group.states}
        if any(isinstance(w, int) and w != core.hidden_size for w in widths):
            return NoMatch(where, f"the carried state is {sorted(w for w in widths if w)} wide "
                           f"but the recurrent kernel implies H={core.hidden_size}")
        step_nodes = frozenset().union(*(
            _upstream(graph, [body.states[name]], body.scope, stop=stop).nodes
            for name in group.states)) - stop
        failure = _check_activations(where, core.cell, _op_types(graph, step_nodes))
        if failure is not None:
            return failure
        if core.cell == "LSTM" and len(group.states) < 2:
            return NoMatch(where, "LSTM-sized weights but only one state (h) is carried; an "
                           "LSTM carries h and c")
        used = {s.key for s in (*core.kernel, *core.recurrent)}
        facts.append(CellFacts(
            how="loop-cell", cell=core.cell, node=where, input_size=core.input_size,
            hidden_size=core.hidden_size, kernel=core.kernel, recurrent_kernel=core.recurrent,
            bias=_dedupe((*(s for p in group.products for s in p.bias),
                          *_bias_sources(graph, step_nodes, used))),
            reset_after=(not _resets_before_product(graph, state_products)
                         if core.cell == "GRU" else None),
            direction="unknown", returns_sequence=None, sequence=None, steps=None,
            nodes=frozenset(p.node.id for p in group.products),
        ))
        steps.append({p.data for p in input_products})
    return _stacked(graph, body, facts, steps, stop)


def _joint_cell(
    graph: ModelGraph, body: _LoopBody, products: list[_WeightProduct],
    joint: Mapping[str, _JointOperands], states: set[str], stop: frozenset[str], single: bool,
) -> CellFacts | NoMatch:
    loop, scope = body.node, body.scope
    where = loop.id if single else products[0].node.id
    split = [p for p in products if p.node.id not in joint]
    products = [p for p in products if p.node.id in joint]
    projection = _joint_projection(graph, scope, split, products, stop)
    if split and not projection:
        return NoMatch(where, f"{len(split)} product(s) of the cell do not read Concat([x, h]) "
                       "(a kernel and a recurrent kernel of their own) and are no projection "
                       "of its h: not TF1's rnn_cell layout")
    operands = [joint[p.node.id] for p in products]
    if not all(o.states <= states for o in operands):
        return NoMatch(where, "the state side of a product reads another cell's state")
    sources = _dedupe(s for p in products for s in p.sources)
    geometry = _geometry(sources)
    if isinstance(geometry, str):
        return NoMatch(where, f"kernel: {geometry}")
    rows, columns = geometry
    hidden = _joint_width(graph, scope, [o.state for o in operands], states)
    if hidden is None:
        width = next((w for o in operands if (w := _last_dim(graph, o.step, scope))), None)
        hidden = None if width is None else rows - width
    projected = _geometry(projection) if projection else None
    if isinstance(projected, str):
        return NoMatch(where, f"projection: {projected}")
    state_width = hidden
    if projected is not None:
        # LSTMCell(num_proj=P): the kernel [I+P, 4·H] over Concat([x, h]), h = m @ [H, P]
        hidden, state_width = projected
        if columns != 4 * hidden or rows - state_width <= 0:
            return NoMatch(where, f"the kernel is [{rows}, {columns}] and the projection of h "
                           f"[{hidden}, {state_width}]: an LSTM with projection has "
                           "[I+P, 4·H] and [H, P]")
    if hidden is None or state_width is None or hidden <= 0 or rows - state_width <= 0:
        return NoMatch(where, f"the kernel is [{rows}, {columns}] but neither the state's width "
                       "nor the step input's is known: I and H cannot be told apart")
    if columns % hidden or columns // hidden not in _CELL_BY_GATES:
        return NoMatch(where, f"the kernel is [{rows}, {columns}]: {columns} columns is not 1, "
                       f"3 or 4 gates × H={hidden}")
    cell = _CELL_BY_GATES[columns // hidden]
    # what the projection reads (o ⊙ tanh c, the output gate's peephole in it) is the step's
    new_values = [*(body.states[name] for name in sorted(states)), *(p.data for p in split)]
    step_nodes = frozenset().union(*(_upstream(graph, [v], scope, stop=stop).nodes
                                     for v in new_values)) - stop
    failure = _check_activations(where, cell, _op_types(graph, step_nodes))
    if failure is not None:
        return failure
    if cell == "LSTM" and len(states) < 2:
        return NoMatch(where, "LSTM-sized weights but only one state (h) is carried; an LSTM "
                       "carries h and c")
    used = {s.key for s in (*sources, *projection)}
    peephole = _peepholes(graph, scope, step_nodes, states, hidden, stop) \
        if cell == "LSTM" else ()
    used |= {s.key for s in peephole}
    bias = _dedupe((*(s for p in products for s in p.bias),
                    *_bias_sources(graph, step_nodes, used)))
    reset_after = None
    if cell == "GRU":
        reset_after = not any(_is_reset(graph, o.state, scope) for o in operands)
    return CellFacts(
        how="loop-cell", cell=cell, node=where, input_size=rows - state_width,
        hidden_size=hidden, kernel=sources, recurrent_kernel=(), bias=bias,
        reset_after=reset_after, direction="unknown", returns_sequence=None, sequence=None,
        steps=None, nodes=frozenset({*([loop.id] if single else []),
                                     *(p.node.id for p in (*products, *split))}),
        joint_kernel=True, peephole=peephole, projection=projection,
        projection_size=state_width if projection else None,
    )


def _joint_projection(
    graph: ModelGraph, scope: str, split: list[_WeightProduct], products: list[_WeightProduct],
    stop: frozenset[str],
) -> tuple[WeightSource, ...]:
    """The weights of TF1's ``LSTMCell(num_proj=P)`` projection, ``h = m @ [H, P]``: the
    products of the cell that read no ``Concat([x, h])``, all of one weight, each computed
    from the cell's own products; none otherwise."""
    sources = _dedupe(s for p in split for s in p.sources)
    if not split or not products or len({s.key for s in sources}) != 1:
        return ()
    own = {p.node.id for p in products}
    if not all(own & _upstream(graph, [p.data], scope, stop=stop).nodes for p in split):
        return ()
    return sources


def _joint_width(
    graph: ModelGraph, scope: str, sides: list[str], states: set[str]
) -> int | None:
    """H: the width of the state side of the Concat, else of a carried state."""
    for name in (*sides, *sorted(states)):
        width = _last_dim(graph, name, scope)
        if width is not None:
            return width
    return None


def _peepholes(
    graph: ModelGraph, scope: str, nodes: Iterable[str], states: set[str], hidden: int,
    stop: frozenset[str],
) -> tuple[WeightSource, ...]:
    """The diagonal weights of a peephole LSTM (TF1's LSTMCell(use_peepholes=True)): stored
    ``[H]`` vectors that a Mul applies to the cell state, old or new, in model order. A
    vector of zeros is none: tf2onnx writes one for TF1's LSTMBlockCell without peepholes
    (``LSTMBlockCell__zeros_const``), and a zero peephole adds nothing."""
    found: list[WeightSource] = []
    for node_id in sorted(nodes, key=_model_position):
        node = graph.node(node_id)
        if node.op_type != "Mul" or len(node.inputs) != 2:
            continue
        for k, operand in enumerate(node.inputs):
            sources = weight_sources(graph, operand, scope) or ()
            if len(sources) != 1 or sources[0].shape != (hidden,) \
                    or _all_zero(graph, sources[0]):
                continue
            other = node.inputs[1 - k]
            walk = _upstream(graph, [other], scope, stop=stop)
            if any(path == scope and name in states for path, name in walk.leaves):
                found.append(sources[0])
    return _dedupe(found)


def _stacked(
    graph: ModelGraph, body: _LoopBody, cells: list[CellFacts], steps: list[set[str]],
    stop: frozenset[str],
) -> list[CellFacts] | NoMatch:
    """Each cell's step input (``steps``: what its input side reads): one step of an outer
    sequence (the first cell), or the next h of the cell below it, whose products it reaches
    (a stack); the direction is the sequence's, for every cell."""
    owner = {n: k for k, cell in enumerate(cells) for n in cell.nodes if n in stop}
    sequence: tuple[str, bool] | None = None
    axes: set[int | None] = set()
    below: list[int | None] = []
    for k, cell in enumerate(cells):
        walk = _upstream(graph, sorted(steps[k]), body.scope, stop=stop)
        sources = {owner[n] for n in walk.nodes & stop if n in owner} - {k}
        if len(sources) > 1:
            return NoMatch(cell.node, "the cell's input reads two other cells of the body")
        if sources:
            below.append(sources.pop())
            continue
        read = _step_read(graph, walk, body)
        if read is None:
            return NoMatch(cell.node, "the cell's input is neither one step of an outer "
                           "sequence nor the output of another cell in the body")
        outer = read[0], read[1]
        axes.add(read[2])
        if sequence is not None and outer != sequence:
            return NoMatch(cell.node, "two cells of the body read different sequences")
        sequence = outer
        below.append(None)
    depth = [_stack_depth(below, k) for k in range(len(cells))]
    if None in depth:
        return NoMatch(body.node.id, "the cells of the body read each other in a cycle")
    direction = _sequence_direction(graph, body, sequence,
                                    next(iter(axes)) if len(axes) == 1 else None)
    feeding = {k for k in below if k is not None}
    returns = _loop_returns_sequence(graph, body.node, body.carried)
    return [dataclasses.replace(
        cells[k], direction=direction,
        returns_sequence=True if k in feeding else returns,
        sequence=sequence[0] if sequence is not None and below[k] is None else None,
        sequence_axis=next(iter(axes)) if sequence is not None and below[k] is None
        and len(axes) == 1 else None,
    ) for k in sorted(range(len(cells)), key=lambda k: (depth[k], k))]  # bottom of the stack first


def _stack_depth(below: list[int | None], k: int) -> int | None:
    """How many cells are under cell ``k`` (None on a cycle)."""
    for depth in range(len(below)):
        step = below[k]
        if step is None:
            return depth
        k = step
    return None


def _step_read(
    graph: ModelGraph, walk: _Upstream, body: _LoopBody
) -> tuple[str, bool, int | None] | None:
    """The outer sequence x_t is one step of, when ``walk`` (from a product's data) reaches a
    Scan's scan element, a Gather/Slice of an outer tensor, or a SequenceAt of an outer
    sequence (TorchScript's ``for x_t in x.unbind(0)``: SplitToSequence before the Loop); with
    whether the Scan reads it in reverse, and the axis each step takes x_t from: a Scan's
    ``scan_input_axes`` (0 by default), a Gather's ``axis``, a Slice's one constant axis; None
    where it is not known (a SequenceAt reads a sequence, not a tensor)."""
    return next(_step_reads(graph, walk, body), None)


def _step_reads(
    graph: ModelGraph, walk: _Upstream, body: _LoopBody
) -> Iterator[tuple[str, bool, int | None]]:
    """Every read :func:`_step_read` describes that ``walk`` reaches, the scan elements
    first."""
    for path, name in sorted(walk.leaves):
        if path == body.scope and name in body.elements:
            yield body.elements[name]
    for node_id in walk.nodes:
        node = graph.node(node_id)
        if node.op_type not in ("Gather", "Slice", "SequenceAt") or not node.inputs:
            continue
        # (a float16 pass may cast the outer sequence back to float in the body first:
        # nvidia-modelopt's Gather(Cast(x16), i))
        info = graph.tensor(graph.through(node.inputs[0], body.scope, _BODY_CASTS), body.scope)
        if info is None:
            continue
        info = graph.loop_invariant(info)
        if info.graph != body.scope \
                and not (info.is_initializer or info.constant_source is not None):
            # the step may be taken from a Slice of the sequence inside the body (TorchScript
            # slices x whole, then gathers the step)
            steps = [node, *(gather for out in node.outputs[:1] if out
                             for gather in graph.consumers_of(out, body.scope)
                             if gather.op_type == "Gather" and gather.id in walk.nodes
                             and gather.inputs[:1] == (out,))]
            yield info.name, any(_counts_down(graph, n, body) for n in steps), \
                step_axis(graph, node)


_BODY_CASTS = frozenset({"Cast", "Identity"})


def _counts_down(graph: ModelGraph, node: NodeInfo, body: _LoopBody) -> bool:
    """Whether a Loop body's Gather takes its step at ``c - i``, i the iteration number: a
    scripted ``for t in range(T - 1, -1, -1)`` reads the sequence from its end (TorchScript
    writes ``Add(c, Mul(i, -1))``)."""
    if node.op_type != "Gather" or len(node.inputs) < 2 or body.node.op_type != "Loop":
        return False
    formal = graph.formal_inputs(body.scope)
    if not formal:
        return False
    counter = formal[0]
    index = graph.producer(graph.through(node.inputs[1], body.scope, _VIEWS), body.scope)
    if index is None or len(index.inputs) != 2:
        return False
    first, second = (graph.through(name, body.scope, _VIEWS) for name in index.inputs)
    if index.op_type == "Sub":
        return second == counter and first != counter
    if index.op_type == "Add":
        return any(_negated(graph, term, counter, body.scope) for term in (first, second))
    return False


def _negated(graph: ModelGraph, name: str, counter: str, scope: str) -> bool:
    """``-i``: ``Mul(i, -1)``, ``Mul(-1, i)`` or ``Neg(i)``."""
    node = graph.producer(name, scope)
    if node is None:
        return False
    operands = [graph.through(n, scope, _VIEWS) for n in node.inputs]
    if node.op_type == "Neg":
        return operands == [counter]
    return node.op_type == "Mul" and len(operands) == 2 and counter in operands and any(
        const_ints(graph, n, scope) == (-1,) for n in operands if n != counter)


@dataclass(frozen=True)
class _Hoisted:
    """``x @ kernel (+ bias)`` computed over the whole sequence before the loop, one step of
    which the body reads in place of its own input product (jax2onnx's Keras 3 GRU with
    reset_after=True: the body adds ``h @ recurrent_kernel`` and the recurrent bias to
    ``Gather(projection, t)``)."""

    product: _WeightProduct  # in the loop's own scope
    sequence: str  # the projection, as the loop reads it
    axis: int | None  # the axis of ``sequence`` each step takes
    direction: str
    adds: frozenset[str]  # the Adds right after the product (its bias)


def _hoisted_projection(
    graph: ModelGraph, body: _LoopBody, state_products: list[_WeightProduct]
) -> _Hoisted | NoMatch:
    """The input projection the next states read one step of, computed before the loop
    (:func:`_projection_of`, as an unrolled chain's hoisted projection is found); its
    direction is the sequence's it projects, turned by a flip between the two."""
    stop = frozenset(p.node.id for p in state_products)
    walk = _upstream(graph, list(body.states.values()), body.scope, stop=stop)
    outer = body.node.graph
    for sequence, reverse, axis in _step_reads(graph, walk, body):
        found = _projection_of(graph, sequence, outer)
        if found is None:
            continue
        product, projected = found
        at_data = _axis_at_data(graph, product, projected, sequence, axis)
        direction = _direction(graph, product.data, outer, at_data)
        if projected[sequence] != reverse:
            direction = _turned(direction)
        return _Hoisted(product, sequence, axis, direction, _downstream_adds(graph, [product]))
    return NoMatch(body.node.id, "no MatMul multiplies a per-step slice of an outer sequence "
                   "(x_t) by a stored weight")


def _sequence_direction(
    graph: ModelGraph, body: _LoopBody, sequence: tuple[str, bool] | None, axis: int | None
) -> str:
    """``axis``: the axis of the sequence each step reads (None when not known)."""
    if sequence is None:
        return "unknown"
    direction = _direction(graph, sequence[0], body.node.graph, axis)
    return _turned(direction) if sequence[1] else direction  # a Scan reading from the end


def _turned(direction: str) -> str:
    return {"forward": "reverse", "reverse": "forward"}.get(direction, direction)


def _direction(graph: ModelGraph, sequence: str, scope: str, axis: int | None) -> str:
    """reverse when the sequence reaches the loop through a ReverseSequence (go_backwards), or
    a Gather of time's indices from the last (``axis`` followed back through Transposes: Keras
    3's go_backwards through jax2onnx), or a Slice that flips time's axis whole (starts -1,
    ends below -n, steps -1: torch's dynamo export of ``scan(..., reverse=True)``); unknown
    through another Slice that steps backwards (TorchScript's ``lst[::-1]`` of the steps
    when its axis is not known to be time's), a Gather reversing an axis not
    known to be time's, or an op ONNX does not define. A SplitToSequence (TorchScript's
    ``x.unbind(0)``) is a view of the steps."""
    reversals = 0
    name = sequence
    for _ in range(16):
        axis = _normal_axis(graph, name, scope, axis)
        producer = graph.producer(name, scope)
        if producer is not None and producer.op_type == "Slice" and (
                (spec := slice_spec(graph, producer)) is None or min(spec.steps, default=1) < 0):
            if spec is None or not flips_whole(graph, producer, spec, axis):
                return "unknown"
            reversals += 1  # torch's flip of the whole time axis (scan(..., reverse=True))
        if producer is not None and producer.domain in ("", "ai.onnx") \
                and loadable_from(producer.op_type) is None:
            return "unknown"  # an op ONNX does not define (tf2onnx's ReverseV2 at opset 9)
        if producer is None:
            break
        reversed_axis = _reversed_axis(graph, producer)
        if reversed_axis is not None and axis is None:
            return "unknown"
        if reversed_axis is not None and reversed_axis == axis:
            reversals += 1
        elif producer.op_type not in _SEQUENCE_VIEW_OPS and producer.op_type != "SplitToSequence":
            break
        reversals += producer.op_type == "ReverseSequence"
        axis = _axis_before(producer, axis)
        name = _first(producer)
    return "reverse" if reversals % 2 else "forward"


def _loop_returns_sequence(graph: ModelGraph, loop: NodeInfo, carried: int) -> bool | None:
    """True when a scan output (one row per step) is used as a whole, or step by step (one
    Slice per step: tf2onnx writes a TimeDistributed Dense after a return_sequences GRU so,
    30 Slices of the time-major scan output); False when only one step is taken (the last:
    Slice/Gather of one step) or there is none; None when it cannot be told."""
    scans = [name for name in loop.outputs[carried:] if name]
    if not scans:
        return False
    outputs = set(graph.graph_outputs.get(loop.graph, ()))
    whole = False
    steps: set[int] = set()
    for name in scans:
        if name in outputs:
            whole = True
        for consumer in graph.consumers_of(name, loop.graph):
            one = _one_step(graph, consumer)
            if one is None:
                return None
            whole = whole or not one
            step = _scan_step_read(graph, consumer) if one else None
            if step is not None:
                steps.add(step)
    return whole or len(steps) > 1


def _scan_step_read(graph: ModelGraph, node: NodeInfo) -> int | None:
    """The step a one-step Slice or Gather of a scan output reads (as written: -1 is not
    told from the last step's number); None for a node that reads no values."""
    if node.op_type == "Gather":
        spec = gather_spec(graph, node)
        return None if spec is None or len(spec[1]) != 1 else spec[1][0]
    sliced = slice_spec(graph, node) if node.op_type == "Slice" else None
    axis = None if sliced is None else sliced.on_axis(0)
    return None if axis is None else axis[0]


def _one_step(graph: ModelGraph, node: NodeInfo) -> bool | None:
    if node.op_type == "Gather":
        spec = gather_spec(graph, node)
        return None if spec is None else (spec[0] == 0 and spec[2])
    if node.op_type == "Slice":
        sliced = slice_spec(graph, node)
        axis = None if sliced is None else sliced.on_axis(0)
        if sliced is None:
            return None
        if axis is None:
            return False
        start, end, step = axis
        return abs(step) == 1 and (end - start == step or (start == -1 and end >= 2**31 - 1))
    return node.op_type in ("Shape", "Size")  # reads no values: as good as one step
