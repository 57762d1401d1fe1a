"""What every cell matcher shares (archlint/cells/): the facts a match recovers
(:class:`WeightSource`, :class:`NoMatch`, :class:`CellFacts`), tracing a weight back to where it is
stored, upstream walks over data inputs, the products of a stored weight, and the algebra of
one step (kernel and recurrent-kernel geometry, gates, biases). The view sets say which ops a
walk passes through as views of the same value."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import (
    PAST_END,
    DimOf,
    attr_int,
    attr_ints,
    attr_str,
    const_ints,
    einsum_weight_transposed,
    gemm_c,
    integer_matmuls_rescaled_by,
    shape_vector,
    slice_spec,
)
from archlint.shapes import Shape, known_product
from archlint.stored_copies import equal_copies, stored_tensors

__all__ = ["CellFacts", "NoMatch", "WeightSource", "cut_source", "is_bias_copy", "step_axis",
           "step_window", "unbound_from", "weight_sources"]

_FLOAT_TYPES = frozenset({1, 10, 11, 16})
_CELL_BY_GATES = {1: "RNN", 2: "MGU", 3: "GRU", 4: "LSTM"}
_GATE_ACTIVATIONS = frozenset({"Sigmoid", "HardSigmoid", "Clip"})
# Keras's hard_sigmoid as tf2onnx writes it: Mul, Add, then Max/Min clamping to [0, 1]
_CLAMP = frozenset({"Min", "Max"})
# TFLite lowers Keras 2's hard_sigmoid (clip_by_value) to MINIMUM then RELU: tf2onnx's
# ``--tflite`` route writes each gate as Relu(Min(0.2·x + 0.5, 1))
_TFLITE_CLAMP = frozenset({"Min", "Relu"})
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
# What a value passes through unchanged in one graph: a copy, a type conversion.
_VIEWS = frozenset({"Identity", "Cast"})
# An activation quantized and dequantized in place (onnxruntime's QDQ format): a lossy view.
_QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})
# Ops a sequence passes through on its way into the Loop (what direction is read from).
_SEQUENCE_VIEW_OPS = frozenset({"Identity", "Cast", "Transpose", "Squeeze", "Unsqueeze",
                                "Reshape", "ReverseSequence"}) | _QDQ
_MATMULS = frozenset({"MatMul", "Gemm"})
# onnxruntime's dynamic quantization of a MatMul with a stored weight:
# Mul(Cast(MatMulInteger(DynamicQuantizeLinear(x), W_int8, ...)), x_scale * W_scale)
# and onnxruntime's weight-only quantization (MatMulNBitsQuantizer): com.microsoft MatMulNBits,
# A @ B^T with B [N, K] stored packed, 2-8 bits a value
# and the QOperator format of its static quantization: QLinearMatMul, com.microsoft QGemm
_QLINEAR_PRODUCTS = frozenset({"QLinearMatMul", "QGemm"})
# onnxruntime's saved extended level fuses a Gemm and the activation after it (com.microsoft)
_FUSED_GEMM = "FusedGemm"
# (an Einsum is a product where it is x @ W: patterns.einsum_weight_transposed)
_PRODUCTS = _MATMULS | {"MatMulInteger", "MatMulNBits", _FUSED_GEMM, "Einsum"} \
    | _QLINEAR_PRODUCTS
# The QOperator ops that compute a float op on quantized tensors, as the activation and bias
# checks read them (com.microsoft QLinearAdd adds its inputs 0 and 3)
_QLINEAR_AS = MappingProxyType({"QLinearSigmoid": "Sigmoid", "QLinearMul": "Mul",
                                "QLinearAdd": "Add", "QLinearLeakyRelu": "LeakyRelu"})
_QLINEAR_OPERANDS = (0, 3)
# The products that are their own node: every one but MatMulInteger, whose product is the Mul
# that rescales it (_integer_product)
_PRODUCT_NODES = _PRODUCTS - {"MatMulInteger"}


def _operands(node: NodeInfo) -> tuple[str, ...]:
    """The tensors an Add or Mul combines: a QOperator QLinearAdd's or QLinearMul's inputs 0
    and 3 (the others are scales and zero points), any other node's inputs."""
    if node.op_type in ("QLinearAdd", "QLinearMul") and node.domain == "com.microsoft":
        return tuple(node.inputs[k] for k in _QLINEAR_OPERANDS if k < len(node.inputs))
    return node.inputs


def _as_float_op(node: NodeInfo) -> str:
    """The op type ``node`` computes: a QOperator op's float op (QLinearAdd: Add)."""
    return _QLINEAR_AS.get(node.op_type, node.op_type) if node.domain == "com.microsoft" \
        else node.op_type


