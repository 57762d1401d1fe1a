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
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import attr_int, attr_ints, gather_spec, slice_spec
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.shapes import Shape, known_product

__all__ = [
    "CellFacts",
    "NoMatch",
    "WeightSource",
    "cell_layers",
    "find_cells",
    "match_loop_cells",
    "match_steps",
    "match_unrolled",
]

_FLOAT_TYPES = frozenset({1, 10, 11, 16})
_CELL_BY_GATES = {1: "RNN", 3: "GRU", 4: "LSTM"}
_GATE_ACTIVATIONS = frozenset({"Sigmoid", "HardSigmoid", "Clip"})
# Keras's hard_sigmoid as tf2onnx writes it: Mul, Add, then Max/Min clamping to [0, 1]
_CLAMP = frozenset({"Min", "Max"})
_ACTIVATIONS = frozenset({"Tanh", "Relu", "Sigmoid", "HardSigmoid", "Elu", "Selu", "Softsign",
                          "Softplus", "LeakyRelu", "ThresholdedRelu"})
# Ops a weight passes through between its initializer and the MatMul (input 0 only).
_WEIGHT_VIEW_OPS = frozenset({"Identity", "Cast", "Slice", "Split", "Gather", "Squeeze",
                              "Unsqueeze", "Reshape", "Flatten"})
# Inputs that carry data (not indices, shapes or axes): everything else is not followed.
_DATA_INPUTS: dict[str, tuple[int, ...]] = {
    "Gather": (0,), "GatherElements": (0,), "Slice": (0,), "Split": (0,), "Reshape": (0,),
    "Squeeze": (0,), "Unsqueeze": (0,), "Expand": (0,), "Tile": (0,), "Pad": (0,),
    "Where": (1, 2), "Shape": (), "Size": (), "ConstantOfShape": (), "Range": (),
}
# An activation quantized and dequantized in place (onnxruntime's QDQ format): a lossy view.
_QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})
# Ops a sequence passes through on its way into the Loop (what direction is read from).
_SEQUENCE_VIEW_OPS = frozenset({"Identity", "Cast", "Transpose", "Squeeze", "Unsqueeze",
                                "Reshape", "ReverseSequence"}) | _QDQ
_MATMULS = frozenset({"MatMul", "Gemm"})
# What a DequantizeLinear reads a stored weight as, and the ops that quantize a float one in
# the graph (their output 0, which DequantizeLinear reads).
_QUANTIZED_TYPES = frozenset({2, 3, 4, 5, 6, 21, 22})  # uint8, int8, uint16, int16, int32, 4-bit
_QUANTIZERS = frozenset({"QuantizeLinear", "DynamicQuantizeLinear"})
_SEARCH_LIMIT = 400  # nodes visited by one upstream walk: bounded on huge graphs


@dataclass(frozen=True)
class WeightSource:
    """A stored tensor (initializer or Constant) that a cell's weights are read from."""

    tensor: str
    graph: str  # the scope that defines it
    shape: Shape | None
    transposed: bool = False  # stored [out, in] (Gemm transB=1)
    dtype: int | None = None  # as stored: int8 behind a DequantizeLinear
    constant: bool = False  # a Constant node's output, not an initializer

    @property
    def key(self) -> tuple[str, str]:
        return (self.graph, self.tensor)

    @property
    def elements(self) -> int | None:
        return None if self.shape is None else known_product(self.shape)


@dataclass(frozen=True)
class NoMatch:
    """Why a candidate is not a recurrent cell (onnxscript's ``MatchResult.fail(reason)``)."""

    node: str  # the candidate's node id
    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class CellFacts:
    """What was recovered about one recognised cell. Unknown facts are None."""

    how: str  # "loop-cell", "unrolled" or "step"
    cell: str  # LSTM, GRU or RNN
    node: str  # the Loop, or the first node of the unrolled chain
    input_size: int
    hidden_size: int
    kernel: tuple[WeightSource, ...]
    recurrent_kernel: tuple[WeightSource, ...]
    bias: tuple[WeightSource, ...]
    reset_after: bool | None  # GRU only
    direction: str  # forward, reverse, or unknown
    returns_sequence: bool | None
    sequence: str | None  # the outer tensor the steps read x_t from
    steps: int | None  # unrolled chains: how many steps
    nodes: frozenset[str]  # node ids that belong to the cell (its MatMuls, the Loop)
    # one kernel [I+H, g·H] over Concat([x, h]) (TF1's rnn_cell layout): ``kernel`` holds it,
    # ``recurrent_kernel`` is empty
    joint_kernel: bool = False
    peephole: tuple[WeightSource, ...] = ()  # a peephole LSTM's diagonal weights ([H] each)

    @property
    def gates(self) -> int:
        return {"RNN": 1, "GRU": 3, "LSTM": 4}[self.cell]

    @property
    def bias_elements(self) -> int | None:
        return _sum_elements(self.bias)

    @property
    def bias_layout(self) -> str:
        """none, one ``[g·H]`` (Keras), two ``[2, g·H]`` (Wb and Rb), or unknown."""
        stored = self.bias_elements
        gh = self.gates * self.hidden_size
        return {0: "none", gh: "one", 2 * gh: "two"}.get(stored, "unknown") \
            if stored is not None else "unknown"

    @property
    def sources(self) -> tuple[WeightSource, ...]:
        return (*self.kernel, *self.recurrent_kernel, *self.bias, *self.peephole)


def _sum_elements(sources: Iterable[WeightSource]) -> int | None:
    total = 0
    for source in sources:
        if source.elements is None:
            return None
        total += source.elements
    return total


# --- tracing ------------------------------------------------------------------------------------
def _first(node: NodeInfo) -> str:
    """Input 0, or "" for a malformed node without inputs (never an IndexError)."""
    return node.inputs[0] if node.inputs else ""


def weight_sources(
    graph: ModelGraph, name: str, scope: str, _depth: int = 0, _transposed: bool = False,
    _quantized: bool = False,
) -> tuple[WeightSource, ...] | None:
    """The float constants an operand is a view of (through Slice, Split, Gather, loop-carried
    pass-throughs...), or None when the operand is not made of stored weights only. A source
    read through a 2-D Transpose (torch's F.linear as MatMul(x, W^T)) is marked transposed.

    A quantized weight counts as its stored integers: DequantizeLinear of an int8 initializer
    (a TFLite dynamic-range model through tf2onnx; a QDQ model), or of a float one quantized
    in the graph (tf2onnx passes such a model's float bias through DynamicQuantizeLinear).
    """
    info = graph.tensor(name, scope) if name else None
    if info is None or _depth > 32:
        return None
    info = graph.loop_invariant(info)
    if info.is_initializer or info.constant_source is not None:
        if info.dtype is not None and info.dtype not in _FLOAT_TYPES and not (
                _quantized and info.dtype in _QUANTIZED_TYPES):
            return None
        return (WeightSource(info.name, info.graph, info.shape, _transposed, info.dtype,
                             not info.is_initializer),)
    if info.producer is None:
        return None
    node = graph.node(info.producer)
    if node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Transpose":
        perm = attr_ints(node, "perm")
        if perm not in (None, (1, 0)):
            return None
        return weight_sources(graph, _first(node), node.graph, _depth + 1, not _transposed)
    if node.op_type in _WEIGHT_VIEW_OPS:
        return weight_sources(graph, _first(node), node.graph, _depth + 1, _transposed,
                              _quantized)
    if node.op_type == "DequantizeLinear" and not _quantized:
        return weight_sources(graph, _first(node), node.graph, _depth + 1, _transposed, True)
    if node.op_type in _QUANTIZERS and _quantized and info.name == node.outputs[0]:
        return weight_sources(graph, _first(node), node.graph, _depth + 1, _transposed)
    if node.op_type == "Concat":
        found: list[WeightSource] = []
        for part in node.inputs:
            sources = weight_sources(graph, part, node.graph, _depth + 1, _transposed)
            if sources is None:
                return None
            found.extend(sources)
        return tuple(found)
    return None


