"""Where a weight tensor's elements are stored, traced without reading weight data.

A layer's W may be an initializer, a Constant node's output, or computed in the graph from
stored tensors: Slice/Concat/Split of initializers (an exporter that did not fold constants),
Transpose, Reshape, Cast, DequantizeLinear of int8 weights, an If whose branches return the
same initializer, a value a Loop or Scan carries into its body unchanged (at any step).
:func:`trace` follows a tensor back to the stored tensors it is made of; the parameter report
counts each of those once per model (archlint/params.py).
:func:`infer_computed_shapes` asks onnx shape inference for the shapes of computed weights,
on a small model made of the computing nodes only (weights stand in as typed inputs).

Dims come from initializer dims, Constant attribute dims and declared types; values are read
only for the small constants that shape inference needs (Slice bounds, Reshape targets) and,
in :func:`all_zero`, for a bias whose inline data the caller asks about.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import NodeProto, OperatorSetIdProto, TensorProto, helper, numpy_helper

from archlint.declared_types import type_of
from archlint.graph import ModelGraph, NodeInfo, TensorInfo
from archlint.loader import SMALL_TENSOR_ELEMENTS, infer_model_shapes
from archlint.patterns import DimOf, shape_vector
from archlint.shapes import Shape, known_product

__all__ = [
    "BROADCAST_OPS",
    "Basis",
    "Source",
    "Trace",
    "all_zero",
    "infer_computed_shapes",
    "stored_externally",
    "trace",
]


class Basis(enum.Enum):
    """Where a counted tensor's size comes from."""

    INITIALIZER = "initializer"  # the dims of an initializer the node reads
    CONSTANT = "constant-attribute"  # the dims of a Constant node's attribute (values unread)
    GRAPH_INPUT = "graph-input"  # the declared dims of a typed graph input
    TRACED = "traced"  # computed from stored tensors; counted as those source tensors
    INFERRED = "inferred-shape"  # computed from something not stored: its inferred shape
    UNKNOWN = "unknown"

    @property
    def description(self) -> str:
        return _BASIS_TEXT[self]


_BASIS_TEXT = {
    Basis.INITIALIZER: "the dims of the initializer the node reads",
    Basis.CONSTANT: "the dims of a Constant node's attribute (its values are never read)",
    Basis.GRAPH_INPUT: "the declared dims of a typed graph input",
    Basis.TRACED: "computed in the graph from stored tensors; counted as the stored source "
                  "tensors, each once per model",
    Basis.INFERRED: "computed from tensors that are not stored; the shape shape inference gives",
    Basis.UNKNOWN: "no shape known",
}

# Ops that move or convert weight data without adding any: op -> the input positions that carry
# it (None: every input). Other inputs (Slice bounds, Reshape targets, scales) are not sources.
_CARRIERS: dict[str, tuple[int, ...] | None] = {
    "Identity": (0,), "Cast": (0,), "CastLike": (0,), "Reshape": (0,), "Squeeze": (0,),
    "Unsqueeze": (0,), "Transpose": (0,), "Flatten": (0,), "Slice": (0,), "Split": (0,),
    "Gather": (0,), "Concat": None, "DequantizeLinear": (0,), "QuantizeLinear": (0,),
}
# Carriers whose output is zero wherever their input is: a zero bias stays provably zero.
# ops that repeat their data input (0) to a shape another input gives (trace(broadcasts=True))
BROADCAST_OPS = frozenset({"Expand", "Tile"})
# what keeps a stored tensor of zeros all zeros
_ZERO_PRESERVING = frozenset(_CARRIERS) - {"DequantizeLinear", "QuantizeLinear"} \
    | BROADCAST_OPS | {"If"}
_STANDARD = ("", "ai.onnx")
MAX_TRACE_NODES = 256  # a weight computed by more nodes than this is not traced