# What a DequantizeLinear reads a stored weight as, and the ops that quantize a float one in
# the graph (their output 0, which DequantizeLinear reads).
_QUANTIZED_TYPES = frozenset({2, 3, 4, 5, 6, 21, 22})  # uint8, int8, uint16, int16, int32, 4-bit
_QUANTIZERS = frozenset({"QuantizeLinear", "DynamicQuantizeLinear"})
# a weight Concat-ed from more pieces than this is none an exporter writes (tf2onnx joins a
# layer's gates, 4 or 8 pieces): not followed, which also bounds ``Concat(w, w)`` repeated
_MAX_WEIGHT_PIECES = 1024
_SEARCH_LIMIT = 400  # nodes visited by one upstream walk: bounded on huge graphs
_VIEW_DEPTH = 4  # views (Cast, Identity) followed from a product's result to the Add after it


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
    # stored copies of a bias in ``bias``, one per use (onnxruntime's QDQ quantizes a Gemm's C
    # in int32 with each step's input scale): stored, so counted in ONNX only
    bias_copies: tuple[WeightSource, ...] = ()
    # stored copies of a weight in ``kernel`` or ``recurrent_kernel``, one per step (a per-step
    # Transpose of it folded into its own initializer): stored, so counted in ONNX only
    weight_copies: tuple[WeightSource, ...] = ()
    # the axis of ``sequence`` each step takes x_t from (a Gather's, a Scan's scan axis); None
    # when not known or when there is no sequence
    sequence_axis: int | None = None
    # unrolled chains: the tensor each step's x_t is cut from and the axis it is cut on,
    # ``sequence`` or, for an input projection computed over the whole sequence first, that
    # projection; None when the steps do not share one
    stepped: tuple[str, int] | None = None
    # unrolled chains: each step's input is computed from the state of the step before (an
    # autoregressive decoder feeding back its prediction or an attention context), not cut
    # from a sequence
    fed_back: bool = False
    # ``weight_copies`` and ``bias_copies`` are gate slices of the weights, stored apart for
    # the step Keras 2 computes outside a masked Loop (not one copy per step)
    sliced_copies: bool = False
    # an LSTM with projection (nn.LSTM(proj_size=P), written out as icefall's LSTMP): each
    # step's h is ``(o ⊙ tanh c) @ W_hr``, ``[H, P]``; the recurrent kernel is then
    # ``[P, 4·H]`` and the state h is P wide while c stays H wide
    projection: tuple[WeightSource, ...] = ()
    projection_size: int | None = None

    @property
    def gates(self) -> int:
        return {"RNN": 1, "MGU": 2, "GRU": 3, "LSTM": 4}[self.cell]

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
    def output_size(self) -> int:
        """The width of h, what each step returns: P with a projection, else H."""
        return self.hidden_size if self.projection_size is None else self.projection_size

    @property
    def sources(self) -> tuple[WeightSource, ...]:
        return (*self.kernel, *self.recurrent_kernel, *self.projection, *self.bias,
                *self.peephole, *self.bias_copies, *self.weight_copies)


def _sum_elements(sources: Iterable[WeightSource]) -> int | None:
    total = 0
    for source in sources:
        if source.elements is None:
            return None
        total += source.elements
    return total


def _first(node: NodeInfo) -> str:
    """Input 0, or "" for a malformed node without inputs (never an IndexError)."""
    return node.inputs[0] if node.inputs else ""


def weight_sources(
    graph: ModelGraph, name: str, scope: str, *, _quantized: bool = False,
) -> tuple[WeightSource, ...] | None:
    """The float constants an operand is a view of (through Slice, Split, Gather, loop-carried
    pass-throughs...), or None when the operand is not made of stored weights only. A source
    read through a 2-D Transpose (torch's F.linear as MatMul(x, W^T)) is marked transposed.

    A quantized weight counts as its stored integers: DequantizeLinear of an int8 initializer
    (a TFLite dynamic-range model through tf2onnx; a QDQ model), or of a float one quantized
    in the graph (tf2onnx passes such a model's float bias through DynamicQuantizeLinear).
    """
    return _SourceWalk(graph).sources(name, scope, 0, False, _quantized)


class _SourceWalk:
    """One :func:`weight_sources` walk: each (tensor, step) once, so ``Concat(w, w)`` at every
    step costs a step per node, not 2**depth; more than _MAX_WEIGHT_PIECES pieces are no
    weight any exporter writes."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.memo: dict[tuple[str, str, int, bool, bool], tuple[WeightSource, ...] | None] = {}

    def sources(
        self, name: str, scope: str, depth: int, transposed: bool, quantized: bool
    ) -> tuple[WeightSource, ...] | None:
        key = (scope, name, depth, transposed, quantized)
        if key not in self.memo:
            self.memo[key] = None  # a cycle in a corrupt graph proves nothing
            self.memo[key] = self._walk(name, scope, depth, transposed, quantized)
        return self.memo[key]

    def _walk(
        self, name: str, scope: str, depth: int, transposed: bool, quantized: bool
    ) -> tuple[WeightSource, ...] | None:
        graph = self.graph
        info = graph.tensor(name, scope) if name else None
        if info is None or depth > 32:
            return None
        info = graph.loop_invariant(info)
        if info.is_initializer or info.constant_source is not None:
            if info.dtype is not None and info.dtype not in _FLOAT_TYPES and not (
                    quantized and info.dtype in _QUANTIZED_TYPES):
                return None
            return (WeightSource(info.name, info.graph, info.shape, transposed, info.dtype,
                                 not info.is_initializer),)
        if info.producer is None:
            return None
        node = graph.node(info.producer)
        if node.domain not in ("", "ai.onnx"):
            return None
        step = depth + 1
        if node.op_type == "Transpose":
            perm = attr_ints(node, "perm")
            if perm not in (None, (1, 0)):
                return None
            return self.sources(_first(node), node.graph, step, not transposed, False)
        if node.op_type in _WEIGHT_VIEW_OPS:
            return self.sources(_first(node), node.graph, step, transposed, quantized)
        if node.op_type == "DequantizeLinear" and not quantized:
            return self.sources(_first(node), node.graph, step, transposed, True)
        if node.op_type in _QUANTIZERS and quantized and info.name == node.outputs[0]:
            return self.sources(_first(node), node.graph, step, transposed, False)
        if node.op_type == "Concat":
            found: list[WeightSource] = []
            for part in node.inputs:
                sources = self.sources(part, node.graph, step, transposed, False)
                if sources is None or len(found) + len(sources) > _MAX_WEIGHT_PIECES:
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
    crossed (the previous step of an unrolled chain), but for a Gemm's C: what it adds to its
    product is part of the same sum (torch's classic export writes ``mm(x, W) + b + mm(h, R)``
    as ``Gemm(h, R, C=Gemm(x, W, b))``)."""
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
        node = graph.node(info.producer)
        if info.producer in stop:
            if node.op_type == "Gemm" and gemm_c(node):
                stack.append(gemm_c(node))  # C: added to the product, so the same step's
            continue
        positions = _DATA_INPUTS.get(node.op_type, range(len(node.inputs)))
        stack.extend(node.inputs[k] for k in positions if k < len(node.inputs))
    return _Upstream(frozenset(nodes), frozenset(leaves), True)


def _op_types(graph: ModelGraph, nodes: Iterable[str]) -> set[str]:
    """The nodes' op types, a QOperator op as the float op it computes."""
    return {_as_float_op(graph.node(n)) for n in nodes}