@dataclass(frozen=True)
class _Upstream:
    """What one backward walk over data inputs reached, inside one scope."""

    nodes: frozenset[str]  # node ids visited (in the scope)
    leaves: frozenset[tuple[str, str]]  # (scope, name) of inputs, initializers, outer tensors
    complete: bool  # False when the walk hit _SEARCH_LIMIT


def _upstream(
    graph: ModelGraph, names: Iterable[str], scope: str, stop: frozenset[str] = frozenset()
) -> _Upstream:
    """Walk data inputs backwards within ``scope``; node ids in ``stop`` are visited, not
    crossed (the previous step of an unrolled chain)."""
    nodes: set[str] = set()
    leaves: set[tuple[str, str]] = set()
    stack = [n for n in names if n]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        info = graph.tensor(name, scope)
        if info is None:
            continue
        if info.graph != scope or info.producer is None:
            leaves.add((info.graph, name))
            continue
        if info.producer in nodes:
            continue
        if len(nodes) >= _SEARCH_LIMIT:
            return _Upstream(frozenset(nodes), frozenset(leaves), False)
        nodes.add(info.producer)
        if info.producer in stop:
            continue
        node = graph.node(info.producer)
        positions = _DATA_INPUTS.get(node.op_type, range(len(node.inputs)))
        stack.extend(node.inputs[k] for k in positions if k < len(node.inputs))
    return _Upstream(frozenset(nodes), frozenset(leaves), True)


def _op_types(graph: ModelGraph, nodes: Iterable[str]) -> set[str]:
    return {graph.node(n).op_type for n in nodes}


@dataclass(frozen=True)
class _WeightProduct:
    """A MatMul or Gemm with a stored weight on one side: data @ weight."""

    node: NodeInfo
    data: str
    weight: str
    sources: tuple[WeightSource, ...]
    bias: tuple[WeightSource, ...]  # a Gemm's C


def _weight_products(graph: ModelGraph, scope: str) -> list[_WeightProduct]:
    found = []
    for node in graph.iter_nodes(_MATMULS):
        if node.graph != scope:
            continue
        product = _weight_product(graph, node)
        if product is not None:
            found.append(product)
    return found


def _weight_product(graph: ModelGraph, node: NodeInfo) -> _WeightProduct | None:
    """The MatMul or Gemm ``node`` as data @ stored weight, or None when it is not one."""
    if node.op_type not in _MATMULS or len(node.inputs) < 2 \
            or node.domain not in ("", "ai.onnx"):
        return None
    transposed = False
    if node.op_type == "Gemm":
        if attr_int(node, "transA"):
            return None
        transposed = bool(attr_int(node, "transB"))
    sources = weight_sources(graph, node.inputs[1], node.graph)
    if not sources:
        return None
    if transposed:
        sources = tuple(dataclasses.replace(s, transposed=not s.transposed) for s in sources)
    bias: tuple[WeightSource, ...] = ()
    if node.op_type == "Gemm" and len(node.inputs) > 2 and node.inputs[2]:
        bias = weight_sources(graph, node.inputs[2], node.graph) or ()
    return _WeightProduct(node, node.inputs[0], node.inputs[1], sources, bias)


def _dedupe(sources: Iterable[WeightSource]) -> tuple[WeightSource, ...]:
    return tuple({s.key: s for s in sources}.values())


def _geometry(sources: tuple[WeightSource, ...]) -> tuple[int, int] | str:
    """(rows, total columns) of rank-2 weights that share their row count, else a reason."""
    rows: set[int] = set()
    columns = 0
    for source in sources:
        shape = source.shape
        if shape is None or len(shape) != 2 or not all(isinstance(d, int) for d in shape):
            return f"{source.tensor!r} has shape {shape}, not a known rank-2 [in, out] matrix"
        inner, outer = (shape[1], shape[0]) if source.transposed else (shape[0], shape[1])
        assert isinstance(inner, int) and isinstance(outer, int)
        rows.add(inner)
        columns += outer
    if len(rows) != 1:
        return f"the weights {[s.tensor for s in sources]} disagree on their input width"
    return rows.pop(), columns


@dataclass(frozen=True)
class _Core:
    """The matched algebra of one step, shared by the Loop and the unrolled matcher."""

    cell: str
    input_size: int
    hidden_size: int
    kernel: tuple[WeightSource, ...]
    recurrent: tuple[WeightSource, ...]


def _match_core(
    node_id: str, kernel: Iterable[WeightSource], recurrent: Iterable[WeightSource]
) -> _Core | NoMatch:
    kernel_sources, recurrent_sources = _dedupe(kernel), _dedupe(recurrent)
    shared = {s.key for s in kernel_sources} & {s.key for s in recurrent_sources}
    if shared:
        return NoMatch(node_id, f"the same weights {sorted(n for _, n in shared)} multiply the "
                       "step input and the state: not a kernel and a recurrent kernel")
    geometry = _geometry(recurrent_sources)
    if isinstance(geometry, str):
        return NoMatch(node_id, f"recurrent weight: {geometry}")
    hidden, columns = geometry
    if hidden <= 0 or columns % hidden or columns // hidden not in _CELL_BY_GATES:
        return NoMatch(node_id, f"the state product is [{hidden}, {columns}]: {columns} "
                       f"columns is not 1, 3 or 4 gates × H={hidden} (no square recurrence)")
    gates = columns // hidden
    geometry = _geometry(kernel_sources)
    if isinstance(geometry, str):
        return NoMatch(node_id, f"input kernel: {geometry}")
    inputs, kernel_columns = geometry
    if kernel_columns != columns:
        return NoMatch(node_id, f"the input kernel has {kernel_columns} columns and the "
                       f"recurrent kernel {columns}: they must both be gates × H")
    return _Core(_CELL_BY_GATES[gates], inputs, hidden, kernel_sources, recurrent_sources)


