"""The fields a target profile's conditions may read: typed values of one RecurrentLayer view.

A profile is data, so what it can test is this closed table: every name a profile uses is
checked against it when the profile is loaded. Each field reads the view (never the protobuf);
``None`` means "not known statically" (absent attribute, non-constant tensor), and the
condition evaluator treats a comparison against ``None`` as not holding, so an unknown value
never produces a finding.

Attributes that the ONNX spec gives a default (``input_forget``, ``linear_before_reset``) are
read with that default applied, because onnxruntime writes schema defaults into the node before
its execution providers look at it (``Graph::VerifyNodeAndOpMatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from archlint.graph import dtype_name
from archlint.recurrent import ACTIVATIONS_PER_DIRECTION, DEFAULT_ACTIVATIONS, RecurrentLayer

__all__ = ["FIELDS", "Field", "FieldValue", "field_value"]

FieldValue = int | float | str | bool | tuple[str, ...] | tuple[float, ...] | None


@dataclass(frozen=True)
class Field:
    """One readable field: its kind (for validating profile values) and what it means."""

    name: str
    kind: str  # "int", "float", "str", "bool", "strs" (tuple of str), "floats"
    doc: str
    read: Callable[[RecurrentLayer], FieldValue]
    missing: str = "absent"  # how an unknown value reads in a finding


# onnx-tensorrt's getActivationDefaultAlpha / getActivationDefaultBeta: an activation whose
# default is 0 takes no value from activation_alpha / activation_beta, the others take the next
# one in order (parseLSTMActivationValues). ONNX documents the same "consumed in order" rule.
_DEFAULT_ALPHA = MappingProxyType({
    "LeakyRelu": 0.01, "Elu": 1.0, "HardSigmoid": 0.2, "ScaledTanh": 1.0, "ThresholdedRelu": 1.0,
})
_DEFAULT_BETA = MappingProxyType({"HardSigmoid": 0.5, "ScaledTanh": 1.0})


def _per_activation(
    names: tuple[str, ...], given: tuple[float, ...] | None, defaults: Mapping[str, float]
) -> tuple[float, ...]:
    # Compared as float32, the way the parser holds both the attribute and its defaults.
    values = [float(np.float32(v)) for v in given or ()]
    result: list[float] = []
    for name in names:
        default = float(np.float32(defaults.get(name, 0.0)))
        if default == 0.0 or not values:
            result.append(default)
        else:
            result.append(values.pop(0))
    return tuple(result)


def _reverse_differs(layer: RecurrentLayer) -> tuple[str, ...]:
    """Which of activations, activation_alpha, activation_beta differ between the directions."""
    names = layer.effective_activations
    if layer.num_directions != 2 or names is None:
        return ()
    k = ACTIVATIONS_PER_DIRECTION[layer.op_type]
    if len(names) < 2 * k:
        return ()  # a wrong count is a different defect
    differs: list[str] = []
    if names[:k] != names[k : 2 * k]:
        differs.append("activations")
    for attr, given, defaults in (
        ("activation_alpha", layer.activation_alpha, _DEFAULT_ALPHA),
        ("activation_beta", layer.activation_beta, _DEFAULT_BETA),
    ):
        values = _per_activation(names[: 2 * k], given, defaults)
        if values[:k] != values[k:]:
            differs.append(attr)
    return tuple(differs)


def _lower(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(v.lower() for v in values)


def _default_activations_lower(layer: RecurrentLayer) -> tuple[str, ...] | None:
    d = layer.num_directions
    if d is None:
        return None
    return tuple(a.lower() for a in DEFAULT_ACTIVATIONS[layer.op_type] * d)


def _default_activations_both_lower(layer: RecurrentLayer) -> tuple[str, ...]:
    return tuple(a.lower() for a in DEFAULT_ACTIVATIONS[layer.op_type] * 2)


def _expected_activation_count(layer: RecurrentLayer) -> int | None:
    d = layer.num_directions
    return None if d is None else ACTIVATIONS_PER_DIRECTION[layer.op_type] * d


def _x_dtype(layer: RecurrentLayer) -> str | None:
    ref = layer.tensor("X")
    return None if ref is None or ref.dtype is None else dtype_name(ref.dtype)


def _sequence_lens_min(layer: RecurrentLayer) -> int | None:
    ref = layer.tensor("sequence_lens")
    if ref is None or ref.value is None or ref.value.size == 0 \
            or not np.issubdtype(ref.value.dtype, np.integer):
        return None  # unknown, or not lengths at all (another rule's finding)
    return int(np.min(ref.value))


def _peephole_all_zero(layer: RecurrentLayer) -> bool | None:
    ref = layer.tensor("P") if layer.op_type == "LSTM" else None
    if ref is None or ref.value is None:
        return None
    return bool(not np.any(ref.value))


def _fields(*fields: Field) -> Mapping[str, Field]:
    return MappingProxyType({f.name: f for f in fields})


FIELDS: Mapping[str, Field] = _fields(
    Field("op_type", "str", "LSTM, GRU or RNN (the cell a contrib op computes: LSTM)",
          lambda la: la.op_type),
    Field("node_op", "str",
          "the node's own op: LSTM, GRU, RNN, or a contrib op by qualified name "
          "(com.microsoft.DynamicQuantizeLSTM, com.microsoft.AttnLSTM)",
          lambda la: la.node_op),
    Field("direction", "str", "the direction attribute as written (default forward)",
          lambda la: la.direction),
    Field("num_directions", "int", "D: 1 or 2; unknown for an invalid direction",
          lambda la: la.num_directions, "unknown"),
    Field("layout", "int", "0 (sequence first, default) or 1 (batch first)",
          lambda la: la.layout),
    Field("hidden_size", "int", "the hidden_size attribute; absent when not written",
          lambda la: la.hidden_size),
    Field("clip", "float", "the clip attribute; absent when not written", lambda la: la.clip),
    Field("input_forget", "int", "LSTM input_forget, spec default 0 applied",
          lambda la: la.input_forget if la.input_forget is not None else 0),
    Field("linear_before_reset", "int", "GRU linear_before_reset, spec default 0 applied",
          lambda la: la.linear_before_reset if la.linear_before_reset is not None else 0),
    Field("activations", "strs", "the activations attribute as written; absent when not written",
          lambda la: la.activations),
    Field("activations_lower", "strs", "the activations attribute, lower-cased",
          lambda la: _lower(la.activations)),
    Field("effective_activations", "strs", "activations with the spec defaults applied",
          lambda la: la.effective_activations),
    Field("default_activations_lower", "strs",
          "the spec's default activations for every direction, lower-cased",
          _default_activations_lower),
    Field("default_activations_both_lower", "strs",
          "the spec's default activations for two directions, lower-cased, whatever D is",
          _default_activations_both_lower),
    Field("activation_count", "int", "how many activations are written; absent when none",
          lambda la: None if la.activations is None else len(la.activations)),
    Field("expected_activation_count", "int", "activations per direction (3/2/1) times D",
          _expected_activation_count),
    Field("activations_per_direction", "int", "3 for LSTM, 2 for GRU, 1 for RNN",
          lambda la: ACTIVATIONS_PER_DIRECTION[la.op_type]),
    Field("activation_alpha", "floats", "the activation_alpha attribute; absent when not written",
          lambda la: la.activation_alpha),
    Field("activation_beta", "floats", "the activation_beta attribute; absent when not written",
          lambda la: la.activation_beta),
    Field("inputs", "strs", "the input slots bound to a tensor (X, W, R, B, sequence_lens, ...)",
          lambda la: tuple(la.inputs)),
    Field("x_dtype", "str", "X's element type (float, double, float16, bfloat16...)", _x_dtype,
          "unknown"),
    Field("sequence_lens_min", "int",
          "the smallest sequence_lens value when it is a known constant", _sequence_lens_min,
          "not a known constant"),
    Field("peephole_all_zero", "bool", "P is a known constant of zeros (LSTM)",
          _peephole_all_zero, "not a known constant"),
    Field("reverse_differs", "strs",
          "bidirectional only: which of activations, activation_alpha, activation_beta differ "
          "between the forward and reverse halves (defaults filled in as onnx-tensorrt does)",
          _reverse_differs),
    Field("opset", "int", "the model's opset of the ONNX domain (below 7: LSTM-1, GRU-1 or -3, "
          "RNN-1); absent when not known", lambda la: la.opset),
    Field("enclosing_ops", "strs",
          "op types of the nodes whose subgraphs hold this node, innermost first (Loop, If, Scan)",
          lambda la: la.enclosing_op_types),
)


def field_value(layer: RecurrentLayer, name: str) -> FieldValue:
    return FIELDS[name].read(layer)