def _fused_activations(products: Iterable[_WeightProduct]) -> set[str]:
    """The activations the products apply themselves: a FusedGemm's ``activation`` (the Tanh
    of a SimpleRNN step, fused into its Gemm), which no node of the step holds any more."""
    found = set()
    for product in products:
        node = product.node
        if node.op_type == _FUSED_GEMM and node.domain == "com.microsoft":
            activation = attr_str(node, "activation")
            if activation:
                found.add(activation)
    return found


@dataclass(frozen=True)
class _WeightProduct:
    """A MatMul or Gemm with a stored weight on one side: data @ weight."""

    node: NodeInfo
    data: str
    weight: str
    sources: tuple[WeightSource, ...]
    bias: tuple[WeightSource, ...]  # a Gemm's C
    # the other nodes of a dynamically quantized product (``node`` is its dequantizing Mul):
    # the MatMulInteger, the Cast, the DynamicQuantizeLinear of x and the scales' Mul
    members: frozenset[str] = frozenset()
    # the stored tensors ``sources`` stand for: copies holding the very values of an earlier
    # product's weight (:func:`_by_value`), counted in ONNX only
    copies: tuple[WeightSource, ...] = ()


def _weight_products(graph: ModelGraph, scope: str) -> list[_WeightProduct]:
    found = []
    for node in graph.iter_nodes(_PRODUCTS):
        # onnxoptimizer's fuse_matmul_add_bias_into_gemm (without eliminate_deadend) leaves
        # each step's x_t @ W beside the Gemm that replaced it: no step of the cell
        if node.graph != scope or graph.read_by_nothing(node):
            continue
        product = _weight_product(graph, node)
        if product is not None:
            found.append(product)
    return found


# The most products of one weight shape whose weights are compared by value: the steps of
# a chain, not a plain graph's thousands of equal-shaped weights
MAX_COMPARED_STEPS = 1024


def _by_value(graph: ModelGraph, products: list[_WeightProduct]) -> list[_WeightProduct]:
    """``products`` with each weight that holds the very values of an earlier product's read
    as that weight, the copy kept in ``copies``: paddle2onnx and polygraphy fold a cell's
    per-step Transpose or Identity of one weight into one initializer per step
    (archlint/stored_copies.py)."""
    first: dict[tuple[str, str], WeightSource] = {}
    for product in products:
        for source in product.sources:
            first.setdefault(source.key, source)
    alias = equal_copies(stored_tensors(graph, first), max_group=MAX_COMPARED_STEPS)
    if not alias:
        return products
    found = []
    for product in products:
        if any(source.key in alias for source in product.sources):
            shared = [(first[alias[s.key]], s) if s.key in alias else (s, None)
                      for s in product.sources]
            if all(copy is None or original.transposed == copy.transposed
                   for original, copy in shared):
                product = dataclasses.replace(
                    product, sources=tuple(original for original, _ in shared),
                    copies=tuple(copy for _, copy in shared if copy is not None))
        found.append(product)
    return found


def _weight_product(graph: ModelGraph, node: NodeInfo) -> _WeightProduct | None:
    """The MatMul or Gemm ``node`` as data @ stored weight, or None when it is not one; a
    MatMulInteger as the dynamically quantized product it computes."""
    if node.op_type == "MatMulInteger":
        return _integer_product(graph, node)
    if node.op_type == "MatMulNBits":
        return _nbits_product(graph, node)
    if node.op_type in _QLINEAR_PRODUCTS:
        return _qlinear_product(graph, node)
    if node.op_type == _FUSED_GEMM and node.domain == "com.microsoft" and len(node.inputs) >= 2:
        return _stored_product(graph, node, _FUSED_GEMM, 1, 2, quantized=False)
    if node.op_type == "Einsum" and node.domain in ("", "ai.onnx"):
        transposed = einsum_weight_transposed(node)
        return None if transposed is None else _stored_product(
            graph, node, "Gemm", 1, 2, quantized=False, transposed=transposed)
    if node.op_type not in _MATMULS or len(node.inputs) < 2 \
            or node.domain not in ("", "ai.onnx"):
        return None
    return _stored_product(graph, node, "Gemm", 1, 2, quantized=False)


def _stored_product(
    graph: ModelGraph, node: NodeInfo, gemm: str, weight_at: int, bias_at: int, *,
    quantized: bool, transposed: bool = False,
) -> _WeightProduct | None:
    """``node`` as input 0 @ the stored weight at input ``weight_at``: a MatMul's, or a Gemm's
    (op ``gemm``: Gemm, QGemm) with its transA / transB and its bias at ``bias_at``. The float
    ops and their QOperator forms differ only in where those inputs are. ``transposed``: the
    weight is stored ``[out, in]`` (an Einsum ``abc,dc->abd``)."""
    if node.op_type == gemm:
        if attr_int(node, "transA"):
            return None
        transposed = bool(attr_int(node, "transB"))
    sources = weight_sources(graph, node.inputs[weight_at], node.graph, _quantized=quantized)
    if not sources:
        return None
    if transposed:
        sources = tuple(dataclasses.replace(s, transposed=not s.transposed) for s in sources)
    bias: tuple[WeightSource, ...] = ()
    if node.op_type == gemm and len(node.inputs) > bias_at and node.inputs[bias_at] \
            and (gemm != "Gemm" or gemm_c(node)) \
            and not _folded_zero_rows(graph, node.inputs[bias_at], node.graph):
        bias = weight_sources(graph, node.inputs[bias_at], node.graph,
                              _quantized=quantized) or ()
    return _WeightProduct(node, node.inputs[0], node.inputs[weight_at], sources, bias)