def _check_activations(node_id: str, cell: str, ops: set[str]) -> NoMatch | None:
    if cell == "RNN" and not ops & _ACTIVATIONS:
        return NoMatch(node_id, "no activation between the state product and the new state")
    if cell in ("GRU", "LSTM") and not ops & _GATE_ACTIVATIONS and not ops >= _CLAMP:
        return NoMatch(node_id, f"{cell}-sized weights but no Sigmoid gate on the new state")
    return None


# Ops between a gate's activation and the Mul that applies it: a Split of the gates; the Cast
# pair a float16 conversion puts around an op it keeps in float32 (onnxconverter-common keeps
# Min and Max, which Keras's hard_sigmoid clamps with).
_GATE_VIEW_OPS = frozenset({"Identity", "Split", "Slice", "Cast"}) | _QDQ


def _resets_before_product(graph: ModelGraph, products: Iterable[_WeightProduct]) -> bool:
    """GRU reset_after=False: one state product multiplies ``r ⊙ h``, a Mul of a gate."""
    for product in products:
        producer = graph.producer(product.data, product.node.graph)
        while producer is not None and producer.op_type in ("Cast", "Identity"):
            producer = graph.producer(_first(producer), producer.graph)  # TorchScript's Casts
        if producer is None or producer.op_type != "Mul" or producer.graph != product.node.graph:
            continue
        for operand in producer.inputs:
            source = graph.producer(operand, producer.graph)
            while source is not None and source.op_type in _GATE_VIEW_OPS:
                source = graph.producer(_first(source), source.graph)
            if source is not None and (source.op_type in _GATE_ACTIVATIONS
                                       or source.op_type in _CLAMP):
                return True
    return False


def _chain_bias(
    graph: ModelGraph, walks: list[_Upstream], projection_adds: frozenset[str],
    used: set[tuple[str, str]],
) -> tuple[WeightSource, ...]:
    """An unrolled chain's biases: what is added to its hoisted input projection (the one
    product over the whole sequence; ``projection_adds`` are the Adds after it), and what the
    steps add each (a bias every step adds is read by two steps or more; a step's own nodes
    are those no earlier step's walk reached). A tensor only one step adds is that step's
    state product folded by the exporter: with no initial state, torch's dynamo export of a
    Keras 3 layer (torch backend) stores ``zeros @ R`` (plus the recurrent bias, for a GRU) as
    ``[1, g·H]``, which the first step adds where each later step adds ``h @ R``."""
    step_of: dict[str, int] = {}
    for k, walk in enumerate(walks):
        for node_id in walk.nodes:
            step_of.setdefault(node_id, k)
    nodes = frozenset(step_of) | projection_adds
    steps: dict[tuple[str, str], set[int]] = {}
    added = list(_added_constants(graph, nodes, used))
    for source, node_id in added:
        steps.setdefault(source.key, set()).add(
            -1 if node_id in projection_adds else step_of[node_id])
    return _dedupe(source for source, _ in added if -1 in steps[source.key] or (
        len(steps[source.key]) >= 2 and not _folded_zero_state(graph, source)))


def _folded_zero_state(graph: ModelGraph, source: WeightSource) -> bool:
    """A stored ``[1, n]`` of zeros: ``h0 @ R`` folded for a zero h0 of batch 1, which a GRU
    with reset_after=False adds in both pieces of its first step (so two walks read it)."""
    if source.shape is None or len(source.shape) != 2 or source.shape[0] != 1:
        return False
    info = graph.tensor(source.tensor, source.graph)
    value = None if info is None else info.value
    return value is not None and not value.any()


def _added_constants(
    graph: ModelGraph, nodes: Iterable[str], used: set[tuple[str, str]]
) -> Iterator[tuple[WeightSource, str]]:
    """(stored vector or matrix, the Add that adds it) in ``nodes``, in model order."""
    for node_id in sorted(nodes, key=_model_position):
        node = graph.node(node_id)
        if node.op_type != "Add":
            continue
        for operand in node.inputs:
            for source in weight_sources(graph, operand, node.graph) or ():
                if source.key not in used and source.shape is not None \
                        and 1 <= len(source.shape) <= 2:
                    yield source, node_id


def _bias_sources(
    graph: ModelGraph, nodes: Iterable[str], used: set[tuple[str, str]]
) -> tuple[WeightSource, ...]:
    """Stored vectors added in the step (Add with a constant of rank 1 or 2: not a scalar, nor
    a folded step of a batch, as torch's dynamo export of nn.RNN stores zeros @ W_hh + b_hh
    ``[1, batch, H]``), in model order."""
    return _dedupe(source for source, _ in _added_constants(graph, nodes, used))


def _model_position(node_id: str) -> tuple[str, int]:
    """A node id's place: its graph, then its index (ids of one step share the graph), so
    what is collected from a set of ids comes out the same in every run."""
    graph, _, index = node_id.rpartition("/")
    return graph, int(index)


# --- Loop and Scan cells ------------------------------------------------------------------------
@dataclass(frozen=True)
class _LoopBody:
    """A Loop's or a Scan's body as the cell matchers read it."""

    node: NodeInfo  # the Loop or the Scan
    scope: str  # its body
    states: Mapping[str, str]  # a carried floating-point body input -> its next value
    carried: int  # how many leading outputs of the node are final states (then scan outputs)
    elements: Mapping[str, tuple[str, bool]]  # Scan: body input x_t -> (outer sequence, reversed)


