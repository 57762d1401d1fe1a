"""Unrolled chains (archlint/cells/): no loop at all, T products sharing the kernel and T
sharing the recurrent kernel, each step's recurrent product reading the one before (Keras
``unroll=True``, a traced Python loop over a cell, torch's dynamo ``nn.RNN`` with its input
projection hoisted over the whole sequence)."""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping

from archlint.cells._projection import _is_flip, _projected, _reads_flipped
from archlint.cells._trace import (
    _CELL_BY_GATES,
    _DATA_INPUTS,
    _PRODUCTS,
    _QDQ,
    _QLINEAR_PRODUCTS,
    _SEARCH_LIMIT,
    _SEQUENCE_VIEW_OPS,
    _VIEWS,
    MAX_COMPARED_STEPS,
    CellFacts,
    NoMatch,
    WeightSource,
    _by_value,
    _chain_bias,
    _check_activations,
    _concat_parts,
    _dedupe,
    _downstream_adds,
    _first,
    _fused_activations,
    _gate_peepholes,
    _geometry,
    _is_reset,
    _last_dim,
    _match_core,
    _op_types,
    _order,
    _own_biases,
    _pairs_on_last_axis,
    _resets_before_product,
    _Upstream,
    _upstream,
    _weight_products,
    _WeightProduct,
    cut_source,
    is_bias_copy,
    step_axis,
    step_window,
    unbound_from,
    weight_sources,
)
from archlint.graph import ModelGraph, NodeInfo
from archlint.onnx_protos import TensorProto
from archlint.patterns import const_ints, gather_spec, slice_spec
from archlint.stored_copies import equal_copies, stored_tensors

__all__ = ["match_unrolled"]


def match_unrolled(graph: ModelGraph, scope: str = "main") -> list[CellFacts | NoMatch]:
    """Every chain of stored-weight products in ``scope`` where each step's state product
    reads the previous step: an unrolled LSTM / GRU / SimpleRNN."""
    stored, traced = graph.stored_operands(_PRODUCTS, scope, 1)
    # what an operand read through a view (a DequantizeLinear) is made of, traced once
    traced_sources = functools.cache(lambda weight: weight_sources(graph, weight, scope) or ())
    if not _products_may_share_weights(graph, scope, stored, traced, traced_sources) \
            and not _products_may_hold_copies(graph, scope, stored, traced, traced_sources):
        return []  # a chain is made of products that share their weights
    products = _by_value(graph, _weight_products(graph, scope))
    if len(products) < 2:
        return []
    all_ids = frozenset(p.node.id for p in products)
    walks: dict[str, _Upstream] = {}

    def walk(product: _WeightProduct) -> _Upstream:
        # stops at every product: what one step computes from the products before it
        if product.node.id not in walks:
            walks[product.node.id] = _upstream(graph, [product.data], scope, stop=all_ids)
        return walks[product.node.id]

    groups: dict[frozenset[tuple[str, str]], list[_WeightProduct]] = {}
    for product in products:
        groups.setdefault(frozenset(s.key for s in product.sources), []).append(product)
    chains: list[list[_WeightProduct]] = []
    siblings: dict[str, frozenset[str]] = {}  # a product -> the other chains' of its weight
    unchained: list[list[_WeightProduct]] = []
    for members in groups.values():
        found_here = _chains_of(sorted(members, key=_order), walk) if len(members) >= 2 else []
        if not found_here and len(members) >= 2:
            unchained.append(sorted(members, key=_order))
        chains.extend(found_here)
        if len(found_here) > 1:
            every = frozenset(p.node.id for chain in found_here for p in chain)
            for chain in found_here:
                own = frozenset(p.node.id for p in chain)
                siblings.update(dict.fromkeys(own, every - own))
    found: list[CellFacts | NoMatch] = []
    for merged in _merge_interleaved(chains, walk):
        others = frozenset().union(*(siblings.get(p.node.id, frozenset()) for p in merged))
        result = _match_chain(graph, scope, merged, products, walk, all_ids, others)
        if result is not None:
            found.append(result)
    for chain, projection in _projected_chains(unchained, walk):
        result = _match_chain(graph, scope, chain, products, _through(projection, walk),
                              all_ids, projection=projection)
        if isinstance(result, CellFacts):  # a pair that is no LSTM was no candidate either
            found.append(result)
    return _copies_across_chains(found) if siblings else found


def _projected_chains(
    unchained: list[list[_WeightProduct]], walk: Callable[[_WeightProduct], _Upstream]
) -> list[tuple[list[_WeightProduct], list[_WeightProduct]]]:
    """(state products, projections) of an LSTM with projection: nn.LSTM(proj_size=P), which
    torch cannot export as a node, so icefall's LSTMP (the LSTM models sherpa-onnx ships) and
    hand ports write ``h = (o ⊙ tanh c) @ W_hr`` out step by step. No product of one weight
    then reads the one before: each step's state product ``h @ W_hh`` reads the projection of
    the step before, which reads that step's state product. Among the weights whose products
    make no chain of their own, two whose products so alternate, the projections as many as
    the steps or one fewer (a last h that nothing reads)."""
    owner = {p.node.id: k for k, members in enumerate(unchained) for p in members}
    found: list[tuple[list[_WeightProduct], list[_WeightProduct]]] = []
    paired: set[int] = set()
    for k, recurrent in enumerate(unchained):
        if k in paired:
            continue
        # the first step's projection is among what the second step's state product reads
        read = {owner[n] for n in walk(recurrent[1]).nodes if n in owner} - {k} - paired
        for j in sorted(read):
            projection = unchained[j]
            if len(projection) not in (len(recurrent), len(recurrent) - 1):
                continue
            if all(projection[n - 1].node.id in walk(recurrent[n]).nodes
                   and recurrent[n - 1].node.id in walk(projection[n - 1]).nodes
                   for n in range(1, len(recurrent))):
                found.append((recurrent, projection))
                paired.update((k, j))
                break
    return found