def _folded_zero_rows(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether a Gemm's C is all zeros, one row per batch row: no bias, but a product a
    simplifier folded (onnx-simplifier with the input shapes fixed folds the first step's
    ``h_0 @ R`` of a zero initial state into ``[batch, g·H]`` zeros)."""
    info = graph.tensor(name, scope)
    value = None if info is None or info.shape is None or len(info.shape) != 2 \
        or info.shape[0] in (None, 1) else info.value
    return value is not None and value.size > 0 and not value.any()


_INT8_TYPES = frozenset({2, 3})  # uint8, int8


def _integer_product(graph: ModelGraph, node: NodeInfo) -> _WeightProduct | None:
    """``x @ W`` as onnxruntime's ``quantize_dynamic`` writes it, the product being the Mul
    that dequantizes it: MatMulInteger(DynamicQuantizeLinear(x)[0], W_int8, x_zero_point,
    W_zero_point) -> Cast -> Mul by (x_scale * W_scale). Below opset 11, which has no
    DynamicQuantizeLinear, the quantizer computes x's scale and zero point itself (ReduceMin,
    ReduceMax, Div, Floor...) and quantizes x with QuantizeLinear. None for any other
    MatMulInteger."""
    scope = node.graph
    if len(node.inputs) < 2 or not node.outputs or node.domain not in ("", "ai.onnx"):
        return None
    quantize = graph.producer(node.inputs[0], scope)
    lookup = quantize is not None and _quantized_rows(graph, quantize)
    if quantize is None or (not lookup and (
            quantize.op_type not in ("DynamicQuantizeLinear", "QuantizeLinear")
            or not quantize.outputs or quantize.outputs[0] != node.inputs[0]
            or not quantize.inputs)):
        return None
    casts = graph.consumers_of(node.outputs[0], scope)
    if len(casts) != 1 or casts[0].op_type != "Cast" or not casts[0].outputs:
        return None
    muls = graph.consumers_of(casts[0].outputs[0], scope)
    if len(muls) != 1 or muls[0].op_type != "Mul" or not muls[0].outputs:
        return None
    sources = weight_sources(graph, node.inputs[1], scope, _quantized=True)
    if not sources:
        return None
    scale = next((graph.producer(n, scope) for n in muls[0].inputs
                  if n != casts[0].outputs[0]), None)
    members = {node.id, casts[0].id, *([] if lookup else [quantize.id]),
               *([scale.id] if scale is not None and scale.op_type == "Mul" else [])}
    return _WeightProduct(muls[0], node.inputs[0] if lookup else _first(quantize),
                          node.inputs[1], sources, (), frozenset(members))


def _quantized_rows(graph: ModelGraph, node: NodeInfo) -> bool:
    """Whether ``node`` looks rows up in a stored integer table: quantize_dynamic keeps an
    Embedding's table in 8 bits and feeds the rows of a greedy decoder's token straight into
    the step's MatMulInteger, already quantized (the table's scale in the product's)."""
    if node.op_type != "Gather" or len(node.inputs) < 2 or not node.inputs[0]:
        return False
    table = graph.tensor(node.inputs[0], node.graph)
    return table is not None and table.is_initializer and table.dtype in _INT8_TYPES


def _nbits_product(graph: ModelGraph, node: NodeInfo) -> _WeightProduct | None:
    """``A @ B^T`` as onnxruntime's weight-only quantizer writes it (com.microsoft
    MatMulNBits): B is stored packed, ``[N, ceil(K / block_size), blob]`` bytes, with a float
    scale per block; attributes K and N give its logical shape ``[N, K]``, which is the weight
    read here (stored ``[out, in]``, as a Gemm with transB=1). Input 5 is an optional bias."""
    if node.domain != "com.microsoft" or len(node.inputs) < 3 or not node.inputs[1]:
        return None
    k, n = attr_int(node, "K"), attr_int(node, "N")
    info = graph.tensor(node.inputs[1], node.graph)
    if not k or not n or k < 1 or n < 1 or info is None:
        return None
    info = graph.loop_invariant(info)
    if not info.is_initializer and info.constant_source is None:
        return None
    weight = WeightSource(info.name, info.graph, (n, k), True, info.dtype,
                          not info.is_initializer)
    bias: tuple[WeightSource, ...] = ()
    if len(node.inputs) > 5 and node.inputs[5]:
        bias = weight_sources(graph, node.inputs[5], node.graph) or ()
    return _WeightProduct(node, node.inputs[0], node.inputs[1], (weight,), bias)


def _qlinear_product(graph: ModelGraph, node: NodeInfo) -> _WeightProduct | None:
    """``x @ W`` in the QOperator format of onnxruntime's static quantization:
    ``QLinearMatMul(x_q, x_scale, x_zp, W_q, W_scale, W_zp, y_scale, y_zp)`` or com.microsoft
    ``QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp)`` (transB as a Gemm's), W
    stored as its integers and C as int32."""
    domains = ("com.microsoft",) if node.op_type == "QGemm" else ("", "ai.onnx")
    if node.domain not in domains or len(node.inputs) < 4 or not node.inputs[3]:
        return None
    return _stored_product(graph, node, "QGemm", 3, 6, quantized=True)


def _integer_matmul(graph: ModelGraph, mul: NodeInfo) -> NodeInfo | None:
    """The MatMulInteger whose product ``mul`` dequantizes, or None."""
    for matmul in integer_matmuls_rescaled_by(graph, mul):
        product = _integer_product(graph, matmul)
        if product is not None and product.node.id == mul.id:
            return matmul
    return None


def _own_biases(
    products: Iterable[_WeightProduct], graph: ModelGraph,
) -> tuple[tuple[WeightSource, ...], tuple[WeightSource, ...]]:
    """The biases products add themselves (a Gemm's C), and the copies among them: products of
    one weight (the steps of a chain) whose C is a different int32 tensor of one shape each are
    adding one bias, quantized by onnxruntime's QDQ format with each step's own input scale
    (``bias_ih``, ``bias_ih0``, ... ``_quantized``); the first is the bias, the others copies.
    So is a C that holds the very values of the first product's (tflite2onnx gives each step's
    Gemm its own copy of the bias, and a zero one where the step has none)."""
    products = list(products)
    kept: list[WeightSource] = []
    copies: list[WeightSource] = []
    first_of: dict[tuple[tuple[str, str], ...], WeightSource] = {}
    same = _equal_own_biases(graph, products)
    for product in products:
        role = tuple(source.key for source in product.sources)
        if len(product.bias) != 1:
            kept.extend(product.bias)
            continue
        [bias] = product.bias
        first = first_of.setdefault(role, bias)
        if is_bias_copy(first, bias) or (
                bias.key != first.key and same.get(bias.key) == same.get(first.key, first.key)):
            copies.append(bias)
        else:
            kept.append(bias)
    return _dedupe(kept), _dedupe(copies)