def _loop_body(graph: ModelGraph, node: NodeInfo) -> _LoopBody | NoMatch:
    """What a Loop or Scan carries from one iteration to the next, and, for a Scan, which body
    inputs are one step of an outer sequence. A Loop's body inputs are (iteration, condition,
    carried...), its outputs (condition, carried..., scan outputs...); a Scan's are (carried...,
    scan elements...) and (carried..., scan outputs...), and at opset 8 its node inputs start
    with sequence_lens."""
    bodies = [p for p in graph.subgraphs_of(node.id) if p.endswith(".body")]
    if node.op_type not in ("Loop", "Scan") or len(bodies) != 1:
        return NoMatch(node.id, f"not a Loop or Scan with one body ({node.op_type})")
    body = bodies[0]
    # below IR version 4 a graph lists its initializers among its inputs too: not parameters
    inputs = tuple(name for name in graph.graph_inputs[body]
                   if not ((info := graph.tensor(name, body)) is not None
                           and info.graph == body and info.is_initializer))
    outputs = graph.graph_outputs[body]
    elements: dict[str, tuple[str, bool]] = {}
    if node.op_type == "Loop":
        carried = len(inputs) - 2
        pairs = [(inputs[2 + k], outputs[1 + k]) for k in range(carried) if 1 + k < len(outputs)]
    else:
        scans = attr_int(node, "num_scan_inputs") or 0
        carried = len(inputs) - scans
        offset = len(node.inputs) - len(inputs)
        if carried < 0 or offset < 0:
            return NoMatch(node.id, f"the Scan's num_scan_inputs={scans} does not fit its "
                           f"{len(inputs)} body inputs and {len(node.inputs)} inputs")
        pairs = [(inputs[k], outputs[k]) for k in range(carried) if k < len(outputs)]
        directions = attr_ints(node, "scan_input_directions") or ()
        for j in range(scans):
            outer = node.inputs[offset + carried + j]
            if outer:
                reverse = j < len(directions) and directions[j] == 1
                elements[inputs[carried + j]] = (outer, reverse)
    if carried < 1 or len(pairs) < carried:
        return NoMatch(node.id, "the body carries no value from one iteration to the next")
    states: dict[str, str] = {}  # body input -> its next value
    for name, new in pairs:
        info = graph.tensor(name, body)
        if graph.through_identity(new, body) == name:
            continue  # passed through unchanged: a constant of the loop
        if info is not None and info.dtype is not None and info.dtype not in _FLOAT_TYPES:
            continue  # a counter
        states[name] = new
    if not states:
        return NoMatch(node.id, "no floating-point value changes from one iteration to the next")
    return _LoopBody(node, body, MappingProxyType(states), carried, MappingProxyType(elements))


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
    cells = _body_cells(graph, body, products, stop)
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
    for product in products:
        walk = _upstream(graph, [product.data], scope)
        reached = {name for path, name in walk.leaves if path == scope}
        if reached & states.keys():
            state_products.append(product)
            continue
        outer = _step_sequence(graph, walk, body)
        if outer is not None:
            input_products.append(product)
            sequences.add(outer)
    if not state_products:
        return NoMatch(loop.id, "no MatMul multiplies a loop-carried state by a stored weight")
    if not input_products:
        return NoMatch(loop.id, "no MatMul multiplies a per-step slice of an outer sequence "
                       "(x_t) by a stored weight")
    core = _match_core(loop.id, (s for p in input_products for s in p.sources),
                       (s for p in state_products for s in p.sources))
    if isinstance(core, NoMatch):
        return core

    product_ids = {p.node.id for p in (*state_products, *input_products)}
    feeding = {name: _upstream(graph, [new], scope) for name, new in states.items()}
    closed = [name for name, walk in feeding.items()
              if walk.nodes & {p.node.id for p in state_products}]
    if not closed:
        return NoMatch(loop.id, "the state product does not feed the next state: no recurrence")
    widths = {_last_dim(graph, name, scope) for name in closed}
    if any(isinstance(w, int) and w != core.hidden_size for w in widths):
        return NoMatch(loop.id, f"the carried state is {sorted(w for w in widths if w)} wide but "
                       f"the recurrent kernel implies H={core.hidden_size}")
    step_nodes = frozenset().union(*(feeding[name].nodes for name in closed))
    failure = _check_activations(loop.id, core.cell, _op_types(graph, step_nodes))
    if failure is not None:
        return failure
    if core.cell == "LSTM" and len(closed) < 2:
        return NoMatch(loop.id, "LSTM-sized weights but only one state (h) is carried; an LSTM "
                       "carries h and c")
    used = {s.key for s in (*core.kernel, *core.recurrent)}
    bias = _dedupe((*_bias_sources(graph, step_nodes, used),
                    *(s for p in (*state_products, *input_products) for s in p.bias)))
    sequence = sorted(sequences)[0] if len(sequences) == 1 else None
    return CellFacts(
        how="loop-cell", cell=core.cell, node=loop.id,
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        reset_after=(not _resets_before_product(graph, state_products)
                     if core.cell == "GRU" else None),
        direction=_sequence_direction(graph, body, sequence),
        returns_sequence=_loop_returns_sequence(graph, loop, body.carried),
        sequence=None if sequence is None else sequence[0], steps=None,
        nodes=frozenset({loop.id, *product_ids}),
    )


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
    concat = graph.producer(product.data, body.scope)
    while concat is not None and concat.op_type in ("Identity", "Cast") \
            and concat.graph == body.scope:
        concat = graph.producer(_first(concat), body.scope)
    if concat is None or concat.op_type != "Concat" or concat.graph != body.scope \
            or len(concat.inputs) != 2:
        return None
    axis = attr_int(concat, "axis")
    rank = next((len(info.shape) for name in (*concat.outputs[:1], *concat.inputs)
                 if (info := graph.tensor(name, body.scope)) is not None
                 and info.shape is not None), None)
    if axis is None or not (axis == -1 or (rank is not None and axis == rank - 1)):
        return None
    sides = []
    for operand in concat.inputs:
        walk = _upstream(graph, [operand], body.scope, stop=stop)
        sides.append(frozenset(name for path, name in walk.leaves
                               if path == body.scope and name in body.states))
    # the state side reads a carried state itself (h, or r ⊙ h); the step side may read
    # states only through the cell below it (MultiRNNCell), which a direct read tells apart
    direct = [_reads_state(graph, operand, body) for operand in concat.inputs]
    if direct[0] != direct[1]:
        k = 1 if direct[1] else 0
    elif bool(sides[0]) != bool(sides[1]):
        k = 1 if sides[1] else 0
    else:
        return None
    return _JointOperands(concat.inputs[1 - k], concat.inputs[k], sides[k])


