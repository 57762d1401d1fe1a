"""One typed, frozen view per LSTM / GRU / RNN node: resolved attributes and shapes.

Rules read these views and never parse AttributeProto themselves. Shapes are resolved from
initializers, Constant nodes, declared value_info and ONNX shape inference, in that order of
trust. Anything unknown is ``None``, which rules read as "cannot check".

Notation as in the ONNX spec: D = num_directions, H = hidden_size, I = input size,
gates = 4 (LSTM, order i, o, f, c), 3 (GRU, order z, r, h) or 1 (RNN).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from archlint.cached import cached
from archlint.graph import ModelGraph, NodeInfo, TensorInfo, not_text
from archlint.onnx_protos import AttributeProto
from archlint.shapes import Dim, Shape, known_product

if TYPE_CHECKING:
    import numpy as np

    from archlint.cells import CellFacts

__all__ = [
    "ACTIVATIONS_PER_DIRECTION",
    "DEFAULT_ACTIVATIONS",
    "GATES",
    "INPUT_SLOTS",
    "OUTPUT_SLOTS",
    "RECURRENT_OPS",
    "SLOT_RANKS",
    "HiddenSizeEvidence",
    "Recognition",
    "RecurrentLayer",
    "TensorRef",
    "build_layer",
]

RECURRENT_OPS = frozenset({"LSTM", "GRU", "RNN"})
GATES: Mapping[str, int] = MappingProxyType({"LSTM": 4, "GRU": 3, "RNN": 1, "MGU": 2})
ACTIVATIONS_PER_DIRECTION: Mapping[str, int] = MappingProxyType({"LSTM": 3, "GRU": 2, "RNN": 1})
DEFAULT_ACTIVATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),
    "GRU": ("Sigmoid", "Tanh"),
    "RNN": ("Tanh",),
})
INPUT_SLOTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
    "RNN": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
})
OUTPUT_SLOTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "LSTM": ("Y", "Y_h", "Y_c"),
    "GRU": ("Y", "Y_h"),
    "RNN": ("Y", "Y_h"),
})
DIRECTIONS: Mapping[str, int] = MappingProxyType({"forward": 1, "reverse": 1, "bidirectional": 2})
# The rank the spec gives every slot, whatever D, H and layout are.
SLOT_RANKS: Mapping[str, int] = MappingProxyType({
    "X": 3, "W": 3, "R": 3, "B": 2, "sequence_lens": 1, "initial_h": 3, "initial_c": 3, "P": 2,
    "Y": 4, "Y_h": 3, "Y_c": 3,
})
_ATTRIBUTE_TYPE_NAMES = {v: k.lower() for k, v in AttributeProto.AttributeType.items()}


class Recognition(enum.Enum):
    """How a recurrent layer was found in the graph.

    NATIVE: an ONNX LSTM/GRU/RNN node (also inside If/Loop/Scan bodies and model-local
    functions). CONTRIB: an onnxruntime contrib op (``com.microsoft`` DynamicQuantizeLSTM...).
    LOOP_CELL: a Loop whose body computes one LSTM/GRU/RNN step (tf2onnx's export of SimpleRNN,
    GRU with reset_after=False, masking, recurrent dropout). UNROLLED: per-step MatMuls and gates
    with no loop at all. STEP: one step of a cell per call, its state read from the model's
    inputs and returned through its outputs (torch's nn.LSTMCell / GRUCell / RNNCell). Rules
    that read slots of the ONNX op (attributes, Y, Y_h) apply as far as the view's facts are
    known; the parameter report says which way each layer was recognised.
    """

    NATIVE = "native"
    CONTRIB = "contrib"
    LOOP_CELL = "loop-cell"
    UNROLLED = "unrolled"
    STEP = "step"


@dataclass(frozen=True)
class TensorRef:
    """A tensor bound to an operator slot, as far as it is statically known."""

    slot: str
    name: str
    dtype: int | None
    shape: Shape | None
    is_constant: bool = False
    is_graph_input: bool = False
    producer: str | None = None  # node id
    info: TensorInfo | None = field(default=None, compare=False, repr=False)
    # The shape as the file stores it, when the view reads the tensor in another layout (a
    # contrib op's transposed W, archlint/contrib_ops.py); None when ``shape`` is the stored one.
    stored_shape: Shape | None = None

    @property
    def value(self) -> np.ndarray[Any, Any] | None:
        """The tensor's value when it is a small constant, else None (decoded on demand)."""
        return None if self.info is None else self.info.value

    @property
    def int_value(self) -> tuple[tuple[int, ...], Shape] | None:
        """(values flattened, shape) when the value is a small integer constant, else None
        (read without numpy where the tensor allows: TensorInfo.int_value)."""
        return None if self.info is None else self.info.int_value

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def dim(self, axis: int) -> Dim:
        if self.shape is None or not -len(self.shape) <= axis < len(self.shape):
            return None
        return self.shape[axis]


@dataclass(frozen=True)
class HiddenSizeEvidence:
    """One weight axis whose size is a multiple of H: ``dim = per_h · H``."""

    slot: str
    axis: int
    dim: int
    per_h: int

    @property
    def implied(self) -> int | None:
        """The H this axis implies, or None when ``dim`` is not a multiple of ``per_h``."""
        if self.dim < 0 or self.dim % self.per_h:
            return None
        return self.dim // self.per_h


@dataclass(frozen=True)
class RecurrentLayer:
    """A resolved LSTM, GRU or RNN node."""

    node: NodeInfo
    op_type: str
    # Attributes, resolved. ``None`` means absent; defaults are applied in properties.
    direction: str
    hidden_size: int | None
    layout: int
    activations: tuple[str, ...] | None
    activation_alpha: tuple[float, ...] | None
    activation_beta: tuple[float, ...] | None
    clip: float | None
    input_forget: int | None
    linear_before_reset: int | None
    attribute_types: Mapping[str, str]  # attribute name -> AttributeProto type, lower case
    inputs: Mapping[str, TensorRef]  # only the slots that are bound
    outputs: Mapping[str, TensorRef]
    producer_name: str = ""
    # Op types of the nodes whose subgraphs hold this node, innermost first (``("Loop",)`` for
    # an LSTM in a Loop body): some runtimes handle recurrent ops inside loops differently.
    enclosing_op_types: tuple[str, ...] = ()
    recognised_as: Recognition = Recognition.NATIVE
    # LOOP_CELL and UNROLLED layers: what archlint/cells/ recovered (I, H, the weight sources,
    # bias layout, direction). Their op slots (inputs, outputs) are empty: there is no node
    # whose X, W, R, B or Y the spec's shapes apply to.
    cell: CellFacts | None = None
    # Inputs of the node's own op beyond the ONNX op's slots (a contrib op's W_scale, ...).
    extra_inputs: Mapping[str, TensorRef] = field(default_factory=lambda: MappingProxyType({}))
    # the model's opset of the ONNX domain: which version of the op the node is (LSTM-1 below
    # opset 7, which onnxruntime has no kernel for); None when not known
    opset: int | None = None

    # --- derived ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.node.name

    @property
    def label(self) -> str:
        return self.node.label

    @property
    def node_op(self) -> str:
        """The node's op as target profiles name it: ``LSTM`` for an ONNX op, the qualified
        ``com.microsoft.DynamicQuantizeLSTM`` for another domain's, ``Loop`` for a Loop cell."""
        node = self.node
        return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"

    @property
    def display_op(self) -> str:
        """The op a user finds in the file: the contrib op's name, else the cell's op type."""
        return self.node.op_type if self.recognised_as is Recognition.CONTRIB else self.op_type

    @cached
    def gates(self) -> int:
        return GATES[self.op_type]

    @cached
    def num_directions(self) -> int | None:
        """D from the direction attribute; None when the attribute is not a valid direction."""
        return DIRECTIONS.get(self.direction)

    @cached
    def hidden_size_evidence(self) -> tuple[HiddenSizeEvidence, ...]:
        """Every known weight axis that carries H, in the order W rows, R rows, R columns, B.

        The one place that knows how W ``[D, g·H, I]``, R ``[D, g·H, H]`` and B ``[D, 2·g·H]``
        encode H: AL201 and the parameter report (archlint/params.py) both read it.
        """
        g = self.gates
        found: list[HiddenSizeEvidence] = []
        for slot, axis, per_h in (("W", 1, g), ("R", 1, g), ("R", 2, 1), ("B", 1, 2 * g)):
            value = self.conformable_dim(slot, axis)
            if isinstance(value, int):
                found.append(HiddenSizeEvidence(slot, axis, value, per_h))
        return tuple(found)

    @cached
    def implied_hidden_size(self) -> int | None:
        """H as the weights imply it: R's last dim, else R's or W's gate axis / gates."""
        by_axis = {(e.slot, e.axis): e for e in self.hidden_size_evidence}
        for key in (("R", 2), ("R", 1), ("W", 1)):
            evidence = by_axis.get(key)
            if evidence is not None and evidence.dim > 0 and evidence.implied is not None:
                return evidence.implied
        return None if self.cell is None else self.cell.hidden_size

    @cached
    def effective_hidden_size(self) -> int | None:
        """The declared hidden_size, or the one implied by the weights when it is absent."""
        return self.hidden_size if self.hidden_size is not None else self.implied_hidden_size

    @cached
    def input_size(self) -> int | None:
        """I: W's last dim, else X's last dim."""
        for slot, axis in (("W", 2), ("X", 2)):
            value = self.conformable_dim(slot, axis)
            if isinstance(value, int):
                return value
        return None if self.cell is None else self.cell.input_size

    @cached
    def seq_dim(self) -> Dim:
        return self.conformable_dim("X", 1 if self.layout == 1 else 0)

    @cached
    def batch_dim(self) -> Dim:
        return self.conformable_dim("X", 0 if self.layout == 1 else 1)

    def has_attribute(self, name: str) -> bool:
        """Whether the node carries the attribute at all (of whatever type)."""
        return name in self.attribute_types

    @cached
    def effective_activations(self) -> tuple[str, ...] | None:
        """Activation names for every direction, defaults applied; None if D is unknown."""
        if self.activations is not None:
            return self.activations
        if self.num_directions is None:
            return None
        return DEFAULT_ACTIVATIONS[self.op_type] * self.num_directions

    @property
    def in_loop_body(self) -> bool:
        """The nearest op around it is a Loop or Scan: it runs once per iteration."""
        return self.enclosing_op_types[:1] in (("Loop",), ("Scan",))

    @property
    def in_stack(self) -> bool:
        """A loop cell that is one of several cells of one loop body: its node is its first
        MatMul or Gemm, not the Loop or Scan."""
        return self.recognised_as is Recognition.LOOP_CELL \
            and self.node.op_type not in ("Loop", "Scan")

    @property
    def loop_op(self) -> str:
        """The op that loops a loop cell: its node (a Loop or Scan), or, for a cell of a
        stack, the op whose body holds it ("loop" when that is not known)."""
        if self.node.op_type in ("Loop", "Scan"):
            return self.node.op_type
        return self.enclosing_op_types[0] if self.enclosing_op_types else "loop"

    def tensor(self, slot: str) -> TensorRef | None:
        """The tensor bound to ``slot``: an input's, else an output's (inputs win over outputs
        of the same name). Looked up in both rather than in one merged table: a rule that
        walks every layer reads a slot or two of each, and a table a layer costs more."""
        ref = self.inputs.get(slot)
        return ref if ref is not None else self.outputs.get(slot)

    @cached
    def signature(self) -> Hashable:
        """The view's own facts without its names: two layers with equal signatures differ
        only in which node they are, which tensors they bind and what those tensors hold or
        are produced by.

        It holds the ops (the schema op, the node's op and domain, how it was recognised),
        every resolved attribute and attribute type, which inputs and outputs the node lists
        (empty names too), each bound slot's dtype, shape, stored shape and whether it is a
        constant, a graph input or produced by a node, the enclosing ops and the producer
        name. A rule whose findings depend on nothing else (``LayerRule.layer_only``) finds the
        same on every layer of one signature. A recognised cell's facts are its own: its
        signature equals no other layer's.
        """
        if self.cell is not None:
            return (object(),)
        node = self.node
        return (
            self.op_type, node.op_type, node.domain, self.recognised_as,
            self.direction, self.hidden_size, self.layout, self.activations,
            self.activation_alpha, self.activation_beta, self.clip, self.input_forget,
            self.linear_before_reset, tuple(self.attribute_types.items()),
            tuple(map(bool, node.inputs)), tuple(map(bool, node.outputs)),
            _slot_facts(self.inputs), _slot_facts(self.outputs), _slot_facts(self.extra_inputs),
            self.enclosing_op_types, self.producer_name, self.opset,
        )

    def shape(self, slot: str) -> Shape | None:
        ref = self.tensor(slot)
        return None if ref is None else ref.shape

    def dim(self, slot: str, axis: int) -> Dim:
        ref = self.tensor(slot)
        return None if ref is None else ref.dim(axis)

    def slot_elements(self, slot: str) -> int | None:
        """How many elements the tensor bound to ``slot`` holds, from its shape alone.

        None when the slot is unbound or any dimension is unknown or symbolic. Weight data is
        never read, so this works on models whose weights live in external files.
        """
        shape = self.shape(slot)
        return None if shape is None else known_product(shape)

    def has_spec_rank(self, slot: str) -> bool:
        """True when the slot is bound, its rank is known and it is the rank the spec gives."""
        ref = self.tensor(slot)
        return ref is not None and ref.rank is not None and ref.rank == SLOT_RANKS.get(slot)

    def conformable_dim(self, slot: str, axis: int) -> Dim:
        """A dim of a slot that has the spec's rank; None ("cannot check") otherwise.

        A tensor of the wrong rank is one defect (reported once, by the rank rule): reading its
        axes as if they were the spec's would turn it into a cascade of unrelated findings.
        """
        return self.dim(slot, axis) if self.has_spec_rank(slot) else None

    # --- what the spec says each slot must look like ------------------------------------------
    def expected_shape(self, slot: str, hidden_size: int | None = None) -> Shape | None:
        """The spec's shape for a slot from D, H, I, batch and seq; None when D or H is unknown.

        ``hidden_size`` overrides H (the parameter report asks with the H the weights imply).
        Dimensions that cannot be derived are None ("anything").
        """
        h = hidden_size if hidden_size is not None else self.effective_hidden_size
        if h not in self._expected_shapes:
            self._expected_shapes[h] = self._spec_shapes(h)
        shapes = self._expected_shapes[h]
        return None if shapes is None else shapes.get(slot)

    @cached
    def _expected_shapes(self) -> dict[int | None, dict[str, Shape] | None]:
        return {}  # H -> the spec's shapes: the view is immutable, so they are computed once

    def _spec_shapes(self, h: int | None) -> dict[str, Shape] | None:
        d = self.num_directions
        if d is None or h is None:
            return None
        g, i = self.gates, self.input_size
        batch, seq = self.batch_dim, self.seq_dim
        state: Shape = (batch, d, h) if self.layout == 1 else (d, batch, h)
        shapes: dict[str, Shape] = {
            "W": (d, g * h, i),
            "R": (d, g * h, h),
            "B": (d, 2 * g * h),
            "P": (d, 3 * h),
            "sequence_lens": (batch,),
            "initial_h": state,
            "initial_c": state,
            "Y": (batch, seq, d, h) if self.layout == 1 else (seq, d, batch, h),
            "Y_h": state,
            "Y_c": state,
        }
        return shapes


def _slot_facts(refs: Mapping[str, TensorRef]) -> tuple[Hashable, ...]:
    """What :attr:`RecurrentLayer.signature` keeps of bound slots: all but names and values."""
    return tuple([(slot, ref.dtype, ref.shape, ref.stored_shape, ref.is_constant,
                   ref.is_graph_input, ref.producer is None) for slot, ref in refs.items()])


def build_layer(
    graph: ModelGraph, node: NodeInfo, producer_name: str = "", op: str | None = None
) -> RecurrentLayer:
    """The view of one node bound as ONNX op ``op`` (its own op type unless given).

    Every layer of a model, contrib ops and recognised cells too: archlint/layers.py.
    """
    op = op or node.op_type
    # RecurrentLayer(**every field), its __dict__ made here in field order: the frozen
    # __init__ costs one object.__setattr__ per field, 19 a view (tests/test_view_records.py
    # compares the two)
    fields: dict[str, object] = {"node": node, "op_type": op}
    fields.update(_ABSENT_ATTRIBUTES)
    types: dict[str, str] = {}
    for attr in node.proto.attribute:
        name, kind = attr.name, attr.type
        if not isinstance(name, str):  # not UTF-8: the model is corrupt (graph.not_text)
            raise not_text(name)
        types[name] = _ATTRIBUTE_TYPE_NAMES.get(kind, "undefined")
        read = _ATTRIBUTE_READERS.get(name)
        if read is None or attr.ref_attr_name:
            continue  # not kept by the view; or a function body's reference to its caller's
            # attribute, whose value is unknown
        try:
            value = _attribute_value(attr, kind)
        except Exception:  # malformed attribute: treated as absent, its type still reported
            continue
        fields[name] = read(value)  # a later one of the same name wins
    fields["attribute_types"] = MappingProxyType(types)
    fields["inputs"] = MappingProxyType(_bind(graph, node, INPUT_SLOTS[op], node.inputs))
    fields["outputs"] = MappingProxyType(_bind(graph, node, OUTPUT_SLOTS[op], node.outputs))
    fields["producer_name"] = producer_name
    fields["enclosing_op_types"] = _enclosing_op_types(graph, node) if node.parent else ()
    fields["recognised_as"] = Recognition.NATIVE
    fields["cell"] = None
    fields["extra_inputs"] = _NO_SLOTS
    fields["opset"] = graph.opset
    layer: RecurrentLayer = object.__new__(RecurrentLayer)
    object.__setattr__(layer, "__dict__", fields)
    return layer


def _attribute_value(attr: AttributeProto, kind: int) -> Any:
    """``onnx.helper.get_attribute_value`` (which raises on a malformed attribute), with the
    types a recurrent op's attributes have read directly, as it reads them."""
    if kind == AttributeProto.INT:
        return attr.i
    if kind == AttributeProto.STRING:
        return attr.s
    if kind == AttributeProto.FLOAT:
        return attr.f
    if kind == AttributeProto.STRINGS:
        return list(attr.strings)
    if kind == AttributeProto.FLOATS:
        return list(attr.floats)
    if kind == AttributeProto.INTS:
        return list(attr.ints)
    from onnx import helper  # the package: only for an attribute of another type

    return helper.get_attribute_value(attr)


def _enclosing_op_types(graph: ModelGraph, node: NodeInfo) -> tuple[str, ...]:
    found: list[str] = []
    parent = graph.nodes.get(node.parent) if node.parent else None
    while parent is not None:
        found.append(parent.op_type)
        parent = graph.nodes.get(parent.parent) if parent.parent else None
    return tuple(found)


def _bind(
    graph: ModelGraph, node: NodeInfo, slots: tuple[str, ...], names: tuple[str, ...]
) -> dict[str, TensorRef]:
    bound: dict[str, TensorRef] = {}
    scope = node.graph
    for slot, name in zip(slots, names, strict=False):  # extra inputs: not ours
        if not name:
            continue  # an omitted optional input or output
        info = graph.tensor(name, scope)
        bound[slot] = TensorRef(slot, name, None, None) if info is None \
            else _tensor_ref(slot, name, info)
    return bound


def _tensor_ref(slot: str, name: str, info: TensorInfo) -> TensorRef:
    """``TensorRef`` of a known tensor, its fields from ``info``, at half the cost of the
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field, five views a layer;
    graph._tensor_info does the same). A field added to TensorRef must be added here:
    tests/test_view_records.py compares the two."""
    ref: TensorRef = object.__new__(TensorRef)
    ref.__dict__.update(
        slot=slot, name=name, dtype=info.dtype, shape=info.shape,
        is_constant=info.is_constant, is_graph_input=info.is_graph_input,
        producer=info.producer, info=info, stored_shape=None,
    )
    return ref


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_str(value: object, default: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else default


def _as_str_tuple(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value)


def _as_float_tuple(value: object) -> tuple[float, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(float(v) for v in value if isinstance(v, int | float))


# The attributes a view keeps, in RecurrentLayer's field order: the field's value when the
# attribute is absent, and how an attribute's value (onnx.helper's) becomes the field's.
_NO_SLOTS: Mapping[str, TensorRef] = MappingProxyType({})  # immutable: one for every view
_ABSENT_ATTRIBUTES: MappingProxyType[str, object] = MappingProxyType({
    "direction": "forward", "hidden_size": None, "layout": 0, "activations": None,
    "activation_alpha": None, "activation_beta": None, "clip": None, "input_forget": None,
    "linear_before_reset": None,
})
_ATTRIBUTE_READERS: Mapping[str, Callable[[object], object]] = MappingProxyType({
    "direction": lambda value: _as_str(value, "forward"),
    "hidden_size": _as_int,
    "layout": lambda value: _as_int(value) or 0,
    "activations": _as_str_tuple,
    "activation_alpha": _as_float_tuple,
    "activation_beta": _as_float_tuple,
    "clip": _as_float,
    "input_forget": _as_int,
    "linear_before_reset": _as_int,
})