def _equal_own_biases(graph: ModelGraph,
                      products: list[_WeightProduct]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each product's single C -> the first C of a product of the same weight holding the
    same values (equal however few or plain they are: one weight's products, one per step)."""
    by_role: dict[tuple[tuple[str, str], ...], list[tuple[str, str]]] = {}
    for product in products:
        if len(product.bias) == 1:
            by_role.setdefault(tuple(s.key for s in product.sources), []).append(
                product.bias[0].key)
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for keys in by_role.values():
        keys = list(dict.fromkeys(keys))
        if len(keys) > 1:
            found.update(equal_copies(stored_tensors(graph, keys), any_values=True))
    return found


class _Stored(Protocol):
    """What :func:`is_bias_copy` reads of a stored tensor (a WeightSource, a params Source)."""

    @property
    def key(self) -> tuple[str, str]: ...
    @property
    def dtype(self) -> int | None: ...
    @property
    def shape(self) -> Shape | None: ...


def is_bias_copy(first: _Stored, other: _Stored) -> bool:
    """Whether ``other``, the bias a later product of one weight adds, is a stored copy of
    ``first``, the first product's: another int32 tensor of its shape. onnxruntime's QDQ format
    quantizes a bias added at every step with that step's own input scale (``bias_ih``,
    ``bias_ih0``, ... ``_quantized``): one bias of the layer, stored once per step (a cell's
    chain here, a plain Linear's rows in archlint/params.py)."""
    return other.key != first.key and other.dtype == first.dtype == _INT32 \
        and other.shape == first.shape


_INT32 = 6  # TensorProto.INT32: a bias quantized for an int8 product's accumulator


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
    projection: tuple[WeightSource, ...] = ()
    projection_size: int | None = None


def _match_core(
    node_id: str, kernel: Iterable[WeightSource], recurrent: Iterable[WeightSource],
    projection: Iterable[WeightSource] = (),
) -> _Core | NoMatch:
    """``projection``: the weights each step's h is multiplied by before the next step reads
    it (an LSTM with projection); the recurrent kernel is then ``[P, 4·H]``."""
    kernel_sources, recurrent_sources = _dedupe(kernel), _dedupe(recurrent)
    shared = {s.key for s in kernel_sources} & {s.key for s in recurrent_sources}
    if shared:
        return NoMatch(node_id, f"the same weights {sorted(n for _, n in shared)} multiply the "
                       "step input and the state: not a kernel and a recurrent kernel")
    geometry = _geometry(recurrent_sources)
    if isinstance(geometry, str):
        return NoMatch(node_id, f"recurrent weight: {geometry}")
    projected = _dedupe(projection)
    if projected:
        return _match_projected(node_id, kernel_sources, recurrent_sources, projected)
    hidden, columns = geometry
    if hidden <= 0 or columns % hidden or columns // hidden not in _CELL_BY_GATES:
        return NoMatch(node_id, f"the state product is [{hidden}, {columns}]: {columns} "
                       f"columns is not 1, 2, 3 or 4 gates × H={hidden} (no square recurrence)")
    inputs = _kernel_inputs(node_id, kernel_sources, columns)
    if isinstance(inputs, NoMatch):
        return inputs
    return _Core(_CELL_BY_GATES[columns // hidden], inputs, hidden, kernel_sources,
                 recurrent_sources)


def _kernel_inputs(
    node_id: str, kernel: tuple[WeightSource, ...], columns: int
) -> int | NoMatch:
    """I, the input kernel's rows, where its columns are the recurrent kernel's (gates × H)."""
    geometry = _geometry(kernel)
    if isinstance(geometry, str):
        return NoMatch(node_id, f"input kernel: {geometry}")
    inputs, kernel_columns = geometry
    if kernel_columns != columns:
        return NoMatch(node_id, f"the input kernel has {kernel_columns} columns and the "
                       f"recurrent kernel {columns}: they must both be gates × H")
    return inputs


def _match_projected(
    node_id: str, kernel: tuple[WeightSource, ...], recurrent: tuple[WeightSource, ...],
    projection: tuple[WeightSource, ...],
) -> _Core | NoMatch:
    """An LSTM with projection: the recurrent kernel ``[P, 4·H]``, the projection ``[H, P]``
    and the input kernel ``[I, 4·H]`` (either orientation each)."""
    recurrent_shape, projection_shape = _geometry(recurrent), _geometry(projection)
    if isinstance(recurrent_shape, str):
        return NoMatch(node_id, f"recurrent weight: {recurrent_shape}")
    if isinstance(projection_shape, str):
        return NoMatch(node_id, f"projection weight: {projection_shape}")
    width, columns = recurrent_shape
    hidden, projected = projection_shape
    if hidden <= 0 or projected != width or columns != 4 * hidden:
        return NoMatch(node_id, f"the state product is [{width}, {columns}] and the product "
                       f"before it [{hidden}, {projected}]: an LSTM with projection multiplies "
                       "h [P] by [P, 4·H] and o ⊙ tanh(c) [H] by [H, P]")
    inputs = _kernel_inputs(node_id, kernel, columns)
    if isinstance(inputs, NoMatch):
        return inputs
    return _Core("LSTM", inputs, hidden, kernel, recurrent, projection, projected)


def _check_activations(node_id: str, cell: str, ops: set[str]) -> NoMatch | None:
    if cell == "RNN" and not ops & _ACTIVATIONS:
        return NoMatch(node_id, "no activation between the state product and the new state")
    if cell in ("MGU", "GRU", "LSTM") and not ops & _GATE_ACTIVATIONS and not ops >= _CLAMP \
            and not ops >= _TFLITE_CLAMP:
        return NoMatch(node_id, f"{cell}-sized weights but no Sigmoid gate on the new state")
    return None


# Ops between a gate's activation and the Mul that applies it: a Split of the gates; the Cast
# pair a float16 conversion puts around an op it keeps in float32 (onnxconverter-common keeps
# Min and Max, which Keras's hard_sigmoid clamps with).
_GATE_VIEW_OPS = frozenset({"Identity", "Split", "Slice", "Cast"}) | _QDQ


def _resets_before_product(graph: ModelGraph, products: Iterable[_WeightProduct]) -> bool:
    """GRU reset_after=False: one state product multiplies ``r ⊙ h``, a Mul of a gate
    (through TorchScript's Casts, and a quantize-dequantize pair of the QDQ format)."""
    return any(_is_reset(graph, graph.through(p.data, p.node.graph, _VIEWS | _QDQ),
                         p.node.graph)
               for p in products)


def _is_reset(graph: ModelGraph, name: str, scope: str) -> bool:
    """``name`` is ``r ⊙ h``: a Mul in ``scope`` of a gate's activation (through Split,
    Slice, Identity, Cast), or of a FusedGemm that applies one (onnxruntime's extended
    optimizations fuse a gate's Gemm with its Sigmoid)."""
    producer = graph.producer(name, scope)
    if producer is None or _as_float_op(producer) != "Mul" or producer.graph != scope:
        return False
    for operand in _operands(producer):
        source = graph.producer(operand, scope)
        while source is not None and source.op_type in _GATE_VIEW_OPS:
            source = graph.producer(_first(source), source.graph)
        if source is not None and (_as_float_op(source) in _GATE_ACTIVATIONS
                                   or source.op_type in _CLAMP
                                   or _relu_of_min(graph, source)
                                   or (source.op_type == _FUSED_GEMM
                                       and source.domain == "com.microsoft"
                                       and attr_str(source, "activation")
                                       in _GATE_ACTIVATIONS)):
            return True
    return False


def _chain_bias(
    graph: ModelGraph, walks: list[_Upstream], projection_adds: frozenset[str],
    used: set[tuple[str, str]], folded: Iterable[_WeightProduct] = (),
    tail: Iterable[_WeightProduct] = (),
) -> tuple[tuple[WeightSource, ...], tuple[WeightSource, ...]]:
    """An unrolled chain's biases: what is added to its hoisted input projection (the one
    product over the whole sequence; ``projection_adds`` are the Adds after it), and what the
    steps add each (a bias every step adds is read by two steps or more; a step's own nodes
    are those no earlier step's walk reached). A tensor only one step adds is that step's
    state product folded by the exporter: with no initial state, torch's dynamo export of a
    Keras 3 layer (torch backend) stores ``zeros @ R`` (plus the recurrent bias, for a GRU) as
    ``[1, g·H]``, which the first step adds where each later step adds ``h @ R``.

    ``folded``: the cell's products where its weights are stored once per step
    (:func:`_by_value`); the tool that folded them stored each step's bias apart too, and a
    bias whose very values another step adds is that step's bias, stored again, as is one
    added to a product's result (the last step's, which no later step reads). Returns
    (biases, those stored copies).

    ``tail``: the chain's products, where a bias stored again for every step (weights stored
    once) is looked for after the last step too, which no later step's walk reaches."""
    step_of: dict[str, int] = {}
    for k, walk in enumerate(walks):
        for node_id in walk.nodes:
            step_of.setdefault(node_id, k)
    nodes = frozenset(step_of) | projection_adds
    steps: dict[tuple[str, str], set[int]] = {}
    added = list(_added_constants(graph, nodes, used))
    alias: dict[tuple[str, str], tuple[str, str]] = {}
    after: list[WeightSource] = []
    if folded:
        after = [source for source, _ in _added_constants(
            graph, _adds_after(graph, folded) - nodes, used)]
        alias = equal_copies(stored_tensors(graph, (s.key for s in _dedupe(
            (*(s for s, _ in added), *after)))), any_values=True)
    for source, node_id in added:
        steps.setdefault(alias.get(source.key, source.key), set()).add(
            -1 if node_id in projection_adds else step_of[node_id])
    firsts = _alias_per_step_copies(graph, steps, alias)
    if firsts and tail:
        last = [source for source, _ in _added_constants(
            graph, _downstream_adds(graph, tail) - nodes, used) if source.key not in steps]
        also = equal_copies(stored_tensors(graph, [*firsts, *(s.key for s in last)]))
        for source in last:
            if also.get(source.key) in firsts:
                alias[source.key] = also[source.key]
                after.append(source)
    kept = _dedupe(source for source, _ in added
                   if -1 in steps[key := alias.get(source.key, source.key)] or (
                       len(steps[key]) >= 2 and not _folded_zero_state(graph, source)))
    biases = tuple(s for s in kept if s.key not in alias)
    held = {s.key for s in biases}
    return biases, _dedupe(s for s in (*kept, *after) if s.key in alias and alias[s.key] in held)


def _alias_per_step_copies(graph: ModelGraph, steps: dict[tuple[str, str], set[int]],
                           alias: dict[tuple[str, str], tuple[str, str]]
                           ) -> list[tuple[str, str]]:
    """Among the tensors one step adds each, those that hold the very values of one another,
    one per step, are one bias stored again for every step (jax2onnx folds each step's
    broadcast of ``b`` into an initializer of its own, while its weights are stored once):
    each copy becomes an alias of the first, which every such step adds. Only tensors of
    varied values (:func:`equal_copies`): zeros or a folded first step are not taken for
    copies. Returns the first of each such group."""
    single = [key for key, owners in steps.items() if len(owners) == 1 and -1 not in owners]
    if len(single) < 2:
        return []
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for copy, first in equal_copies(stored_tensors(graph, single)).items():
        groups.setdefault(first, [first]).append(copy)
    for first, members in groups.items():
        owners = [next(iter(steps[key])) for key in members]
        if len(set(owners)) != len(owners):
            continue  # two of them in one step: two biases that happen to be equal
        for copy in members[1:]:
            alias[copy] = first
            steps[first] |= steps.pop(copy)
    return [first for first in groups if len(steps[first]) > 1]


def _adds_after(graph: ModelGraph, products: Iterable[_WeightProduct]) -> frozenset[str]:
    """The Adds that read a product's result, past views of it (a float16 model's Casts)."""
    found: set[str] = set()
    for product in products:
        names = list(product.node.outputs)
        for _ in range(_VIEW_DEPTH):
            readers = [node for name in names if name
                       for node in graph.consumers_of(name, product.node.graph)]
            found.update(node.id for node in readers if _as_float_op(node) == "Add")
            names = [out for node in readers if node.op_type in _VIEWS for out in node.outputs]
            if not names:
                break
    return frozenset(found)


def _folded_zero_state(graph: ModelGraph, source: WeightSource) -> bool:
    """A stored ``[batch, n]`` of zeros: ``h0 @ R`` folded for a zero h0 of a fixed batch (1,
    or the batch a tool fixed before folding: polygraphy with the input shapes given), which
    a GRU with reset_after=False adds in both pieces of its first step (so two walks read
    it)."""
    if source.shape is None or len(source.shape) != 2:
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
        if _as_float_op(node) != "Add":
            continue
        quantized = node.op_type != "Add"  # QLinearAdd: its operands are stored integers
        for operand in _operands(node):
            for source in _added_sources(graph, operand, node.graph, quantized) or ():
                if source.key not in used and source.shape is not None \
                        and _bias_shaped(source.shape):
                    yield source, node_id


def _bias_shaped(shape: Shape) -> bool:
    """A vector, a matrix (a [1, N] row, per-direction rows), or a vector with unit axes
    before it (onnxsim folds jax2onnx's broadcast bias into a [1, 1, N] constant)."""
    return 1 <= len(shape) <= 2 or (len(shape) > 2 and all(d == 1 for d in shape[:-1]))


# What a bias passes through to be added to a batch: jax2onnx broadcasts it to the sum's
# shape with an Expand.
_BROADCASTS = frozenset({"Expand"})


def _added_sources(
    graph: ModelGraph, name: str, scope: str, quantized: bool = False
) -> tuple[WeightSource, ...] | None:
    """The stored tensors an Add's operand is a view of (:func:`weight_sources`), past a
    broadcast of it to the sum's shape."""
    return weight_sources(graph, graph.through(name, scope, _BROADCASTS), scope,
                          _quantized=quantized)


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


def _last_dim(graph: ModelGraph, name: str, scope: str) -> int | None:
    info = graph.tensor(name, scope)
    if info is None or not info.shape:
        return None
    last = info.shape[-1]
    return last if isinstance(last, int) else None


def _order(product: _WeightProduct) -> int:
    return product.node.index


def _downstream_adds(graph: ModelGraph, products: Iterable[_WeightProduct]) -> frozenset[str]:
    """The Adds right after the input products (where a bias joins x_t @ W), past an
    activation's quantize-dequantize pair (onnxruntime's QDQ format)."""
    found: set[str] = set()
    for product in products:
        for consumer in _past_qdq(graph, product.node.outputs[0], product.node.graph):
            if _as_float_op(consumer) == "Add":
                found.add(consumer.id)
                for second in _past_qdq(graph, consumer.outputs[0], consumer.graph):
                    if _as_float_op(second) == "Add":
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


_CONCATS = frozenset({"Concat", "QLinearConcat"})


def _concat_parts(node: NodeInfo) -> tuple[str, ...]:
    """The tensors a Concat joins: a com.microsoft QLinearConcat's are every third input from
    input 2 (``Y_scale, Y_zero_point``, then ``tensor, scale, zero_point`` each), as
    onnxruntime's QOperator format writes a Concat."""
    if node.op_type == "QLinearConcat" and node.domain == "com.microsoft":
        return node.inputs[2::3]
    return node.inputs


def _pairs_on_last_axis(graph: ModelGraph, node: NodeInfo | None, scope: str) -> bool:
    """Whether ``node`` is a Concat in ``scope`` of two tensors on their last axis (the
    ``[x, h]`` a joint kernel multiplies: TF1's rnn_cell, ``torch.cat([x, h], 1)``)."""
    if node is None or node.graph != scope or not (
            (node.op_type == "Concat" and node.domain in ("", "ai.onnx"))
            or (node.op_type == "QLinearConcat" and node.domain == "com.microsoft")):
        return False
    parts = _concat_parts(node)
    if len(parts) != 2 or not all(parts):
        return False
    axis = attr_int(node, "axis")
    rank = next((len(info.shape) for name in (*node.outputs[:1], *parts)
                 if name and (info := graph.tensor(name, scope)) is not None
                 and info.shape is not None), None)
    return axis is not None and (axis == -1 or (rank is not None and axis == rank - 1))


def _is_stored(graph: ModelGraph, name: str, scope: str) -> bool:
    """A stored tensor, also where a Loop or Scan body carries it in unchanged (paddle2onnx
    passes a cell's weights and biases into its decoding Loop as loop-carried values)."""
    info = graph.tensor(name, scope)
    if info is not None and info.is_graph_input and scope != "main":
        info = graph.passed_in(info)
    return info is not None and (info.is_constant or info.is_initializer)


def unbound_from(graph: ModelGraph, node: NodeInfo) -> NodeInfo | None:
    """The SplitToSequence that ``node``, a SequenceAt, takes one step of: torch's dynamo
    export of ``x.unbind(0)`` with a dynamic length (``SplitToSequence(x, keepdims=0)`` with
    no split input, then ``SequenceAt(seq, t)`` per step); None for any other node."""
    if node.op_type != "SequenceAt" or len(node.inputs) < 2 or not node.inputs[0]:
        return None
    split = graph.producer(node.inputs[0], node.graph)
    if split is None or split.op_type != "SplitToSequence" or split.graph != node.graph \
            or (len(split.inputs) > 1 and split.inputs[1]) or attr_int(split, "keepdims") != 0:
        return None
    return split


def cut_source(graph: ModelGraph, node: NodeInfo) -> str:
    """The tensor a step slice cuts its step from: input 0 of a Split, Gather or Slice, the
    unbound tensor of a SequenceAt (:func:`unbound_from`)."""
    split = unbound_from(graph, node)
    return _first(split) if split is not None else _first(node)


def step_axis(graph: ModelGraph, node: NodeInfo) -> int | None:
    """The axis a Gather, a Split or a one-axis Slice cuts a step out of a sequence on
    (negative: from the end); None when it is not one constant axis."""
    if node.op_type == "SequenceAt":
        split = unbound_from(graph, node)
        return None if split is None else attr_int(split, "axis") or 0
    if node.op_type in ("Gather", "Split"):
        return attr_int(node, "axis") or 0
    if node.op_type == "Slice":
        spec = slice_spec(graph, node)
        if spec is not None and len(spec.axes) == 1:
            return spec.axes[0]
        window = step_window(graph, node)
        if window is not None:
            return window[0]
    return None




def step_window(graph: ModelGraph, node: NodeInfo) -> tuple[int, int] | None:
    """(axis, index) of a Slice that takes one step of one axis and every other axis it lists
    whole, from 0 to its end (a constant past it, or the axis' size read from a Shape):
    jax2onnx's ``x[t]`` of a time-major x, starts ``[t, 0, 0]``, ends
    ``Concat([t + 1], Shape(.)[k], [F])``, axes ``[0, 1, 2]``; None for any other node."""
    if node.op_type != "Slice" or len(node.inputs) < 3:
        return None
    data = graph.tensor(node.inputs[0], node.graph)
    shape = None if data is None else data.shape
    bounds = _slice_bounds(graph, node)
    if shape is None or bounds is None:
        return None
    cut: list[tuple[int, int]] = []
    for axis, start, end, step in bounds:
        axis = axis + len(shape) if axis < 0 else axis
        if not 0 <= axis < len(shape) or step != 1:
            return None
        if start == 0 and _to_the_end(end, shape[axis], node.inputs[0], axis):
            continue
        if not isinstance(end, int) or start < 0 or end != start + 1:
            return None
        cut.append((axis, start))
    return cut[0] if len(cut) == 1 else None


def _slice_bounds(
    graph: ModelGraph, node: NodeInfo
) -> list[tuple[int, int, int | DimOf | None, int]] | None:
    """(axis, start, end, step) per axis a Slice (opset 10 and later) lists, its starts, axes
    and steps constant, its ends constant or a shape vector (:func:`shape_vector`)."""
    scope, inputs = node.graph, node.inputs
    starts = const_ints(graph, inputs[1], scope)
    ends = shape_vector(graph, inputs[2], scope)
    if starts is None or ends is None or len(ends) != len(starts):
        return None
    axes = const_ints(graph, inputs[3], scope) if len(inputs) > 3 and inputs[3] \
        else tuple(range(len(starts)))
    steps = const_ints(graph, inputs[4], scope) if len(inputs) > 4 and inputs[4] \
        else (1,) * len(starts)
    if axes is None or steps is None or not len(axes) == len(steps) == len(starts):
        return None
    return list(zip(axes, starts, ends, steps, strict=True))


def _to_the_end(end: int | DimOf | None, dim: object, data: str, axis: int) -> bool:
    """Whether a Slice's ``end`` on ``axis`` of ``data`` (``dim`` long) is the axis' end."""
    if isinstance(end, int):
        return end >= PAST_END or (isinstance(dim, int) and end >= dim)
    if isinstance(end, DimOf):
        return (end.tensor, end.axis) == (data, axis) or (dim is not None and end.dim == dim)
    return False


def _gate_peepholes(
    graph: ModelGraph, scope: str, nodes: Iterable[str], hidden: int
) -> tuple[WeightSource, ...]:
    """The diagonal weights of a peephole LSTM written with a kernel and a recurrent kernel of
    its own (a custom Keras cell, a hand-written PyTorch cell): stored ``[H]`` vectors that a
    Mul of ``nodes`` applies to a computed tensor (the cell state), its result added into a
    gate's pre-activation, which a sigmoid reads. In model order; a vector of zeros is none.
    A scale applied elsewhere (a layer norm's gain on c, before a Tanh) is no peephole."""
    found: list[WeightSource] = []
    for node_id in sorted(nodes, key=_model_position):
        node = graph.node(node_id)
        if node.op_type != "Mul" or len(node.inputs) != 2 or not node.outputs \
                or not _into_gate(graph, node.outputs[0], scope):
            continue
        for k, operand in enumerate(node.inputs):
            sources = weight_sources(graph, operand, scope) or ()
            if len(sources) == 1 and sources[0].shape == (hidden,) \
                    and not weight_sources(graph, node.inputs[1 - k], scope) \
                    and not _all_zero(graph, sources[0]):
                found.append(sources[0])
    return _dedupe(found)


def _relu_of_min(graph: ModelGraph, node: NodeInfo) -> bool:
    """A Relu of a Min: the hard sigmoid gate of tf2onnx's TFLite route."""
    if node.op_type != "Relu" or not node.inputs:
        return False
    below = graph.producer(node.inputs[0], node.graph)
    return below is not None and below.op_type == "Min"


def _into_gate(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` is added (an Add) into a value a sigmoid gate reads (through views)."""
    for add in graph.consumers_of(name, scope):
        if add.op_type != "Add" or add.graph != scope or not add.outputs:
            continue
        frontier = [add.outputs[0]]
        for _ in range(4):
            following = [(c, c.outputs[0]) for n in frontier for c in graph.consumers_of(n, scope)
                         if c.graph == scope and c.outputs]
            if any(_as_float_op(c) in _GATE_ACTIVATIONS for c, _ in following):
                return True
            frontier = [out for c, out in following if c.op_type in _GATE_VIEW_OPS and out]
    return False


def _all_zero(graph: ModelGraph, source: WeightSource) -> bool:
    """Whether a stored weight's value is known and every element exactly 0."""
    info = graph.tensor(source.tensor, source.graph)
    value = None if info is None else info.value
    return value is not None and value.size > 0 and not value.any()