@dataclass(frozen=True)
class Source:
    """A stored tensor a weight is made of: an initializer, a Constant or a typed input."""

    graph: str  # the scope that defines it
    name: str
    elements: int | None
    basis: Basis
    dtype: int | None
    shape: Shape | None
    # the tensor as stored (inline or external), for all_zero; not part of the identity
    stored: TensorProto | None = field(default=None, compare=False, hash=False, repr=False)
    # an initializer that is also a graph input: its default data (replaceable at run time)
    default: TensorProto | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.graph, self.name)


@dataclass(frozen=True)
class Trace:
    """What a tensor bound to a weight slot is made of."""

    basis: Basis
    sources: tuple[Source, ...]  # empty unless every path ends at a stored tensor
    via: tuple[str, ...] = ()  # op types crossed, in the order first met (TRACED only)
    nodes: tuple[str, ...] = ()  # ids of the computing nodes (TRACED only)
    # sources that hold the very values of an earlier source (TRACED only): one tensor
    # stored again for each reader (nvidia-modelopt gives each of the four gate Slices of a
    # dynamo export's weight a copy of its own), stored, but one weight
    copies: tuple[Source, ...] = ()

    @property
    def distinct_elements(self) -> int | None:
        """Stored elements of the sources, each stored copy left out."""
        total = self.elements
        if total is None or not self.copies:
            return total
        return total - sum(source.elements or 0 for source in self.copies)

    @property
    def elements(self) -> int | None:
        """Stored elements of the sources; None when any is unknown."""
        total = 0
        for source in self.sources:
            if source.elements is None:
                return None
            total += source.elements
        return total if self.sources else None


def trace(
    graph: ModelGraph, name: str, scope: str, *, inputs_are_weights: bool = True,
    broadcasts: bool = False,
) -> Trace:
    """Follow ``name`` (as seen from ``scope``) back to the stored tensors it is made of.

    ``inputs_are_weights``: a typed graph input counts as a stored tensor (a recurrent weight
    slot fed by an input); otherwise a path that ends at a graph input is an activation.
    ``broadcasts``: an Expand or Tile carries its data (a learned initial state expanded to
    the batch: what a recurrent layer's initial_h is made of), whatever its shape input.
    """
    info = graph.tensor(name, scope) if name else None
    if info is None:
        return Trace(Basis.UNKNOWN, ())
    info = graph.passed_in(info)
    direct = _stored(graph, info)
    if direct is not None and (inputs_are_weights or direct.basis is not Basis.GRAPH_INPUT):
        return Trace(direct.basis, (direct,))
    if direct is not None:
        return Trace(Basis.UNKNOWN, ())
    if _may_carry(graph, info, broadcasts):
        walker = _Walker(graph, inputs_are_weights, broadcasts)
        if walker.walk(info) and walker.sources:
            sources = tuple(dict.fromkeys(walker.sources))
            return Trace(Basis.TRACED, sources, tuple(dict.fromkeys(walker.via)),
                         tuple(dict.fromkeys(walker.nodes)), _copies(graph, sources))
    return Trace(Basis.INFERRED if info.shape is not None else Basis.UNKNOWN, ())


def _copies(graph: ModelGraph, sources: tuple[Source, ...]) -> tuple[Source, ...]:
    """The sources (of one computed weight) that hold the very values of an earlier one."""
    if len(sources) < 2 or len({(s.dtype, s.shape) for s in sources}) == len(sources):
        return ()
    from archlint.stored_copies import equal_copies, stored_tensors

    copied = equal_copies(stored_tensors(graph, (s.key for s in sources)))
    return tuple(source for source in sources if source.key in copied)


def _may_carry(graph: ModelGraph, info: TensorInfo, broadcasts: bool = False) -> bool:
    """Whether the node computing ``info`` could carry weight data (the walk's first step,
    without its bookkeeping: most operands asked about are activations of other ops)."""
    if info.producer is None:
        return False
    node = graph.node(info.producer)
    if node.domain not in _STANDARD:
        return graph.called_body(node) is not None  # what a local function returns
    return node.op_type in _CARRIERS or node.op_type == "If" \
        or (broadcasts and node.op_type in BROADCAST_OPS)