def _through(
    projection: list[_WeightProduct], walk: Callable[[_WeightProduct], _Upstream]
) -> Callable[[_WeightProduct], _Upstream]:
    """``walk`` that crosses the projections: a step's state product then reaches the state
    product of the step before, and that step's gates, as a chain's walk does."""
    by_id = {p.node.id: p for p in projection}

    def crossing(product: _WeightProduct) -> _Upstream:
        own = walk(product)
        crossed = [walk(by_id[n]) for n in own.nodes & by_id.keys()]
        if product.node.id in by_id or not crossed:
            return own
        return _Upstream(own.nodes.union(*(c.nodes for c in crossed)),
                         own.leaves.union(*(c.leaves for c in crossed)),
                         own.complete and all(c.complete for c in crossed))

    return crossing


def _copies_across_chains(found: list[CellFacts | NoMatch]) -> list[CellFacts | NoMatch]:
    """Chains of one cell's weights (one cell stepped over two sequences) add one cell's
    biases. onnxruntime's QDQ format stores a bias once per step in int32 (each with its
    step's input scale, :func:`_own_biases`): the first chain's first copies are the biases,
    and every bias a later chain keeps that is such a copy of one of them is a copy too; that
    chain's biases are then the first chain's, shared as its weights are (the float model's
    chains read one bias tensor)."""
    first_of: dict[frozenset[tuple[str, str]], CellFacts] = {}
    kept: list[CellFacts | NoMatch] = []
    for facts in found:
        if isinstance(facts, CellFacts):
            weights = frozenset(s.key for s in (*facts.kernel, *facts.recurrent_kernel))
            first = first_of.setdefault(weights, facts)
            copies = tuple(bias for bias in facts.bias
                           if any(is_bias_copy(own, bias) for own in first.bias))
            if first is not facts and copies:
                shared = (own for own in first.bias if any(is_bias_copy(own, c) for c in copies))
                facts = dataclasses.replace(
                    facts, bias=_dedupe((*(b for b in facts.bias if b not in copies), *shared)),
                    bias_copies=_dedupe((*facts.bias_copies, *copies)))
        kept.append(facts)
    return kept


def _products_may_share_weights(
    graph: ModelGraph, scope: str, stored: dict[str, int], traced: list[str],
    sources_of: Callable[[str], tuple[WeightSource, ...]],
) -> bool:
    """Whether two MatMul/Gemm of ``scope`` may read the same stored weights: a cheap first
    look (a product whose weight is an initializer of the scope itself is keyed by its name
    from the index; only the others are traced) that never says no where
    :func:`_weight_products` would group two products. A big plain graph, one weight per
    MatMul, is passed over without tracing its tens of thousands of products."""
    if any(count >= 2 for count in stored.values()):
        return True
    quantized, _ = graph.stored_operands(_QLINEAR_PRODUCTS, scope, 3)  # their W is input 3
    if any(count >= 2 for count in quantized.values()):
        return True
    keys: dict[frozenset[tuple[str, str]], int] = {}
    for weight in traced:
        sources = sources_of(weight)
        if not sources:
            continue
        key = frozenset(s.key for s in sources)
        if len(key) == 1:
            owner, name = next(iter(key))
            if owner == scope and name in stored:
                return True  # read directly by one product, through a view by another
        keys[key] = keys.get(key, 0) + 1
        if keys[key] >= 2:
            return True
    return False


# the most stored product weights of one scope compared for per-step copies: a chain's
# steps, a few weights each, with a model's other layers around them
MAX_COPY_CANDIDATES = 8 * MAX_COMPARED_STEPS


def _products_may_hold_copies(graph: ModelGraph, scope: str, stored: dict[str, int],
                              traced: list[str],
                              sources_of: Callable[[str], tuple[WeightSource, ...]]) -> bool:
    """Whether two MatMul/Gemm of ``scope`` read initializers of the very same values (one
    weight folded once per step: archlint/stored_copies.py; or, through a DequantizeLinear
    each, one quantized weight that nvidia-modelopt copied for each reader), where no two
    read one weight. Not looked for among more than :data:`MAX_COPY_CANDIDATES` weights: a
    big plain graph (100k nodes of MatMul blocks, 33k weights of one shape) is passed over
    without reading every weight's type and shape."""
    if len(stored) + len(traced) > MAX_COPY_CANDIDATES:
        return False
    protos: list[tuple[object, TensorProto]] = list(graph.stored_protos(stored, scope))
    protos.extend(stored_tensors(graph, (
        source.key for weight in traced for source in sources_of(weight))))
    return bool(equal_copies(protos, max_group=MAX_COMPARED_STEPS))


def _chain_of(
    members: list[_WeightProduct], walk: Callable[[_WeightProduct], _Upstream]
) -> list[_WeightProduct] | None:
    """The products of one weight as a chain, each reading the one before; or the chain after
    a first product that no other reads: Keras 3's generic RNN loop (SimpleRNN, GRU with
    reset_after=False) computes one step first to learn the output's shape, and TorchScript
    keeps that step, whose result feeds only a Shape."""
    if _is_chain(members, walk):
        return members
    if len(members) >= 3 and _is_chain(members[1:], walk) \
            and not any(members[0].node.id in walk(other).nodes for other in members[1:]):
        return members[1:]
    return None


