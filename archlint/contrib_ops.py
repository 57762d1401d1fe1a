"""onnxruntime's contrib recurrent ops (``com.microsoft``), seen as the LSTM they compute.

onnxruntime defines two recurrent contrib ops (docs/ContribOperators.md; the schemas in
onnxruntime/core/graph/contrib_ops/; the kernels in onnxruntime/contrib_ops/cpu/):

* ``DynamicQuantizeLSTM`` (quantization_defs.cc; kernel quantization/dynamic_quantize_lstm.cc),
  what ``onnxruntime.quantization.quantize_dynamic`` writes for an LSTM whose W and R are
  initializers. Inputs 0-7 are the LSTM's, but W is stored ``[D, I, 4·H]`` and R ``[D, H, 4·H]``
  (transposed against ONNX LSTM), as int8 or uint8; inputs 8-11 are W_scale, W_zero_point,
  R_scale, R_zero_point, each ``[D]`` (per tensor, one per direction) or ``[D, 4·H]`` (per
  channel). No ``layout`` attribute: the kernel (LSTMBase) is sequence first.
* ``AttnLSTM`` (attn_lstm_schema_defs.cc; kernel attnlstm/deep_cpu_attn_lstm.cc): an LSTM with a
  Bahdanau attention wrapper. Inputs 0-7 are the LSTM's in ONNX layout, except that W's last
  axis is ``I + A``: the cell reads ``[x_t, attention_{t-1}]``, A being AW's last axis when the
  attention layer AW is given, else the memory depth (M's last axis, MW's axis 1). Inputs 8-13
  are QW, MW, V, M, memory_seq_lens, AW.

Each node becomes a :class:`~archlint.recurrent.RecurrentLayer` with ``op_type="LSTM"`` and
``recognised_as=CONTRIB``: the slots every LSTM has are bound as the cell reads them, so
W is ``[D, 4·H, I]`` and R ``[D, 4·H, H]`` in the view, whatever the storage. Where the view's
shape differs from the stored one, the TensorRef keeps ``stored_shape`` and this module says how
the op stores it (:func:`stored_layout`), so findings can show the file's own shape. The op's own
inputs (scales, zero points, attention weights) are in ``layer.extra_inputs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.contrib_inference import CONTRIB_CELLS, CONTRIB_DOMAIN
from archlint.graph import ModelGraph, NodeInfo
from archlint.recurrent import Recognition, RecurrentLayer, TensorRef
from archlint.shapes import Dim, Shape

__all__ = [
    "CONTRIB_DOMAIN",
    "CONTRIB_OPS",
    "ContribOp",
    "build_contrib_layer",
    "contrib_op",
    "stored_layout",
]

_LSTM_SLOTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")


@dataclass(frozen=True)
class ContribOp:
    """What archlint knows about one contrib recurrent op, from its schema and kernel."""

    name: str
    cell: str  # the ONNX op it computes
    extra_slots: tuple[str, ...]  # inputs after the LSTM's eight, by position
    attribute_types: Mapping[str, str]  # the schema's attributes (no layout on either op)
    stored: Mapping[str, str]  # slot -> how the op stores it, where it differs from ONNX
    schema: str  # where the schema and the kernel are, for messages and docs

    @property
    def qualified(self) -> str:
        """``com.microsoft.DynamicQuantizeLSTM``: how target profiles name the op."""
        return f"{CONTRIB_DOMAIN}.{self.name}"


_LSTM_ATTRIBUTES = {
    "activation_alpha": "floats", "activation_beta": "floats", "activations": "strings",
    "clip": "float", "direction": "string", "hidden_size": "int", "input_forget": "int",
}

CONTRIB_OPS: Mapping[str, ContribOp] = MappingProxyType({
    "DynamicQuantizeLSTM": ContribOp(
        name="DynamicQuantizeLSTM",
        cell=CONTRIB_CELLS["DynamicQuantizeLSTM"],
        extra_slots=("W_scale", "W_zero_point", "R_scale", "R_zero_point"),
        attribute_types=MappingProxyType(dict(_LSTM_ATTRIBUTES)),
        stored=MappingProxyType({"W": "[D, I, 4·H]", "R": "[D, H, 4·H]"}),
        schema="onnxruntime/core/graph/contrib_ops/quantization_defs.cc (DynamicQuantizeLSTM); "
               "kernel onnxruntime/contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc",
    ),
    "AttnLSTM": ContribOp(
        name="AttnLSTM",
        cell=CONTRIB_CELLS["AttnLSTM"],
        extra_slots=("QW", "MW", "V", "M", "memory_seq_lens", "AW"),
        attribute_types=MappingProxyType(dict(_LSTM_ATTRIBUTES)),
        stored=MappingProxyType({"W": "[D, 4·H, I + A] (A: AW's last axis, else M's last axis)"}),
        schema="onnxruntime/contrib_ops/cpu/attnlstm/attn_lstm_schema_defs.cc; "
               "kernel onnxruntime/contrib_ops/cpu/attnlstm/deep_cpu_attn_lstm.cc",
    ),
})


def contrib_op(node: NodeInfo) -> ContribOp | None:
    """The contrib recurrent op this node is, or None."""
    if node.domain != CONTRIB_DOMAIN:
        return None
    return CONTRIB_OPS.get(node.op_type)


def stored_layout(layer: RecurrentLayer, slot: str) -> str | None:
    """How a contrib layer's op stores ``slot`` when that differs from the ONNX LSTM's."""
    if layer.recognised_as is not Recognition.CONTRIB:
        return None
    op = contrib_op(layer.node)
    return None if op is None else op.stored.get(slot)


def build_contrib_layer(
    graph: ModelGraph, node: NodeInfo, base: RecurrentLayer
) -> RecurrentLayer:
    """The contrib node's view, from ``base`` (the node bound as an ONNX LSTM by position)."""
    op = contrib_op(node)
    if op is None:
        raise ValueError(f"{node.domain}.{node.op_type} is not a contrib recurrent op")
    extra = _bind_extra(graph, node, op)
    inputs = dict(base.inputs)
    if op.name == "DynamicQuantizeLSTM":
        for slot in ("W", "R"):
            if slot in inputs:
                inputs[slot] = _view(inputs[slot], _swap_last(inputs[slot].shape))
    elif op.name == "AttnLSTM" and "W" in inputs:
        inputs["W"] = _view(inputs["W"], _attn_w(inputs["W"].shape, extra))
    return dataclasses.replace(
        base, inputs=MappingProxyType(inputs), extra_inputs=MappingProxyType(extra),
        recognised_as=Recognition.CONTRIB,
    )