# ops an integer bound is computed with, on its way from a Shape
_INT_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Gather", "Unsqueeze", "Squeeze",
                      "Concat", "Cast", "Slice", "Reshape", "Identity", "Min", "Max"})


def _depends_on_free_dim(graph: ModelGraph, info: TensorInfo, limit: int = 32) -> bool:
    """Whether the integer tensor ``info`` is computed from a dim that is not a fixed number:
    a Shape of a tensor whose (inferred) shape has a symbolic or unknown dim among those it
    reads, or a graph input. Computed from constants and fixed dims only: False. An op it
    cannot follow: False (not known to be a window)."""
    stack, seen = [info], set[tuple[str, str]]()
    while stack and len(seen) < limit:
        current = stack.pop()
        if (current.graph, current.name) in seen or current.is_constant:
            continue
        seen.add((current.graph, current.name))
        if current.producer is None:
            return current.is_graph_input
        node = graph.node(current.producer)
        if node.op_type == "Shape":
            # the dims it reads (its start and end applied), as patterns.shape_vector reads them
            dims = shape_vector(graph, current.name, current.graph)
            if dims is None or not all(isinstance(d, DimOf) and isinstance(d.dim, int)
                                       for d in dims):
                return True
            continue
        if node.op_type not in _INT_OPS:
            return False
        stack.extend(t for name in node.inputs
                     if name and (t := graph.tensor(name, node.graph)) is not None)
    return False


class _Walker:
    """Depth-first walk from a computed tensor to its stored sources, bounded in size."""

    def __init__(self, graph: ModelGraph, inputs_are_weights: bool,
                 broadcasts: bool = False) -> None:
        self.graph = graph
        self.inputs_are_weights = inputs_are_weights
        self.broadcasts = broadcasts
        self.sources: list[Source] = []
        self.via: list[str] = []
        self.nodes: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def walk(self, info: TensorInfo) -> bool:
        info = self.graph.passed_in(info)
        key = (info.graph, info.name)
        if key in self.seen:
            return True
        self.seen.add(key)
        if len(self.seen) > MAX_TRACE_NODES:
            return False
        stored = _stored(self.graph, info)
        if stored is not None:
            self.sources.append(stored)
            return self.inputs_are_weights or stored.basis is not Basis.GRAPH_INPUT
        if info.producer is None:
            return False
        node = self.graph.node(info.producer)
        if node.domain not in _STANDARD:
            return self._walk_call(node, info.name)
        if node.op_type == "If":
            return self._walk_if(node, info.name)
        broadcast = self.broadcasts and node.op_type in BROADCAST_OPS
        if node.op_type not in _CARRIERS and not broadcast:
            return False
        if node.op_type == "Gather" and not self._constant_indices(node):
            return False  # a lookup at run-time indices: an activation, not a weight
        if node.op_type == "Slice" and self._runtime_window(node):
            return False  # a window of a table sized by the input: an activation
        positions = (0,) if broadcast else _CARRIERS[node.op_type]
        carried = [t for i, t in enumerate(node.inputs)
                   if t and (positions is None or i in positions)]
        self.via.append(node.op_type)
        self.nodes.append(node.id)
        for tensor in carried:
            found = self.graph.tensor(tensor, node.graph)
            if found is None or not self.walk(found):
                return False
        return bool(carried)

    def _constant_indices(self, node: NodeInfo) -> bool:
        indices = self.graph.tensor(node.inputs[1], node.graph) if len(node.inputs) > 1 else None
        return indices is not None and _Walker(self.graph, False).walk(indices)

    def _runtime_window(self, node: NodeInfo) -> bool:
        """Whether a Slice's starts or ends depend on a dim that is not fixed: NeMo's
        relative positional encoding cuts its table ``pe`` [1, 2·L-1, d] to the input's
        length T at every call (``pe[:, L-T : L+T-1]``), a buffer torch does not count, read
        as the data of linear_pos. Bounds computed from a dim the graph fixes (torch's dynamo
        export slices an LSTM's gates at multiples of H read from a Shape) are no window."""
        for bound in node.inputs[1:3]:
            info = self.graph.tensor(bound, node.graph) if bound else None
            if info is not None and not _Walker(self.graph, False).walk(info) \
                    and _depends_on_free_dim(self.graph, info):
                return True
        return False

    def _walk_call(self, node: NodeInfo, output: str) -> bool:
        """What a call of a model-local function returns for this output: its body's output
        (torch 2.1-2.4's dynamo_export writes ``aten_t`` and ``aten_addmm`` as two functions,
        the weight transposed in one, multiplied in the other)."""
        body = self.graph.called_body(node)
        if body is None or output not in node.outputs:
            return False
        slot = node.outputs.index(output)
        outputs = self.graph.graph_outputs[body]
        found = self.graph.tensor(outputs[slot], body) if slot < len(outputs) else None
        if found is None:
            return False
        self.via.append(node.op_type)
        self.nodes.append(node.id)
        return self.walk(found)

    def _walk_if(self, node: NodeInfo, output: str) -> bool:
        """Both branches' values for this output: the union of what each is made of."""
        slot = node.outputs.index(output)
        self.via.append("If")
        self.nodes.append(node.id)
        branches = 0
        outputs = self.graph.graph_outputs
        for attr in ("then_branch", "else_branch"):
            path = self.graph.subgraph_of(node, attr)
            if path is None or slot >= len(outputs[path]):
                return False
            found = self.graph.tensor(outputs[path][slot], path)
            if found is None or not self.walk(found):
                return False
            branches += 1
        return branches == 2