def _chains_of(
    members: list[_WeightProduct], walk: Callable[[_WeightProduct], _Upstream]
) -> list[list[_WeightProduct]]:
    """The chains the products of one weight make: one (:func:`_chain_of`), or several that
    share nothing but the weight (one cell stepped over two sequences, a siamese encoder),
    each at least two steps long; none otherwise."""
    chain = _chain_of(members, walk)
    if chain is not None:
        return [chain]
    chains: list[list[_WeightProduct]] = []
    for member in members:
        reads = walk(member).nodes
        owners = [chain for chain in chains if chain[-1].node.id in reads]
        if len(owners) > 1:
            return []
        if owners:
            owners[0].append(member)
        else:
            chains.append([member])
    if len(chains) < 2 or any(len(chain) < 2 for chain in chains):
        return []
    ids = {p.node.id for p in members}
    # a first step that reads no other product (the zero initial state's product) may be
    # shared: torch's dynamo export computes it once for both sequences
    starts = {chain[0].node.id for chain in chains if not walk(chain[0]).nodes & ids}
    for chain in chains:
        others = {p.node.id for other in chains if other is not chain for p in other}
        if any((others - starts) & walk(p).nodes for p in chain):
            return []  # one reads another: not independent
    return chains


def _is_chain(members: list[_WeightProduct], walk: Callable[[_WeightProduct], _Upstream]) -> bool:
    """Each product reads (through elementwise steps) the one before it."""
    return all(members[k - 1].node.id in walk(members[k]).nodes for k in range(1, len(members)))


def _merge_interleaved(
    chains: list[list[_WeightProduct]], walk: Callable[[_WeightProduct], _Upstream]
) -> list[list[_WeightProduct]]:
    """Chains that feed each other are one recurrence: a GRU with reset_after=False multiplies
    h by R[:, :2H] and r ⊙ h by R[:, 2H:], which tf2onnx may store as two initializers. Their
    weights together are one cell's recurrent kernel; chains whose weights are not (an
    autoregressive decoder's input products, which read the state of the step before, and
    its state products) stay apart."""
    merged: list[list[_WeightProduct]] = []
    for chain in chains:
        ids = {p.node.id for p in chain}
        for group in merged:
            reached = set().union(*(walk(p).nodes for p in group))
            reaching = set().union(*(walk(p).nodes for p in chain))
            if ids & reached and {p.node.id for p in group} & reaching \
                    and _cell_shaped(_dedupe(s for p in (*group, *chain) for s in p.sources)):
                group.extend(chain)
                break
        else:
            merged.append(list(chain))
    return [sorted(group, key=_order) for group in merged]


def _cell_shaped(sources: tuple[WeightSource, ...]) -> bool:
    """Whether weights together are one cell's recurrent kernel ``[H, g·H]`` or its joint
    kernel ``[I+H, g·H]`` (TF1's GRUCell: its gates' and its candidate's), g a cell's gate
    count."""
    geometry = _geometry(sources)
    if isinstance(geometry, str):
        return False
    rows, columns = geometry
    return rows > 0 and any(not columns % gates and rows >= columns // gates
                            for gates in _CELL_BY_GATES)


def _fed_back(
    graph: ModelGraph, ordered: list[_WeightProduct], chain: list[_WeightProduct]
) -> bool:
    """Whether each step's input product is computed from the state product of the step
    before, one input product a step: a decoder that feeds back its prediction (the embedding
    of its argmax) or an attention context over its state, not a slice of a sequence. A gated
    cell (LSTM, GRU) stepped so is a recurrence over time; a weight shared across depth
    multiplies no separate input at each application."""
    if not len(ordered) == len(chain) >= 2:
        return False
    ids = frozenset(p.node.id for p in chain)
    return all(_computed_from(graph, ordered[k], chain[k - 1].node.id, ids)
               for k in range(1, len(chain)))


def _computed_from(
    graph: ModelGraph, product: _WeightProduct, source: str, chain: frozenset[str]
) -> bool:
    """Whether ``product``'s data is computed from node ``source``: up through every input of
    every node (a Gather's indices, an ArgMax, other products), not across the chain's own
    products, and at most ``_SEARCH_LIMIT`` nodes, nearest first: a beam search's scores
    add up every step before, whose history a depth-first walk spent the bound on before it
    reached the step just before (the seventh step of a 7-step beam decoder)."""
    scope = product.node.graph
    queue, seen, crossed = collections.deque([product.data]), set(), 0
    while queue:
        name = queue.popleft()
        if not name or name in seen:
            continue
        seen.add(name)
        producer = graph.producer(name, scope)
        if producer is None or producer.graph != scope:
            continue
        if producer.id == source:
            return True
        crossed += 1
        if producer.id in chain or crossed > _SEARCH_LIMIT:
            continue
        queue.extend(producer.inputs)
    return False


