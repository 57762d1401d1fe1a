"""One typed, frozen view per LSTM / GRU / RNN node: resolved attributes and shapes.

Rules read these views and never parse AttributeProto themselves. Shapes are resolved from
initializers, Constant nodes, declared value_info and ONNX shape inference, in that order of
trust. Anything unknown is ``None``, which rules read as "cannot check".

Notation as in the ONNX spec: D = num_directions, H = hidden_size, I = input size,
gates = 4 (LSTM, order i, o, f, c), 3 (GRU, order z, r, h) or 1 (RNN).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto

from archlint.graph import ModelGraph, NodeInfo
from archlint.shapes import Dim, Shape

__all__ = [
    "ACTIVATIONS_PER_DIRECTION",
    "DEFAULT_ACTIVATIONS",
    "GATES",
    "INPUT_SLOTS",
    "OUTPUT_SLOTS",
    "RECURRENT_OPS",
    "RecurrentLayer",
    "TensorRef",
    "build_layers",
]

RECURRENT_OPS = frozenset({"LSTM", "GRU", "RNN"})
GATES: Mapping[str, int] = MappingProxyType({"LSTM": 4, "GRU": 3, "RNN": 1})
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
_ATTRIBUTE_TYPE_NAMES = {v: k.lower() for k, v in AttributeProto.AttributeType.items()}


@dataclass(frozen=True)
class TensorRef:
    """A tensor bound to an operator slot, as far as it is statically known."""

    slot: str
    name: str
    dtype: int | None
    shape: Shape | None
    value: np.ndarray[Any, Any] | None = field(default=None, compare=False, repr=False)
    is_constant: bool = False
    is_graph_input: bool = False
    producer: str | None = None  # node id

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def dim(self, axis: int) -> Dim:
        if self.shape is None or not -len(self.shape) <= axis < len(self.shape):
            return None
        return self.shape[axis]


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

    # --- derived ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.node.name

    @property
    def label(self) -> str:
        return self.node.label

    @property
    def gates(self) -> int:
        return GATES[self.op_type]

    @property
    def num_directions(self) -> int | None:
        """D from the direction attribute; None when the attribute is not a valid direction."""
        return DIRECTIONS.get(self.direction)

    @property
    def implied_hidden_size(self) -> int | None:
        """H as the weights imply it: R's last dim, else W's or R's gate axis / gates."""
        r_last = self.dim("R", 2)
        if isinstance(r_last, int) and r_last > 0:
            return r_last
        for slot in ("R", "W"):
            rows = self.dim(slot, 1)
            if isinstance(rows, int) and rows > 0 and rows % self.gates == 0:
                return rows // self.gates
        return None

    @property
    def effective_hidden_size(self) -> int | None:
        """The declared hidden_size, or the one implied by the weights when it is absent."""
        return self.hidden_size if self.hidden_size is not None else self.implied_hidden_size

    @property
    def input_size(self) -> int | None:
        """I: W's last dim, else X's last dim."""
        for slot, axis in (("W", 2), ("X", 2)):
            value = self.dim(slot, axis)
            if isinstance(value, int):
                return value
        return None

    @property
    def seq_dim(self) -> Dim:
        return self.dim("X", 1 if self.layout == 1 else 0)

    @property
    def batch_dim(self) -> Dim:
        return self.dim("X", 0 if self.layout == 1 else 1)

    @property
    def effective_activations(self) -> tuple[str, ...] | None:
        """Activation names for every direction, defaults applied; None if D is unknown."""
        if self.activations is not None:
            return self.activations
        if self.num_directions is None:
            return None
        return DEFAULT_ACTIVATIONS[self.op_type] * self.num_directions

    def tensor(self, slot: str) -> TensorRef | None:
        return self.inputs.get(slot) or self.outputs.get(slot)

    def shape(self, slot: str) -> Shape | None:
        ref = self.tensor(slot)
        return None if ref is None else ref.shape

    def dim(self, slot: str, axis: int) -> Dim:
        ref = self.tensor(slot)
        return None if ref is None else ref.dim(axis)

    # --- what the spec says each slot must look like ------------------------------------------
    def expected_shape(self, slot: str) -> Shape | None:
        """The spec's shape for a slot from D, H, I, batch and seq; None when D or H is unknown.

        Dimensions that cannot be derived are None ("anything").
        """
        d, h = self.num_directions, self.effective_hidden_size
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
        return shapes.get(slot)


def build_layers(graph: ModelGraph, producer_name: str = "") -> tuple[RecurrentLayer, ...]:
    return tuple(
        _build_layer(graph, node, producer_name) for node in graph.iter_nodes(RECURRENT_OPS)
        if node.domain in ("", "ai.onnx")
    )


def _build_layer(graph: ModelGraph, node: NodeInfo, producer_name: str) -> RecurrentLayer:
    attrs: dict[str, Any] = {}
    types: dict[str, str] = {}
    for attr in node.proto.attribute:
        types[attr.name] = _ATTRIBUTE_TYPE_NAMES.get(attr.type, "undefined")
        try:
            attrs[attr.name] = onnx.helper.get_attribute_value(attr)
        except Exception:  # malformed attribute: treated as absent, its type still reported
            continue
    op = node.op_type
    return RecurrentLayer(
        node=node,
        op_type=op,
        direction=_as_str(attrs.get("direction"), "forward"),
        hidden_size=_as_int(attrs.get("hidden_size")),
        layout=_as_int(attrs.get("layout")) or 0,
        activations=_as_str_tuple(attrs.get("activations")),
        activation_alpha=_as_float_tuple(attrs.get("activation_alpha")),
        activation_beta=_as_float_tuple(attrs.get("activation_beta")),
        clip=_as_float(attrs.get("clip")),
        input_forget=_as_int(attrs.get("input_forget")),
        linear_before_reset=_as_int(attrs.get("linear_before_reset")),
        attribute_types=MappingProxyType(types),
        inputs=MappingProxyType(_bind(graph, node, INPUT_SLOTS[op], node.inputs)),
        outputs=MappingProxyType(_bind(graph, node, OUTPUT_SLOTS[op], node.outputs)),
        producer_name=producer_name,
        enclosing_op_types=_enclosing_op_types(graph, node),
    )


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
    for slot, name in zip(slots, names, strict=False):  # extra inputs: not ours
        if not name:
            continue  # an omitted optional input or output
        info = graph.tensor(name, node.graph)
        if info is None:
            bound[slot] = TensorRef(slot, name, None, None)
            continue
        bound[slot] = TensorRef(
            slot=slot,
            name=name,
            dtype=info.dtype,
            shape=info.shape,
            value=info.value,
            is_constant=info.is_constant,
            is_graph_input=info.is_graph_input,
            producer=info.producer,
        )
    return bound


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