def _bind_extra(graph: ModelGraph, node: NodeInfo, op: ContribOp) -> dict[str, TensorRef]:
    bound: dict[str, TensorRef] = {}
    for slot, name in zip(op.extra_slots, node.inputs[len(_LSTM_SLOTS):], strict=False):
        if not name:
            continue
        info = graph.tensor(name, node.graph)
        if info is None:
            bound[slot] = TensorRef(slot, name, None, None)
            continue
        bound[slot] = TensorRef(
            slot=slot, name=name, dtype=info.dtype, shape=info.shape,
            is_constant=info.is_constant, is_graph_input=info.is_graph_input,
            producer=info.producer, info=info,
        )
    return bound


def _view(ref: TensorRef, shape: Shape | None) -> TensorRef:
    """The same tensor with the shape the LSTM cell reads; the stored shape kept when it differs."""
    if shape == ref.shape:
        return ref
    return dataclasses.replace(ref, shape=shape, stored_shape=ref.shape)


def _swap_last(shape: Shape | None) -> Shape | None:
    """``[D, I, 4·H]`` -> ``[D, 4·H, I]``; a tensor of another rank is left as it is (AL101
    reports the rank, which is wrong in either layout)."""
    if shape is None or len(shape) != 3:
        return shape
    return (shape[0], shape[2], shape[1])


def _attn_w(shape: Shape | None, extra: Mapping[str, TensorRef]) -> Shape | None:
    """AttnLSTM's W ``[D, 4·H, I + A]`` read as the LSTM part ``[D, 4·H, I]``; I unknown
    (None) when A is not known."""
    if shape is None or len(shape) != 3:
        return shape
    attention = _attention_size(extra)
    last: Dim = None
    if isinstance(shape[2], int) and attention is not None:
        last = shape[2] - attention
    return (shape[0], shape[1], last)


def _attention_size(extra: Mapping[str, TensorRef]) -> int | None:
    """A: AW's last axis when the attention layer is given, else the memory depth."""
    for slot, axis in (("AW", 2), ("M", 2), ("MW", 1)):
        ref = extra.get(slot)
        if slot == "AW" and ref is None:
            continue
        value = None if ref is None or ref.rank != 3 else ref.dim(axis)
        if isinstance(value, int):
            return value
        if slot == "AW":
            return None  # AW is given but its width is unknown: the memory depth is not A
    return None