def _match_chain(
    graph: ModelGraph, scope: str, chain: list[_WeightProduct], products: list[_WeightProduct],
    walk: Callable[[_WeightProduct], _Upstream], all_ids: frozenset[str],
    siblings: frozenset[str] = frozenset(), projection: list[_WeightProduct] | None = None,
) -> CellFacts | NoMatch | None:
    """None when the chain's weights are not cell-shaped (no reason owed: not a candidate).
    ``siblings``: the products of other chains of the same weights (one cell stepped over two
    sequences), neither this chain's steps nor its input products. ``projection``: the
    products each step's h is projected by (:func:`_projected_chains`), which ``walk``
    crosses."""
    ids = frozenset(p.node.id for p in chain)
    geometry = _geometry(_dedupe(s for p in chain for s in p.sources))
    if isinstance(geometry, str):
        return None
    rows, columns = geometry
    walks = [walk(p) for p in chain]
    projected = projection or []
    if not projected and (rows <= 0 or columns % rows or columns // rows not in _CELL_BY_GATES):
        return _joint_chain(graph, scope, chain, walks, all_ids)  # [I+H, g·H], or no cell
    step_nodes = frozenset().union(*(w.nodes for w in walks))
    first = chain[0].node.id
    not_input = ids | siblings | {p.node.id for p in projected}
    # the input products: the other products a step reads, and every product of their weights
    kernel_keys = {s.key for p in products if p.node.id in step_nodes - not_input
                   for s in p.sources}
    kernel_products = _without_probe([p for p in products if p.node.id not in not_input
                                      and {s.key for s in p.sources} & kernel_keys],
                                     step_nodes, graph)
    read = [p for p in kernel_products if p.node.id in step_nodes]
    if siblings and len(read) == 1:
        # each chain projects its own whole sequence first (Keras 3's torch backend: one LSTM
        # applied to two inputs, or to each step of a TimeDistributed): this chain's
        # projection is the one its steps read
        kernel_products = read
    # the input products of another chain of the same weights (one cell stepped over two
    # sequences) slice another sequence: this chain's own read one, the one its steps read
    root_of = {p.node.id: _sequence_root(graph, p) for p in kernel_products}
    roots = {root for p in kernel_products if p.node.id in step_nodes
             if (root := root_of[p.node.id]) is not None}
    if len(roots) == 1:
        kernel_products = [p for p in kernel_products if root_of[p.node.id] in (None, *roots)]
    if not kernel_products:
        return _joint_chain(graph, scope, chain, walks, all_ids, projected) or NoMatch(
            first, "the chain has no MatMul of a per-step input with a stored weight")
    core = _match_core(first, (s for p in kernel_products for s in p.sources),
                       (s for p in chain for s in p.sources),
                       (s for p in projected for s in p.sources))
    if isinstance(core, NoMatch):
        return core
    failure = _check_activations(first, core.cell, _op_types(graph, step_nodes - all_ids)
                                 | _fused_activations((*chain, *kernel_products)))
    if failure is not None:
        return failure
    ordered = _in_step_order(kernel_products, chain, walks)
    direction, steps = _unrolled_direction(graph, ordered), _steps(graph, ordered)
    if direction != "unknown" and _slices_flipped(graph, ordered[0]):
        direction = "reverse" if direction == "forward" else "forward"
    if direction == "unknown" and len(kernel_products) == 1:
        direction, steps = _hoisted_steps(graph, kernel_products[0], walks) \
            or (direction, steps)
    computed_cut: tuple[str, int] | None = None
    if direction == "unknown" and (computed := _computed_steps(graph, ordered)) is not None:
        direction, steps, computed_cut = computed
    fed_back = direction == "unknown" and core.cell != "RNN" \
        and _fed_back(graph, ordered, chain)
    if fed_back:
        direction, steps = "forward", len(chain)  # an autoregressive decoder's steps
    if direction == "unknown":
        # Without per-step slices of one sequence this is a weight shared across depth (an
        # ALBERT-style stack), not a recurrence over time.
        return NoMatch(first, "the input products do not read x_0, x_1, ... as slices (Split, "
                       "Gather or Slice) of one sequence, in order or in reverse")
    reset_before = _resets_before_product(graph, chain) if core.cell == "GRU" else False
    kernel_ids = {p.node.id for p in kernel_products}
    peephole = _gate_peepholes(graph, scope, step_nodes - all_ids, core.hidden_size) \
        if core.cell == "LSTM" else ()
    used = {s.key for s in (*core.kernel, *core.recurrent, *core.projection, *peephole)}
    hoisted = _downstream_adds(graph, kernel_products) if len(kernel_products) == 1 \
        else frozenset()
    own, copies = _own_biases((*chain, *kernel_products), graph)
    weight_copies = _dedupe(c for p in (*chain, *kernel_products, *projected) for c in p.copies)
    # where the weights are stored once per step, every product of them (a probe step's
    # too) may add its own copy of the bias
    added, folded = _chain_bias(graph, walks, hoisted, used, [
        p for p in products if weight_copies and {s.key for s in p.sources} & used],
        tail=chain)
    bias = _dedupe((*added, *own))
    nodes = frozenset({*ids, *kernel_ids, *(p.node.id for p in projected)})
    sequence, sequence_axis = _sliced_sequence(graph, ordered)
    if sequence is not None and sequence_axis is not None:
        stepped = (sequence, sequence_axis) if _from_the_start(graph, ordered) else None
    else:
        stepped = _projection_cut(graph, kernel_products) or computed_cut
    return CellFacts(
        how="unrolled", cell=core.cell, node=min(nodes, key=lambda n: graph.node(n).index),
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        reset_after=(not reset_before) if core.cell == "GRU" else None,
        direction=direction, returns_sequence=_chain_returns_sequence(graph, chain),
        sequence=sequence, steps=steps, nodes=nodes, bias_copies=_dedupe((*copies, *folded)),
        weight_copies=weight_copies,
        sequence_axis=sequence_axis, stepped=stepped, fed_back=fed_back, peephole=peephole,
        projection=core.projection, projection_size=core.projection_size,
    )


def _joint_chain(
    graph: ModelGraph, scope: str, chain: list[_WeightProduct], walks: list[_Upstream],
    all_ids: frozenset[str], projection: list[_WeightProduct] | None = None,
) -> CellFacts | NoMatch | None:
    """A chain whose one kernel ``[I+H, g·H]`` multiplies ``Concat([x_t, h])`` each step (a
    PyTorch cell made of one Linear over ``torch.cat([x, h], 1)``, TF1's rnn_cell layout
    unrolled): an LSTM or a SimpleRNN; or TF1's GRUCell, whose candidate kernel reads
    ``Concat([x_t, r ⊙ h])`` beside the gates' (reset_after=False); or, with ``projection``,
    TF1's ``LSTMCell(num_proj=P)`` unrolled (static_rnn): ``[I+P, 4·H]`` over ``Concat([x_t,
    h])``, h the projection ``[H, P]`` of the step before. None when the products do not read
    such a Concat."""
    first = chain[0].node.id
    sides = [_concat_sides(graph, product) for product in chain]
    if any(pair is None for pair in sides) or len(chain) < 2:
        return None
    pairs = [pair for pair in sides if pair is not None]
    projected = projection or []
    crossed = all_ids - {p.node.id for p in projected}  # the walks cross the projections
    # the state side of step k reads the product of step k - 1; the step side does not
    state_at = {k for k in range(2) for n in range(1, len(chain))
                if chain[n - 1].node.id in _upstream(graph, [pairs[n][k]], scope,
                                                     stop=crossed).nodes}
    if len(state_at) != 1:
        return None
    k = state_at.pop()
    sources = _dedupe(s for p in chain for s in p.sources)
    projection_sources = _dedupe(s for p in projected for s in p.sources)
    shape = _joint_projected_shape(first, sources, projection_sources) if projected \
        else _joint_shape(graph, scope, first, sources, pairs, k)
    # a GRUCell's candidate products read r ⊙ h: each step is its gates' product
    gru = not isinstance(shape, NoMatch) and shape[3] == "GRU"
    reset = [gru and _is_reset(graph, graph.through(pair[k], scope, _VIEWS), scope)
             for pair in pairs]
    stepping = [(p, pair) for p, pair, r in zip(chain, pairs, reset, strict=True) if not r]
    steps = [dataclasses.replace(p, data=pair[1 - k]) for p, pair in stepping]
    direction = _unrolled_direction(graph, steps)
    if direction == "unknown":
        return NoMatch(first, "the step side of Concat([x, h]) does not read x_0, x_1, ... as "
                       "slices (Split, Gather or Slice) of one sequence, in order or in reverse")
    if isinstance(shape, NoMatch):
        return shape
    rows, columns, hidden, cell, width = shape
    resets = any(reset)
    if cell not in ("LSTM", "RNN") and not resets:
        return NoMatch(first, f"the kernel over Concat([x, h]) is [{rows}, {columns}]: "
                       f"{columns} columns is not 1 or 4 gates × H={hidden}, nor a GRUCell's "
                       "gates and candidate, the candidate over Concat([x, r ⊙ h])")
    assert cell is not None
    step_nodes = frozenset().union(*(w.nodes for w in walks))
    failure = _check_activations(first, cell, _op_types(graph, step_nodes - all_ids)
                                 | _fused_activations(chain))
    if failure is not None:
        return failure
    used = {s.key for s in (*sources, *projection_sources)}
    own, copies = _own_biases(chain, graph)
    weight_copies = _dedupe(c for p in (*chain, *projected) for c in p.copies)
    added, folded = _chain_bias(graph, walks, frozenset(), used,
                                chain if weight_copies else (), tail=chain)
    bias = _dedupe((*added, *own))
    states = [dataclasses.replace(p, data=pair[k]) for p, pair in stepping]
    ids = frozenset(p.node.id for p in (*chain, *projected))
    return CellFacts(
        how="unrolled", cell=cell, node=min(ids, key=lambda n: graph.node(n).index),
        input_size=rows - width, hidden_size=hidden, kernel=sources, recurrent_kernel=(),
        bias=bias, reset_after=False if resets else None, direction=direction,
        returns_sequence=_chain_returns_sequence(graph, states), sequence=None,
        steps=_steps(graph, steps), nodes=ids, joint_kernel=True,
        bias_copies=_dedupe((*copies, *folded)), weight_copies=weight_copies,
        stepped=_cut_from(*_sliced_sequence(graph, steps))
        if _from_the_start(graph, steps) else None,
        projection=projection_sources, projection_size=width if projected else None,
    )


def _joint_shape(
    graph: ModelGraph, scope: str, first: str, sources: tuple[WeightSource, ...],
    pairs: list[tuple[str, str]], k: int,
) -> tuple[int, int, int, str | None, int] | NoMatch:
    """(rows, columns, H, cell, the state's width H) of a joint kernel over ``Concat([x, s])``
    (s on side ``k``): H from the state side's width, else rows minus the step side's; the
    cell the number of gate columns names ("LSTM", "GRU", "RNN"), None where it names none."""
    geometry = _geometry(sources)
    if isinstance(geometry, str):
        return NoMatch(first, f"kernel: {geometry}")
    rows, columns = geometry
    hidden = next((w for pair in pairs if (w := _last_dim(graph, pair[k], scope))), None)
    if hidden is None:
        width = next((w for pair in pairs if (w := _last_dim(graph, pair[1 - k], scope))), None)
        hidden = None if width is None else rows - width
    if hidden is None or hidden <= 0 or rows - hidden <= 0:
        return NoMatch(first, f"the kernel is [{rows}, {columns}] but neither the state's "
                       "width nor the step input's is known: I and H cannot be told apart")
    cell = _CELL_BY_GATES.get(columns // hidden) if columns % hidden == 0 else None
    return rows, columns, hidden, cell, hidden


def _joint_projected_shape(
    first: str, sources: tuple[WeightSource, ...], projection: tuple[WeightSource, ...],
) -> tuple[int, int, int, str | None, int] | NoMatch:
    """The same for TF1's ``LSTMCell(num_proj=P)``: the kernel ``[I+P, 4·H]`` over
    ``Concat([x_t, h])``, h the projection ``[H, P]``, so the state is P wide."""
    geometry, projected = _geometry(sources), _geometry(projection)
    if isinstance(geometry, str) or isinstance(projected, str):
        return NoMatch(first, f"kernel or projection: {geometry}, {projected}")
    (rows, columns), (hidden, width) = geometry, projected
    if columns != 4 * hidden or rows - width <= 0:
        return NoMatch(first, f"the kernel over Concat([x, h]) is [{rows}, {columns}] and the "
                       f"projection of h [{hidden}, {width}]: an LSTM with projection has "
                       "[I+P, 4·H] and [H, P]")
    return rows, columns, hidden, "LSTM", width


def _concat_sides(graph: ModelGraph, product: _WeightProduct) -> tuple[str, str] | None:
    """The two inputs of the Concat on the last axis that ``product`` multiplies."""
    scope = product.node.graph
    concat = graph.producer(graph.through(product.data, scope, _VIEWS), scope)
    if concat is None or not _pairs_on_last_axis(graph, concat, scope):
        return None
    first, second = _concat_parts(concat)
    return first, second


def _without_probe(
    products: list[_WeightProduct], step_nodes: frozenset[str], graph: ModelGraph
) -> list[_WeightProduct]:
    """The input products less a shape-probe step's (:func:`_chain_of`): one that reads the
    same time step as another, and feeds no step of the chain."""
    index_of = {product.node.id: _time_index(graph, product.data, product.node.graph)
                for product in products}
    by_index: dict[int | None, list[_WeightProduct]] = {}
    for product in products:
        by_index.setdefault(index_of[product.node.id], []).append(product)
    return [product for product in products
            if index_of[product.node.id] is None  # a computed step input: its step unknown
            or len(same := by_index[index_of[product.node.id]]) < 2
            or product.node.id in step_nodes
            or not any(other.node.id in step_nodes for other in same)]


_STACK_VIEW_OPS = frozenset({"Unsqueeze", "Reshape", "Identity", "Transpose", "Cast"}) | _QDQ


def _chain_returns_sequence(graph: ModelGraph, chain: list[_WeightProduct]) -> bool:
    """True when the states of two or more steps are stacked into one tensor (Keras's
    return_sequences, torch.stack): a Concat a few view ops after each of them."""
    stacks: dict[str, set[str]] = {}  # Concat node id -> the states that reach it
    for product in chain[1:]:
        state = product.data
        frontier = [(state, 0)]
        while frontier:
            name, hops = frontier.pop()
            for consumer in graph.consumers_of(name, product.node.graph):
                if consumer.op_type in ("Concat", "SequenceConstruct"):
                    stacks.setdefault(consumer.id, set()).add(state)
                elif consumer.op_type in _STACK_VIEW_OPS and hops < 3 and consumer.outputs:
                    frontier.append((consumer.outputs[0], hops + 1))
    return any(len(states) >= 2 for states in stacks.values())


_SLICING_OPS = frozenset({"Slice", "Gather", "Split", "SequenceAt"})
# Ops between one step's slice of a sequence and what the step reads (onnxruntime's transpose
# optimizer moves the time-major Transpose past the Split, onto each step's slice).
_STEP_VIEW_OPS = frozenset({"Squeeze", "Reshape", "Identity", "Cast", "Unsqueeze",
                            "Transpose"}) | _QDQ


def _hoisted_steps(
    graph: ModelGraph, kernel: _WeightProduct, walks: list[_Upstream]
) -> tuple[str, int] | None:
    """(direction, steps) of a chain whose input projection is one product over the whole
    sequence, sliced once per step (torch's dynamo export of nn.RNN: ``x @ W_ih + b_ih``, then
    a Slice of time step t for step t; its reverse direction slices the projection flipped,
    a Slice with step -1). Each step reads one slice, in order or in reverse; the first may
    read none (its state product reads the initial state). None when the steps do not."""
    scope = kernel.node.graph
    projected = _projected(graph, kernel)
    if not projected:
        return None
    indices: set[int] = set()
    for name in projected:
        for consumer in _step_cuts_of(graph, name, scope):
            if consumer.graph == scope and consumer.op_type in _SLICING_OPS \
                    and cut_source(graph, consumer) == name \
                    and not _is_flip(graph, consumer):
                indices.update(i for out in consumer.outputs if out
                               if (i := _time_index(graph, out, scope)) is not None)
    positions: list[int] = []
    flips: set[bool] = set()  # whether the sliced projection is flipped
    earlier: set[int] = set()  # the slices the walks of earlier steps read
    for k, walk in enumerate(walks):
        read: set[int | None] = set()
        for node_id in walk.nodes:
            for name in graph.node(node_id).inputs:
                source = _slice_of(graph, name, scope, projected) if name else None
                if source is not None:
                    read.add(_time_index(graph, name, scope))
                    flips.add(projected[source])
        if None in read:
            return None
        # an LSTM's walk reaches every earlier step through c, which no product stops: a
        # step's own slice is the one no earlier walk read
        own = {i for i in read if i is not None} - earlier
        if not own and k == 0:
            continue  # the first state product reads the initial state, before any step
        if len(own) != 1:
            return None
        positions.extend(own)
        earlier |= own
    order = _time_order(positions)
    if order == "unknown" or len(flips) != 1:
        return None
    # the steps slice the projection flipped, or the projection reads the sequence flipped
    # (Keras 3's backward layer, torch backend): either way their order is reversed
    if flips.pop() != _reads_flipped(graph, kernel.data, scope):
        order = "reverse" if order == "forward" else "forward"
    return order, len(indices)


def _cuts_a_step(graph: ModelGraph, node: NodeInfo) -> bool:
    """Whether ``node`` is a Split, Gather or Slice, or a SequenceAt of an unbind
    (:func:`unbound_from`): what cuts one step out of a sequence."""
    return node.op_type in _SLICING_OPS and (
        node.op_type != "SequenceAt" or unbound_from(graph, node) is not None)


def _step_cuts_of(graph: ModelGraph, name: str, scope: str) -> list[NodeInfo]:
    """The readers of ``name``, each SplitToSequence among them stood for by the SequenceAt
    nodes that take its steps (:func:`unbound_from`)."""
    found: list[NodeInfo] = []
    for consumer in graph.consumers_of(name, scope):
        if consumer.op_type != "SplitToSequence":
            found.append(consumer)
            continue
        found.extend(reader for out in consumer.outputs[:1] if out
                     for reader in graph.consumers_of(out, scope)
                     if unbound_from(graph, reader) is not None)
    return found


def _computed_steps(
    graph: ModelGraph, ordered: list[_WeightProduct]
) -> tuple[str, int, tuple[str, int] | None] | None:
    """(direction, steps, cut) of input products that read their time step through computed
    values rather than views: a projection of each slice first (``tanh(Linear(x[:, t]))``),
    or the state of the cell below in a stack (cell 2 of two ``nn.LSTMCell`` reads h1_t,
    which cell 1 made from x_0 ... x_t). Walking up from each product in step order, without
    crossing what an earlier step's walk reached, a step's own slices are those no earlier
    step reached. The sequence is the one graph input of which every step has exactly one
    slice of its own (an initial state's slices are reached by the first step only), in
    order or in reverse. None otherwise (a weight shared across depth reads no slice of its
    own per application). ``cut``: (the sequence, the one axis every step's slice is cut on)
    where the steps are its head (x_0 ... x_{N-1}), for AL317; else None."""
    scope = ordered[0].node.graph
    visited: set[str] = set()  # tensors the walks of earlier steps reached
    owns: list[dict[str, set[int]]] = []  # per step: graph input -> its slices first reached
    claimed: dict[str, set[int]] = {}  # graph input -> the slices earlier steps own
    # graph input -> the tensors and axes its owned slices are cut from (x itself, or a view)
    axes: dict[str, set[tuple[str, int | None]]] = {}
    for product in ordered:
        own: dict[str, set[int]] = {}
        cuts: dict[str, set[tuple[int, tuple[str, int | None]]]] = {}  # (index, cut) per input
        stack = [product.data]
        while stack:
            name = stack.pop()
            if not name or name in visited:
                continue
            visited.add(name)
            if len(visited) > _SEARCH_LIMIT * len(ordered):
                return None
            info = graph.tensor(name, scope)
            if info is None or info.graph != scope or info.producer is None:
                continue
            node = graph.node(info.producer)
            sequence = _sliced_input(graph, node, scope)
            if sequence is not None:
                index = _time_index(graph, name, scope)
                if index is None:
                    return None
                own.setdefault(sequence, set()).add(index)
                cuts.setdefault(sequence, set()).add(
                    (index, (cut_source(graph, node), step_axis(graph, node))))
                continue
            inputs = _DATA_INPUTS.get(node.op_type, range(len(node.inputs)))
            stack.extend(node.inputs[k] for k in inputs if k < len(node.inputs))
        # a slice an earlier step owns, cut again (an attention that reads x_0 apart from the
        # first step's input: speechbrain's AttentionalRNNDecoder), is not this step's own
        for sequence, indices in own.items():
            indices -= claimed.setdefault(sequence, set())
            claimed[sequence] |= indices
            axes.setdefault(sequence, set()).update(
                axis for index, axis in cuts.get(sequence, ()) if index in indices)
        owns.append(own)
    sequences = [name for name in owns[0]
                 if all(len(own.get(name, ())) == 1 for own in owns)]
    if len(sequences) != 1:
        return None
    positions = [next(iter(own[sequences[0]])) for own in owns]
    order = _time_order(positions)
    if order == "unknown":
        return None
    # one tensor and axis every owned slice is cut from (a view of x keeps its own axes)
    found = axes.get(sequences[0], set())
    tensor, axis = next(iter(found)) if len(found) == 1 else ("", None)
    cut = (tensor, axis) if tensor and axis is not None \
        and _head_of_axis(set(positions)) else None
    return order, len(positions), cut


def _sliced_input(graph: ModelGraph, node: NodeInfo, scope: str) -> str | None:
    """The graph input that ``node`` (a Split, Gather or Slice) cuts a step out of, through
    views; None for any other node or a slice of a computed value (a cell's gate chunks)."""
    if not _cuts_a_step(graph, node):
        return None
    name = cut_source(graph, node)
    for _ in range(8):
        info = graph.tensor(name, scope) if name else None
        if info is None or info.graph != scope:
            return None
        if info.producer is None:
            return name if info.is_graph_input and not info.is_initializer else None
        producer = graph.node(info.producer)
        if producer.op_type not in _SEQUENCE_VIEW_OPS:
            return None
        name = _first(producer)
    return None


def _sliced_sequence(
    graph: ModelGraph, products: list[_WeightProduct]
) -> tuple[str | None, int | None]:
    """The one tensor the input products' steps are cut from, and the one axis they are cut
    on (a Split's, a Gather's, a one-axis Slice's); (None, None) when they do not share both
    (a hoisted projection's steps are cut from the projection)."""
    # each step may cut its own Cast of the sequence (a float16 converter keeping the inputs
    # float casts x once per reader): the sequence is what the casts read
    cuts = {(graph.through(cut_source(graph, sliced), p.node.graph, _VIEWS),
             step_axis(graph, sliced)) for p in products
            if (sliced := _step_slice(graph, p.data, p.node.graph)) is not None}
    if len(cuts) != 1:
        return None, None
    [(root, axis)] = cuts
    return (root, axis) if root and axis is not None else (None, None)


def _from_the_start(graph: ModelGraph, products: list[_WeightProduct]) -> bool:
    """Whether the steps the products read are the head of their sequence
    (:func:`_head_of_axis`)."""
    return _head_of_axis({_time_index(graph, p.data, p.node.graph) for p in products})


def _head_of_axis(indices: set[int | None]) -> bool:
    """Whether step indices are x_0 ... x_{N-1}, in some order: the head of the sequence, not
    a window of its last steps (``x[:, -3:]``, which a model may mean)."""
    return None not in indices and indices == set(range(len(indices)))


def _cut_from(sequence: str | None, axis: int | None) -> tuple[str, int] | None:
    return None if sequence is None or axis is None else (sequence, axis)


def _projection_cut(
    graph: ModelGraph, kernels: list[_WeightProduct]
) -> tuple[str, int] | None:
    """(projection, axis) of a chain whose one input product runs over the whole sequence
    and whose steps slice its output (:func:`_hoisted_steps`): the one tensor and axis every
    slice of it is cut on; None otherwise."""
    if len(kernels) != 1:
        return None
    scope = kernels[0].node.graph
    slices = [consumer for name in _projected(graph, kernels[0])
              for consumer in _step_cuts_of(graph, name, scope)
              if consumer.graph == scope and consumer.op_type in _SLICING_OPS
              and cut_source(graph, consumer) == name
              and not _is_flip(graph, consumer)]
    cuts = {(cut_source(graph, node), axis) for node in slices
            if (axis := step_axis(graph, node)) is not None}
    indices = {_time_index(graph, out, scope) for node in slices for out in node.outputs if out}
    if len(cuts) != 1 or not _head_of_axis(indices):
        return None
    return cuts.pop()


def _sequence_root(graph: ModelGraph, product: _WeightProduct) -> str | None:
    """The tensor ``product``'s step is sliced from (through views), or None."""
    sliced = _step_slice(graph, product.data, product.node.graph)
    return None if sliced is None else cut_source(graph, sliced) or None


def _slices_flipped(graph: ModelGraph, product: _WeightProduct) -> bool:
    """Whether the sequence ``product``'s step is cut from is the model's sequence flipped in
    time (``x.flip(0)`` before a loop over a cell): the steps then run backwards over it."""
    root = _sequence_root(graph, product)
    return root is not None and _reads_flipped(graph, root, product.node.graph)


def _slice_of(
    graph: ModelGraph, name: str, scope: str, projected: Mapping[str, bool]
) -> str | None:
    """The ``projected`` tensor of which ``name`` is one step's slice (through views)."""
    sliced = _step_slice(graph, name, scope)
    if sliced is None:
        return None
    source = cut_source(graph, sliced)
    return source if source in projected and not _is_flip(graph, sliced) else None


def _step_slice(graph: ModelGraph, name: str, scope: str) -> NodeInfo | None:
    """The Split, Gather or Slice of ``scope`` that cuts ``name`` (through step views) out of
    a sequence, or None."""
    for _ in range(8):
        producer = graph.producer(name, scope)
        if producer is None or producer.graph != scope:
            return None
        if producer.op_type in _SLICING_OPS:
            return producer if _cuts_a_step(graph, producer) else None
        if producer.op_type not in _STEP_VIEW_OPS:
            return None
        name = _first(producer)
    return None


def _steps(graph: ModelGraph, ordered: list[_WeightProduct]) -> int:
    """How many distinct time steps the input products read."""
    return len({_time_index(graph, p.data, p.node.graph) for p in ordered})


def _in_step_order(
    products: list[_WeightProduct], chain: list[_WeightProduct], walks: list[_Upstream]
) -> list[_WeightProduct]:
    """Input products in the order of the steps they feed (node order need not be step order):
    step k's x_t @ W is upstream of the state product of step k + 1 only."""
    def step(product: _WeightProduct) -> int:
        return next((k for k, walk in enumerate(walks) if product.node.id in walk.nodes),
                    len(chain))
    return sorted(products, key=step)


def _unrolled_direction(graph: ModelGraph, products: list[_WeightProduct]) -> str:
    """forward when the steps read x_0, x_1, ... in order, reverse for x_{T-1}, x_{T-2}, ...
    ``products`` are in step order; the products of one step (one per gate where each gate
    has its own Linear: flax's MGUCell, a hand-written cell) read the same x_t."""
    positions: list[int] = []
    for product in products:
        position = _time_index(graph, product.data, product.node.graph)
        if position is None:
            return "unknown"
        positions.append(position)
    return _time_order([position for position, _ in itertools.groupby(positions)])


def _time_order(positions: list[int]) -> str:
    """forward for time indices in increasing order, reverse for decreasing, else unknown."""
    if len(positions) < 2:
        return "unknown"
    if all(a < b for a, b in itertools.pairwise(positions)):
        return "forward"
    if all(a > b for a, b in itertools.pairwise(positions)):
        return "reverse"
    return "unknown"


def _time_index(graph: ModelGraph, name: str, scope: str) -> int | None:
    for _ in range(8):
        producer = graph.producer(name, scope)
        if producer is None:
            return None
        if producer.op_type == "Split":
            return producer.outputs.index(name)
        if producer.op_type == "SequenceAt":
            position = const_ints(graph, producer.inputs[1], producer.graph) \
                if unbound_from(graph, producer) is not None else None
            return position[0] if position is not None and len(position) == 1 else None
        if producer.op_type == "Gather":
            spec = gather_spec(graph, producer)
            return spec[1][0] if spec is not None and len(spec[1]) == 1 else None
        if producer.op_type == "Slice":
            sliced = slice_spec(graph, producer)
            if sliced is not None and len(sliced.starts) == 1:
                return sliced.starts[0]
            window = step_window(graph, producer)
            return None if window is None else window[1]
        if producer.op_type not in _STEP_VIEW_OPS:
            return None
        name = _first(producer)
    return None