def _stored(graph: ModelGraph, info: TensorInfo) -> Source | None:
    """The info itself as a stored tensor, or None when it is computed."""
    if info.is_initializer:
        # An initializer that is also a graph input is only a default: its data may be
        # replaced at run time, so it is never judged by its values.
        source = info.constant_source
        data = source if isinstance(source, TensorProto) else None
        return Source(info.graph, info.name, _product(info.shape), Basis.INITIALIZER,
                      info.dtype, info.shape, None if info.is_graph_input else data,
                      data if info.is_graph_input else None)
    if info.producer is not None:
        node = graph.node(info.producer)
        if node.op_type == "Constant" and node.domain in _STANDARD:
            dtype, shape, stored = constant_attribute_type(node.proto)
            shape = shape if shape is not None else info.shape
            return Source(info.graph, info.name, _product(shape), Basis.CONSTANT,
                          dtype or info.dtype, shape, stored)
        return None
    if info.is_graph_input:
        return Source(info.graph, info.name, _product(info.shape), Basis.GRAPH_INPUT,
                      info.dtype, info.shape)
    return None


def constant_attribute_type(node: NodeProto) -> tuple[int | None, Shape | None, TensorProto | None]:
    """dtype, shape and (for ``value``) the tensor of a Constant node, from attribute dims.

    Never decodes values: ``value`` and ``sparse_value`` give their dims, the list attributes
    their length, the scalar ones the empty shape.
    """
    for attr in node.attribute:
        if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
            return attr.t.data_type, tuple(int(d) for d in attr.t.dims), attr.t
        if attr.name == "sparse_value" and attr.type == onnx.AttributeProto.SPARSE_TENSOR:
            return (attr.sparse_tensor.values.data_type,
                    tuple(int(d) for d in attr.sparse_tensor.dims), None)
        if attr.name == "value_floats":
            return TensorProto.FLOAT, (len(attr.floats),), None
        if attr.name == "value_ints":
            return TensorProto.INT64, (len(attr.ints),), None
        if attr.name == "value_strings":
            return TensorProto.STRING, (len(attr.strings),), None
        if attr.name in ("value_float", "value_int", "value_string"):
            kind = {"value_float": TensorProto.FLOAT, "value_int": TensorProto.INT64,
                    "value_string": TensorProto.STRING}[attr.name]
            return kind, (), None
    return None, None, None


def _product(shape: Shape | None) -> int | None:
    return None if shape is None else known_product(shape)


# --- zeros -----------------------------------------------------------------------------------