def _reads_state(graph: ModelGraph, name: str, body: _LoopBody) -> bool:
    """``name`` is a carried state, or a Mul with one (r ⊙ h), through Identity and Cast."""
    def state(candidate: str) -> bool:
        producer = graph.producer(candidate, body.scope)
        while producer is not None and producer.op_type in ("Identity", "Cast") \
                and producer.graph == body.scope:
            candidate = _first(producer)
            producer = graph.producer(candidate, body.scope)
        return candidate in body.states

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
        steps.append({joint[p.node.id].step for p in group.products})
    return _stacked(graph, body, facts, steps, stop)


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
    split = [p.node.id for p in products if p.node.id not in joint]
    if split:
        return NoMatch(where, f"{len(split)} product(s) of the cell do not read Concat([x, h]) "
                       "(a projection, or a kernel and a recurrent kernel of their own): not "
                       "TF1's rnn_cell layout")
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
    if hidden is None or hidden <= 0 or rows - hidden <= 0:
        return NoMatch(where, f"the kernel is [{rows}, {columns}] but neither the state's width "
                       "nor the step input's is known: I and H cannot be told apart")
    if columns % hidden or columns // hidden not in _CELL_BY_GATES:
        return NoMatch(where, f"the kernel is [{rows}, {columns}]: {columns} columns is not 1, "
                       f"3 or 4 gates × H={hidden}")
    cell = _CELL_BY_GATES[columns // hidden]
    new_values = [body.states[name] for name in sorted(states)]
    step_nodes = frozenset().union(*(_upstream(graph, [v], scope, stop=stop).nodes
                                     for v in new_values)) - stop
    failure = _check_activations(where, cell, _op_types(graph, step_nodes))
    if failure is not None:
        return failure
    if cell == "LSTM" and len(states) < 2:
        return NoMatch(where, "LSTM-sized weights but only one state (h) is carried; an LSTM "
                       "carries h and c")
    used = {s.key for s in sources}
    peephole = _peepholes(graph, scope, step_nodes, states, hidden, stop) \
        if cell == "LSTM" else ()
    used |= {s.key for s in peephole}
    bias = _dedupe((*(s for p in products for s in p.bias),
                    *_bias_sources(graph, step_nodes, used)))
    reset_after = None
    if cell == "GRU":
        reset_after = not any(_is_reset(graph, o.state, scope) for o in operands)
    return CellFacts(
        how="loop-cell", cell=cell, node=where, input_size=rows - hidden, hidden_size=hidden,
        kernel=sources, recurrent_kernel=(), bias=bias, reset_after=reset_after,
        direction="unknown", returns_sequence=None, sequence=None, steps=None,
        nodes=frozenset({*([loop.id] if single else []), *(p.node.id for p in products)}),
        joint_kernel=True, peephole=peephole,
    )


def _joint_width(
    graph: ModelGraph, scope: str, sides: list[str], states: set[str]
) -> int | None:
    """H: the width of the state side of the Concat, else of a carried state."""
    for name in (*sides, *sorted(states)):
        width = _last_dim(graph, name, scope)
        if width is not None:
            return width
    return None


def _is_reset(graph: ModelGraph, name: str, scope: str) -> bool:
    """``name`` is ``r ⊙ h``: a Mul of a gate (a GRUCell's candidate reads it)."""
    producer = graph.producer(name, scope)
    if producer is None or producer.op_type != "Mul" or producer.graph != scope:
        return False
    for operand in producer.inputs:
        source = graph.producer(operand, scope)
        while source is not None and source.op_type in _GATE_VIEW_OPS:
            source = graph.producer(_first(source), scope)
        if source is not None and (source.op_type in _GATE_ACTIVATIONS
                                   or source.op_type in _CLAMP):
            return True
    return False


def _peepholes(
    graph: ModelGraph, scope: str, nodes: Iterable[str], states: set[str], hidden: int,
    stop: frozenset[str],
) -> tuple[WeightSource, ...]:
    """The diagonal weights of a peephole LSTM (TF1's LSTMCell(use_peepholes=True)): stored
    ``[H]`` vectors that a Mul applies to the cell state, old or new, in model order."""
    found: list[WeightSource] = []
    for node_id in sorted(nodes, key=_model_position):
        node = graph.node(node_id)
        if node.op_type != "Mul" or len(node.inputs) != 2:
            continue
        for k, operand in enumerate(node.inputs):
            sources = weight_sources(graph, operand, scope) or ()
            if len(sources) != 1 or sources[0].shape != (hidden,):
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
    below: list[int | None] = []
    for k, cell in enumerate(cells):
        walk = _upstream(graph, sorted(steps[k]), body.scope, stop=stop)
        sources = {owner[n] for n in walk.nodes & stop if n in owner} - {k}
        if len(sources) > 1:
            return NoMatch(cell.node, "the cell's input reads two other cells of the body")
        if sources:
            below.append(sources.pop())
            continue
        outer = _step_sequence(graph, walk, body)
        if outer is None:
            return NoMatch(cell.node, "the cell's input is neither one step of an outer "
                           "sequence nor the output of another cell in the body")
        if sequence is not None and outer != sequence:
            return NoMatch(cell.node, "two cells of the body read different sequences")
        sequence = outer
        below.append(None)
    depth = [_stack_depth(below, k) for k in range(len(cells))]
    if None in depth:
        return NoMatch(body.node.id, "the cells of the body read each other in a cycle")
    direction = _sequence_direction(graph, body, sequence)
    feeding = {k for k in below if k is not None}
    returns = _loop_returns_sequence(graph, body.node, body.carried)
    return [dataclasses.replace(
        cells[k], direction=direction,
        returns_sequence=True if k in feeding else returns,
        sequence=sequence[0] if sequence is not None and below[k] is None else None,
    ) for k in sorted(range(len(cells)), key=lambda k: (depth[k], k))]  # bottom of the stack first


def _stack_depth(below: list[int | None], k: int) -> int | None:
    """How many cells are under cell ``k`` (None on a cycle)."""
    for depth in range(len(below)):
        step = below[k]
        if step is None:
            return depth
        k = step
    return None


def _last_dim(graph: ModelGraph, name: str, scope: str) -> int | None:
    info = graph.tensor(name, scope)
    if info is None or not info.shape:
        return None
    last = info.shape[-1]
    return last if isinstance(last, int) else None


def _step_sequence(
    graph: ModelGraph, walk: _Upstream, body: _LoopBody
) -> tuple[str, bool] | None:
    """The outer sequence x_t is one step of, when ``walk`` (from a product's data) reaches a
    Scan's scan element or a Gather/Slice of an outer tensor; with whether the Scan reads it
    in reverse."""
    for path, name in sorted(walk.leaves):
        if path == body.scope and name in body.elements:
            return body.elements[name]
    for node_id in walk.nodes:
        node = graph.node(node_id)
        if node.op_type not in ("Gather", "Slice") or not node.inputs:
            continue
        info = graph.tensor(node.inputs[0], body.scope)
        if info is None:
            continue
        info = graph.loop_invariant(info)
        if info.graph != body.scope \
                and not (info.is_initializer or info.constant_source is not None):
            return info.name, False
    return None


def _sequence_direction(
    graph: ModelGraph, body: _LoopBody, sequence: tuple[str, bool] | None
) -> str:
    if sequence is None:
        return "unknown"
    direction = _direction(graph, sequence[0], body.node.graph)
    if sequence[1]:  # a Scan reading its input from the last step
        direction = "forward" if direction == "reverse" else "reverse"
    return direction


def _direction(graph: ModelGraph, sequence: str, scope: str) -> str:
    """reverse when the sequence reaches the loop through a ReverseSequence (go_backwards)."""
    reversals = 0
    name = sequence
    for _ in range(16):
        producer = graph.producer(name, scope)
        if producer is None or producer.op_type not in _SEQUENCE_VIEW_OPS:
            break
        reversals += producer.op_type == "ReverseSequence"
        name = _first(producer)
    return "reverse" if reversals % 2 else "forward"


def _loop_returns_sequence(graph: ModelGraph, loop: NodeInfo, carried: int) -> bool | None:
    """True when a scan output (one row per step) is used as a whole; False when only its last
    step is taken (Slice/Gather of one step) or there is none; None when it cannot be told."""
    scans = [name for name in loop.outputs[carried:] if name]
    if not scans:
        return False
    outputs = set(graph.graph_outputs.get(loop.graph, ()))
    whole = False
    for name in scans:
        if name in outputs:
            whole = True
        for consumer in graph.consumers_of(name, loop.graph):
            one = _one_step(graph, consumer)
            if one is None:
                return None
            whole = whole or not one
    return whole


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


# --- unrolled chains ----------------------------------------------------------------------------
def match_unrolled(graph: ModelGraph, scope: str = "main") -> list[CellFacts | NoMatch]:
    """Every chain of stored-weight products in ``scope`` where each step's state product
    reads the previous step: an unrolled LSTM / GRU / SimpleRNN."""
    if not _products_may_share_weights(graph, scope):
        return []  # a chain is made of products that share their weights
    products = _weight_products(graph, scope)
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
    chains = [chain for members in groups.values() if len(members) >= 2
              if (chain := _chain_of(sorted(members, key=_order), walk)) is not None]
    found: list[CellFacts | NoMatch] = []
    for merged in _merge_interleaved(chains, walk):
        result = _match_chain(graph, scope, merged, products, walk, all_ids)
        if result is not None:
            found.append(result)
    return found


def _products_may_share_weights(graph: ModelGraph, scope: str) -> bool:
    """Whether two MatMul/Gemm of ``scope`` may read the same stored weights: a cheap first
    look (a product whose weight is an initializer of the scope itself is keyed by its name
    from the index; only the others are traced) that never says no where
    :func:`_weight_products` would group two products. A big plain graph, one weight per
    MatMul, is passed over without tracing its tens of thousands of products."""
    stored, others = graph.stored_operands(_MATMULS, scope, 1)
    if any(count >= 2 for count in stored.values()):
        return True
    keys: dict[frozenset[tuple[str, str]], int] = {}
    for weight in others:
        sources = weight_sources(graph, weight, scope)
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


def _order(product: _WeightProduct) -> int:
    return product.node.index


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


def _is_chain(members: list[_WeightProduct], walk: Callable[[_WeightProduct], _Upstream]) -> bool:
    """Each product reads (through elementwise steps) the one before it."""
    return all(members[k - 1].node.id in walk(members[k]).nodes for k in range(1, len(members)))


def _merge_interleaved(
    chains: list[list[_WeightProduct]], walk: Callable[[_WeightProduct], _Upstream]
) -> list[list[_WeightProduct]]:
    """Chains that feed each other are one recurrence: a GRU with reset_after=False multiplies
    h by R[:, :2H] and r ⊙ h by R[:, 2H:], which tf2onnx may store as two initializers."""
    merged: list[list[_WeightProduct]] = []
    for chain in chains:
        ids = {p.node.id for p in chain}
        for group in merged:
            reached = set().union(*(walk(p).nodes for p in group))
            reaching = set().union(*(walk(p).nodes for p in chain))
            if ids & reached and {p.node.id for p in group} & reaching:
                group.extend(chain)
                break
        else:
            merged.append(list(chain))
    return [sorted(group, key=_order) for group in merged]


def _match_chain(
    graph: ModelGraph, scope: str, chain: list[_WeightProduct], products: list[_WeightProduct],
    walk: Callable[[_WeightProduct], _Upstream], all_ids: frozenset[str],
) -> CellFacts | NoMatch | None:
    """None when the chain's weights are not cell-shaped (no reason owed: not a candidate)."""
    ids = frozenset(p.node.id for p in chain)
    geometry = _geometry(_dedupe(s for p in chain for s in p.sources))
    if isinstance(geometry, str):
        return None
    rows, columns = geometry
    if rows <= 0 or columns % rows or columns // rows not in _CELL_BY_GATES:
        return None
    walks = [walk(p) for p in chain]
    step_nodes = frozenset().union(*(w.nodes for w in walks))
    first = chain[0].node.id
    # the input products: the other products a step reads, and every product of their weights
    kernel_keys = {s.key for p in products if p.node.id in step_nodes - ids for s in p.sources}
    kernel_products = _without_probe([p for p in products if p.node.id not in ids
                                      and {s.key for s in p.sources} & kernel_keys],
                                     step_nodes, graph)
    if not kernel_products:
        return NoMatch(first, "the chain has no MatMul of a per-step input with a stored weight")
    core = _match_core(first, (s for p in kernel_products for s in p.sources),
                       (s for p in chain for s in p.sources))
    if isinstance(core, NoMatch):
        return core
    failure = _check_activations(first, core.cell, _op_types(graph, step_nodes - all_ids))
    if failure is not None:
        return failure
    ordered = _in_step_order(kernel_products, chain, walks)
    direction, steps = _unrolled_direction(graph, ordered), _steps(graph, ordered)
    if direction == "unknown" and len(kernel_products) == 1:
        direction, steps = _hoisted_steps(graph, kernel_products[0], walks) \
            or (direction, steps)
    if direction == "unknown":
        # Without per-step slices of one sequence this is a weight shared across depth (an
        # ALBERT-style stack), not a recurrence over time.
        return NoMatch(first, "the input products do not read x_0, x_1, ... as slices (Split, "
                       "Gather or Slice) of one sequence, in order or in reverse")
    reset_before = _resets_before_product(graph, chain) if core.cell == "GRU" else False
    kernel_ids = {p.node.id for p in kernel_products}
    used = {s.key for s in (*core.kernel, *core.recurrent)}
    hoisted = _downstream_adds(graph, kernel_products) if len(kernel_products) == 1 \
        else frozenset()
    bias = _dedupe((*_chain_bias(graph, walks, hoisted, used),
                    *(s for p in (*chain, *kernel_products) for s in p.bias)))
    nodes = frozenset({*ids, *kernel_ids})
    return CellFacts(
        how="unrolled", cell=core.cell, node=min(nodes, key=lambda n: graph.node(n).index),
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        reset_after=(not reset_before) if core.cell == "GRU" else None,
        direction=direction, returns_sequence=_chain_returns_sequence(graph, chain),
        sequence=None, steps=steps, nodes=nodes,
    )


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
            if len(same := by_index[index_of[product.node.id]]) < 2
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


# Ops between a hoisted input projection and the slices the steps read (its bias Add, views).
_PROJECTION_OPS = frozenset({"Add", "Identity", "Cast", "Reshape", "Transpose", "Squeeze",
                             "Unsqueeze"}) | _QDQ
_SLICING_OPS = frozenset({"Slice", "Gather", "Split"})
# Ops between one step's slice of a sequence and what the step reads.
_STEP_VIEW_OPS = frozenset({"Squeeze", "Reshape", "Identity", "Cast", "Unsqueeze",
                            "Transpose"}) | _QDQ  # onnxruntime's transpose optimizer moves the
# time-major Transpose past the Split, onto each step's slice


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
        for consumer in graph.consumers_of(name, scope):
            if consumer.graph == scope and consumer.op_type in _SLICING_OPS \
                    and consumer.inputs and consumer.inputs[0] == name \
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


def _reads_flipped(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` is its sequence reversed in time: a flip (a Slice with step -1) among
    the views it is made through (an odd number of them)."""
    flipped = False
    for _ in range(16):
        producer = graph.producer(name, scope)
        if producer is None or producer.graph != scope:
            break
        if producer.op_type == "Slice" and _is_flip(graph, producer):
            flipped = not flipped
        elif producer.op_type not in _SEQUENCE_VIEW_OPS:
            break
        name = _first(producer)
    return flipped


def _projected(graph: ModelGraph, kernel: _WeightProduct) -> dict[str, bool]:
    """The product's output and what it becomes through its bias Add, views and a flip of
    the time axis (a Slice with step -1): tensor -> whether it is flipped."""
    scope = kernel.node.graph
    found: dict[str, bool] = {}
    frontier = [(name, False) for name in kernel.node.outputs[:1] if name]
    while frontier and len(found) < 16:
        name, flipped = frontier.pop()
        if name in found:
            continue
        found[name] = flipped
        for consumer in graph.consumers_of(name, scope):
            if consumer.graph != scope or not consumer.outputs or not consumer.outputs[0]:
                continue
            if consumer.op_type == "Slice" and _is_flip(graph, consumer):
                frontier.append((consumer.outputs[0], not flipped))
                continue
            if consumer.op_type not in _PROJECTION_OPS:
                continue
            if consumer.op_type == "Add" and not any(
                    other != name and (_is_stored(graph, other, scope)
                                       or weight_sources(graph, other, scope))
                    for other in consumer.inputs):  # a bias, stored or dequantized
                continue  # an Add of two computed values: the step's sum, not a bias
            frontier.append((consumer.outputs[0], flipped))
    return found


def _is_flip(graph: ModelGraph, node: NodeInfo) -> bool:
    """A Slice that reverses one axis whole: step -1 from the end (torch.flip)."""
    spec = slice_spec(graph, node) if node.op_type == "Slice" else None
    return spec is not None and len(spec.steps) == 1 and spec.steps[0] == -1 \
        and spec.starts[0] in (-1, 2**63 - 1, 2**31 - 1) and spec.ends[0] <= -(2**31 - 1)


def _slice_of(
    graph: ModelGraph, name: str, scope: str, projected: Mapping[str, bool]
) -> str | None:
    """The ``projected`` tensor of which ``name`` is one step's slice (through views)."""
    for _ in range(8):
        producer = graph.producer(name, scope)
        if producer is None or producer.graph != scope:
            return None
        if producer.op_type in _SLICING_OPS:
            source = _first(producer)
            return source if source in projected and not _is_flip(graph, producer) else None
        if producer.op_type not in _STEP_VIEW_OPS:
            return None
        name = _first(producer)
    return None


def _steps(graph: ModelGraph, ordered: list[_WeightProduct]) -> int:
    """How many distinct time steps the input products read."""
    return len({_time_index(graph, p.data, p.node.graph) for p in ordered})


def _downstream_adds(graph: ModelGraph, products: Iterable[_WeightProduct]) -> frozenset[str]:
    """The Adds right after the input products (where a bias joins x_t @ W), past an
    activation's quantize-dequantize pair (onnxruntime's QDQ format)."""
    found: set[str] = set()
    for product in products:
        for consumer in _past_qdq(graph, product.node.outputs[0], product.node.graph):
            if consumer.op_type == "Add":
                found.add(consumer.id)
                for second in _past_qdq(graph, consumer.outputs[0], consumer.graph):
                    if second.op_type == "Add":
                        found.add(second.id)
    return frozenset(found)


def _past_qdq(graph: ModelGraph, name: str, scope: str) -> list[NodeInfo]:
    """The consumers of ``name``, those of a QuantizeLinear -> DequantizeLinear pair on it
    taken as its own."""
    found: list[NodeInfo] = []
    for consumer in graph.consumers_of(name, scope):
        if consumer.op_type in _QDQ and consumer.outputs and consumer.outputs[0]:
            found.extend(_past_qdq(graph, consumer.outputs[0], scope))
        else:
            found.append(consumer)
    return found


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
    """forward when the steps read x_0, x_1, ... in order, reverse for x_{T-1}, x_{T-2}, ..."""
    positions: list[int] = []
    for product in products:
        position = _time_index(graph, product.data, product.node.graph)
        if position is None:
            return "unknown"
        positions.append(position)
    return _time_order(positions)


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
        if producer.op_type == "Gather":
            spec = gather_spec(graph, producer)
            return spec[1][0] if spec is not None and len(spec[1]) == 1 else None
        if producer.op_type == "Slice":
            sliced = slice_spec(graph, producer)
            return sliced.starts[0] if sliced is not None and len(sliced.starts) == 1 else None
        if producer.op_type not in _STEP_VIEW_OPS:
            return None
        name = _first(producer)
    return None


# --- single steps -------------------------------------------------------------------------------
# A model that computes one step per call reads the state from its inputs and returns the new
# one: a streaming voice-activity detector or keyword spotter, an autoregressive decoder
# exported step by step. torch writes nn.LSTMCell / nn.GRUCell / nn.RNNCell as Gemm + Split +
# gates with both exporters (never as an LSTM node); a Keras cell called once is the same.

# Ops between a state input and the product that reads it (state[0], state.view(...)).
_STATE_READ_OPS = frozenset({"Identity", "Cast", "Gather", "Slice", "Split", "Squeeze",
                             "Unsqueeze", "Reshape", "Flatten", "Transpose"}) | _QDQ
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
    for node_id in graph.reading_inputs(_MATMULS, scope, _STATE_READ_OPS):
        if node_id in used:
            continue
        state = _weight_product(graph, graph.node(node_id))
        if state is None or _shared(graph, state):
            continue
        gates = _gates_of(state)
        reset = _reset_product(graph, state) if gates is None else None
        if gates is None and reset is None:
            continue
        width = sum(_columns(p) or 0 for p in (state, reset) if p is not None)
        for partner in _summed_with(graph, state, width):
            if partner.node.id in used or _shared(graph, partner):
                continue
            cell = _match_step(graph, state, partner, reset)
            if cell is not None:
                found.append(cell)
                used |= cell.nodes
                break
    return found


def _shared(graph: ModelGraph, product: _WeightProduct) -> bool:
    """Whether another product reads the weights of ``product``: the steps of a chain (which
    :func:`match_unrolled` matched or refused), not one step."""
    for source in product.sources:
        frontier, seen, products = [source.tensor], {source.tensor}, 0
        while frontier:
            name = frontier.pop()
            for consumer in graph.consumers_of(name, source.graph):
                if consumer.op_type in _MATMULS:
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
    """(H, gates) when the product's weight is square per gate, ``[H, g·H]`` with g 1, 3 or 4."""
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
            if consumer.op_type not in _SUM_OPS:
                continue
            own.add(consumer.id)
            if consumer.op_type == "Add":
                adds.append(consumer)
            frontier.extend((out, hops + 1) for out in consumer.outputs)
    partners: dict[str, _WeightProduct] = {}
    own_sum = _fused_sum(product.node)
    above = _product_above(graph, own_sum, scope, own) if own_sum else None
    for node in (*fused, *([above] if above is not None else [])):
        other = _weight_product(graph, node)
        if other is not None and _columns(other) == width:
            partners[node.id] = other
    for add in adds:
        for operand in add.inputs:
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
    if node.op_type == "Gemm" and node.domain in ("", "ai.onnx") and len(node.inputs) > 2:
        return node.inputs[2]
    return ""


def _step_nodes(
    graph: ModelGraph, names: Iterable[str], scope: str, ids: frozenset[str]
) -> frozenset[str]:
    """The nodes one step computes ``names`` with, back to its products (``ids``), a product
    that another adds as its Gemm C included."""
    nodes = frozenset().union(*(_upstream(graph, [name], scope, stop=ids).nodes
                                for name in names))
    for node_id in ids & nodes:
        fused = _fused_sum(graph.node(node_id))
        producer = graph.producer(fused, scope) if fused else None
        if producer is not None and producer.id in ids:
            nodes |= {producer.id}
    return nodes


def _product_above(
    graph: ModelGraph, name: str, scope: str, own: set[str]
) -> NodeInfo | None:
    """The MatMul or Gemm that ``name`` is computed from through a bias Add, a Split or a
    view, outside the nodes in ``own``."""
    for _ in range(_SUM_HOPS):
        producer = graph.producer(name, scope) if name else None
        if producer is None or producer.graph != scope or producer.id in own:
            return None
        if producer.op_type in _MATMULS:
            return producer
        if producer.op_type not in _SUM_OPS:
            return None
        operands = [operand for operand in producer.inputs[:1 if producer.op_type != "Add"
                                                           else None]
                    if operand and not _is_stored(graph, operand, scope)]
        if len(operands) != 1:
            return None  # a sum of two computed values: not a bias Add
        name = operands[0]
    return None


def _is_stored(graph: ModelGraph, name: str, scope: str) -> bool:
    info = graph.tensor(name, scope)
    return info is not None and (info.is_constant or info.is_initializer)


def _columns(product: _WeightProduct) -> int | None:
    geometry = _geometry(_dedupe(product.sources))
    return None if isinstance(geometry, str) else geometry[1]


def _reset_product(graph: ModelGraph, state: _WeightProduct) -> _WeightProduct | None:
    """A GRU step with reset_after=False (Keras ``GRUCell(reset_after=False)`` through
    tf2onnx) multiplies h by R[:, :2H] (z and r) and r ⊙ h by R[:, 2H:] (the candidate), each
    piece stored on its own: when ``state`` is the first, the second, ``[H, H]`` and reading a
    Mul of h."""
    geometry = _geometry(_dedupe(state.sources))
    if isinstance(geometry, str) or geometry[1] != 2 * geometry[0]:
        return None
    hidden, scope = geometry[0], state.node.graph
    muls = [node for data in _state_views(graph, state.data, scope)
            for node in graph.consumers_of(data, scope)]
    for mul in muls:
        if mul.graph != scope or mul.op_type != "Mul" or not mul.outputs or not mul.outputs[0]:
            continue
        for consumer in graph.consumers_of(mul.outputs[0], scope):
            if consumer.graph != scope or consumer.op_type not in _MATMULS \
                    or _first(consumer) != mul.outputs[0]:
                continue
            product = _weight_product(graph, consumer)
            if product is not None and _geometry(_dedupe(product.sources)) == (hidden, hidden) \
                    and not _shared(graph, product):
                return product
    return None


def _state_views(graph: ModelGraph, data: str, scope: str) -> list[str]:
    """``data`` and the other views in ``scope`` of the graph input it views: a float16
    conversion that keeps the model's inputs float32 casts h once for each node that reads it,
    so the product reads one Cast of h and the reset gate's Mul another."""
    views = [data]
    origin = graph.viewed_input(data, scope, _STATE_READ_OPS)
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


def _match_step(
    graph: ModelGraph, state: _WeightProduct, partner: _WeightProduct,
    reset: _WeightProduct | None = None,
) -> CellFacts | None:
    """The step of ``state`` (h @ R) and ``partner`` (x @ W); ``reset``: the second piece of a
    reset_after=False GRU's recurrent product ((r ⊙ h) @ R[:, 2H:])."""
    scope = state.node.graph
    ids = frozenset({state.node.id, partner.node.id, *([reset.node.id] if reset else [])})
    first = min(ids, key=_model_position)
    gates = _gates_of(state)
    geometry = _geometry(_dedupe(state.sources))
    if isinstance(geometry, str) or (gates is None and reset is None):
        return None
    hidden = geometry[0]
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
    recurrent = (*state.sources, *(reset.sources if reset is not None else ()))
    core = _match_core(first, partner.sources, recurrent)
    if isinstance(core, NoMatch) or core.hidden_size != hidden \
            or (reset is not None and core.cell != "GRU"):
        return None
    if _check_activations(first, core.cell, _op_types(graph, inner)) is not None:
        return None
    if core.cell == "LSTM" and not _reads_cell_state(graph, inner, state):
        return None  # an LSTM step reads c as well as h
    used = {s.key for s in (*core.kernel, *core.recurrent)}
    bias = _dedupe((*_bias_sources(graph, step_nodes | _downstream_adds(graph, [partner]),
                                   used),
                    *state.bias, *partner.bias))
    return CellFacts(
        how="step", cell=core.cell, node=first,
        input_size=core.input_size, hidden_size=core.hidden_size,
        kernel=core.kernel, recurrent_kernel=core.recurrent, bias=bias,
        # a GRU's R reads h itself (reset_after=True), or r ⊙ h in its second piece
        reset_after=(reset is None) if core.cell == "GRU" else None,
        direction="forward", returns_sequence=False, sequence=None, steps=1, nodes=ids,
    )


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
    source = graph.viewed_input(product.data, scope, _STATE_READ_OPS)
    if source is None:
        return False
    for node_id in nodes:
        node = graph.node(node_id)
        if node.op_type in _STATE_READ_OPS or node.op_type in _MATMULS:
            continue
        if any(operand and graph.viewed_input(operand, scope, _STATE_READ_OPS) == source
               for operand in node.inputs):
            return True
    return False


def _reads_cell_state(graph: ModelGraph, nodes: Iterable[str], state: _WeightProduct) -> bool:
    """Whether a Mul of the step reads a graph input (c) other than the state product's h."""
    scope = state.node.graph
    for node_id in nodes:
        node = graph.node(node_id)
        if node.op_type != "Mul":
            continue
        if any(operand and operand != state.data
               and graph.viewed_input(operand, scope, _STATE_READ_OPS) is not None
               for operand in node.inputs):
            return True
    return False


# --- everything ---------------------------------------------------------------------------------
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
    return [_with_replicas(cell, products) for cell in cells], misses


def _with_replicas(cell: CellFacts, products: list[_WeightProduct]) -> CellFacts:
    """Claim other products of the cell's own weights: tf2onnx keeps, next to a masked Loop,
    one step computed outside it (Keras computes it for the output's shape)."""
    keys = {s.key for s in (*cell.kernel, *cell.recurrent_kernel)}
    extra = {p.node.id for p in products if {s.key for s in p.sources} <= keys}
    if extra <= cell.nodes:
        return cell
    return dataclasses.replace(cell, nodes=cell.nodes | extra)


def _scopes_with_products(graph: ModelGraph) -> Iterator[str]:
    yield from graph.scopes_with(_MATMULS)


# --- views --------------------------------------------------------------------------------------
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
