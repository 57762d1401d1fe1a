"""Parameter rows for onnxruntime's contrib recurrent ops (archlint/contrib_ops.py).

Kept apart from archlint/params.py, which counts ONNX ops: ``count_model`` hands a layer with
``recognised_as=CONTRIB`` here. A row lists what the file stores, each tensor with its dtype:

* ``DynamicQuantizeLSTM``: W and R as int8/uint8 (elements as stored; the float LSTM it came
  from had as many), B and P as float, and W_scale, W_zero_point, R_scale, R_zero_point. The
  scales and zero points are quantization parameters: counted in ONNX (the file stores them),
  0 in PyTorch and Keras, whose float layer has none.
* ``AttnLSTM``: W ``[D, 4·H, I + A]`` as stored, R, B, P, and the attention weights QW, MW, V,
  AW. The memory M and memory_seq_lens are inputs, not weights. No PyTorch or Keras layer has
  this attention wrapper, so those conventions are n/a.
"""

from __future__ import annotations

from types import MappingProxyType

from archlint.graph import dtype_name
from archlint.params_native import count_native_layer
from archlint.params_types import Convention, LayerParams, SlotCount
from archlint.recurrent import RecurrentLayer, TensorRef
from archlint.shapes import format_shape, known_product

__all__ = ["QUANTIZATION_SLOTS", "count_contrib_layer"]

QUANTIZATION_SLOTS = ("W_scale", "W_zero_point", "R_scale", "R_zero_point")
_ATTENTION_WEIGHTS = ("QW", "MW", "V", "AW")


def count_contrib_layer(layer: RecurrentLayer) -> LayerParams:
    """The row of a contrib recurrent layer: every stored weight with its dtype."""
    base = count_native_layer(layer)
    op = layer.display_op
    slots = [_stored(entry, layer.inputs[entry.slot]) for entry in base.slots]
    unsupported = dict(base.unsupported)
    notes = [f"recognised as contrib op {layer.node_op}", *base.notes]
    if op == "DynamicQuantizeLSTM":
        extra = [layer.extra_inputs[s] for s in QUANTIZATION_SLOTS if s in layer.extra_inputs]
        slots += [_slot(ref, framework=False) for ref in extra]
        notes.append("quantized: " + "; ".join(_describe(ref) for ref in (
            *(layer.inputs[s] for s in ("W", "R") if s in layer.inputs), *extra)))
        notes.append("W_scale, W_zero_point, R_scale and R_zero_point are quantization "
                     "parameters: counted in ONNX only (the float layer has none)")
    else:
        extra = [layer.extra_inputs[s] for s in _ATTENTION_WEIGHTS if s in layer.extra_inputs]
        slots += [_slot(ref, framework=True) for ref in extra]
        reason = f"{op} (an LSTM with a Bahdanau attention wrapper) has no such layer"
        unsupported[Convention.PYTORCH] = reason
        unsupported[Convention.KERAS] = reason
    return LayerParams(
        graph=base.graph, node=base.node, label=base.label, node_index=base.node_index,
        op_type=op, kind=base.kind, slots=tuple(slots), direction=base.direction,
        num_directions=base.num_directions, input_size=base.input_size,
        hidden_size=base.hidden_size, implied_hidden_size=base.implied_hidden_size,
        unsupported=MappingProxyType(unsupported), notes=tuple(notes),
        recognised_as=layer.recognised_as.value,
    )


def _elements(ref: TensorRef) -> int | None:
    shape = ref.stored_shape if ref.stored_shape is not None else ref.shape
    return None if shape is None else known_product(shape)


def _stored(entry: SlotCount, ref: TensorRef) -> SlotCount:
    """A weight slot counted from its stored shape (AttnLSTM's W is wider than the view)."""
    elements = _elements(ref)
    if elements == entry.elements:
        return SlotCount(entry.slot, entry.tensor, entry.elements, entry.pytorch, entry.keras,
                         dtype=_dtype(ref))
    # W and R are the only slots whose view differs from storage; neither is halved for Keras
    return SlotCount(entry.slot, entry.tensor, elements, elements, elements, dtype=_dtype(ref))


def _slot(ref: TensorRef, framework: bool) -> SlotCount:
    elements = _elements(ref)
    counted = elements if framework else 0
    return SlotCount(ref.slot, ref.name, elements, counted, counted, dtype=_dtype(ref))


def _dtype(ref: TensorRef) -> str | None:
    return None if ref.dtype is None else dtype_name(ref.dtype)


def _describe(ref: TensorRef) -> str:
    shape = ref.stored_shape if ref.stored_shape is not None else ref.shape
    return f"{ref.slot} {dtype_name(ref.dtype)} {format_shape(shape)}"