MAX_ZERO_CHECK_ELEMENTS = 1 << 24  # never decode more than this to look for zeros


def all_zero(found: Trace, *, defaults: bool = False) -> bool:
    """True when every source is inline stored data whose every element is exactly 0, and the
    computation only moves data (a dequantized zero point is not a zero). External data is
    never read: a bias stored outside the model file is not judged. ``defaults``: judge an
    initializer that is also a graph input by the data it holds (torch's
    ``keep_initializers_as_inputs``), which a caller may replace; otherwise it is not judged."""
    tensors = _inline_tensors(found, defaults)
    if tensors is None:
        return False
    for tensor, elements in tensors:
        zero = _raw_all_zero(tensor, elements)
        if not (_decoded_all_equal(tensor, 0) if zero is None else zero):
            return False
    return True


def all_one(found: Trace) -> bool:
    """True when every source is inline stored data whose every element is exactly 1 and the
    computation only moves data (as :func:`all_zero` judges zeros)."""
    tensors = _inline_tensors(found, defaults=False)
    return tensors is not None and all(_decoded_all_equal(tensor, 1) for tensor, _ in tensors)


def _inline_tensors(found: Trace, defaults: bool) -> list[tuple[TensorProto, int]] | None:
    """(tensor, elements) of every source of ``found``, where each is stored inline, small
    enough to read (:data:`MAX_ZERO_CHECK_ELEMENTS`) and only moved by the computation; None
    otherwise. ``defaults``: as :func:`all_zero` takes it."""
    if found.basis not in (Basis.INITIALIZER, Basis.CONSTANT, Basis.TRACED) or not found.sources:
        return None
    if any(op not in _ZERO_PRESERVING for op in found.via):
        return None
    tensors = []
    for source in found.sources:
        tensor = source.stored if source.stored is not None or not defaults else source.default
        if tensor is None or tensor.data_location == TensorProto.EXTERNAL \
                or source.elements is None or source.elements > MAX_ZERO_CHECK_ELEMENTS:
            return None
        tensors.append((tensor, source.elements))
    return tensors


def stored_externally(found: Trace) -> bool:
    """Whether any stored tensor of ``found`` keeps its data in an external file (which
    :func:`all_zero` never reads)."""
    return any(source.stored is not None
               and source.stored.data_location == TensorProto.EXTERNAL
               for source in found.sources)


# raw_data layouts numpy reads directly (ONNX stores raw data little-endian); the other types
# (bfloat16, float8, int4, complex, bool, string) go through numpy_helper
_RAW_DTYPES: dict[int, str] = {
    TensorProto.FLOAT: "<f4", TensorProto.DOUBLE: "<f8", TensorProto.FLOAT16: "<f2",
    TensorProto.INT8: "i1", TensorProto.UINT8: "u1", TensorProto.INT16: "<i2",
    TensorProto.UINT16: "<u2", TensorProto.INT32: "<i4", TensorProto.UINT32: "<u4",
    TensorProto.INT64: "<i8", TensorProto.UINT64: "<u8",
}


def _raw_all_zero(tensor: TensorProto, elements: int) -> bool | None:
    """The zero check on raw_data read in place (no copy, no conversion); None when the
    tensor is not a plain numeric one in raw_data of exactly its size (decoded instead)."""
    layout = _RAW_DTYPES.get(tensor.data_type)
    if layout is None or elements <= 0 or not tensor.HasField("raw_data"):
        return None
    raw = tensor.raw_data
    dtype = np.dtype(layout)
    if len(raw) != elements * dtype.itemsize:
        return None
    if raw.count(0) == len(raw):  # zero bytes are 0 in every one of these types
        return True
    # any() is False for 0 and -0.0 alike, True for NaN: the same test as ``value != 0``
    return not np.frombuffer(raw, dtype=dtype).any()


def _decoded_all_equal(tensor: TensorProto, value: int) -> bool:
    """Whether ``tensor`` decodes to numbers that all equal ``value`` (and to some at all)."""
    try:
        array = numpy_helper.to_array(tensor)
    except Exception:  # malformed data: not provably that value
        return False
    return bool(array.size != 0 and np.issubdtype(array.dtype, np.number)
                and not np.any(array != value))


# --- shapes of computed weights --------------------------------------------------------------


def infer_computed_shapes(
    graph: ModelGraph, traces: Iterable[tuple[TensorInfo, Trace]],
    opset_imports: Sequence[OperatorSetIdProto],
) -> dict[str, Shape]:
    """Shapes of computed weights (tensor name -> shape), from onnx shape inference over only
    the nodes that compute them. Sources become typed inputs; small constants the nodes read
    (bounds, targets, axes) keep their values. Tensors inference cannot shape are left out.
    One inference per model, and only when a recurrent weight is computed and unshaped."""
    wanted: list[str] = []
    node_ids: dict[str, None] = {}
    shapes: dict[str, Shape] = {}
    for info, found in traces:
        if found.basis is not Basis.TRACED:
            continue
        if "If" in found.via:
            shape = _if_shape(graph, info)
            if shape is not None:
                shapes[info.name] = shape
            continue
        wanted.append(info.name)
        node_ids.update(dict.fromkeys(found.nodes))
    if not wanted or not opset_imports:
        return shapes
    nodes = sorted((graph.node(i) for i in node_ids), key=lambda n: (n.graph, n.index))
    produced = {out for node in nodes for out in node.outputs if out}
    inputs: dict[str, Any] = {}
    initializers: dict[str, TensorProto] = {}
    for node in nodes:
        for tensor in node.inputs:
            if not tensor or tensor in produced or tensor in inputs or tensor in initializers:
                continue
            operand = graph.tensor(tensor, node.graph)
            if operand is None:
                return shapes
            source = _stored(graph, operand)
            shape = source.shape if source is not None else operand.shape
            dtype = (source.dtype if source is not None else None) or operand.dtype
            value = operand.value if _is_small(shape) else None
            if value is not None:
                initializers[tensor] = numpy_helper.from_array(value, tensor)
            else:
                inputs[tensor] = helper.make_tensor_value_info(
                    tensor, dtype or TensorProto.FLOAT, None if shape is None else list(shape))
    mini = helper.make_model(
        helper.make_graph(
            [node.proto for node in nodes], "weights", list(inputs.values()),
            [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None)
             for name in dict.fromkeys(wanted)],
            initializer=list(initializers.values()),
        ),
        opset_imports=list(opset_imports),
    )
    # The loader's inference: in a child process with a time limit, as for the whole model
    # (onnx's C++ inference can abort on a hostile node; archlint must survive it).
    inferred = infer_model_shapes(mini)[0]
    for value_info in (*inferred.graph.value_info, *inferred.graph.output):
        _, shape = type_of(value_info)
        if value_info.name in wanted and shape is not None:
            shapes[value_info.name] = shape
    return shapes


def _if_shape(graph: ModelGraph, output: TensorInfo) -> Shape | None:
    """An If output's shape when every branch returns a tensor of the same known shape (a
    stored tensor, or one whose shape is declared)."""
    if_node = graph.node(output.producer) if output.producer is not None else None
    if if_node is None or if_node.op_type != "If":
        return None
    slot = if_node.outputs.index(output.name)
    shapes: set[Shape] = set()
    outputs = graph.graph_outputs
    for attr in ("then_branch", "else_branch"):
        path = graph.subgraph_of(if_node, attr)
        if path is None or slot >= len(outputs[path]):
            return None
        branch_output = graph.tensor(outputs[path][slot], path)
        if branch_output is None:
            return None
        source = _stored(graph, branch_output)
        shape = source.shape if source is not None else branch_output.shape
        if shape is None or known_product(shape) is None:
            return None
        shapes.add(shape)
    return shapes.pop() if len(shapes) == 1 else None


def _is_small(shape: Shape | None) -> bool:
    size = _product(shape)
    return size is not None and size <= SMALL_TENSOR_ELEMENTS
