"""What the ONNX spec says about LSTM/GRU/RNN attributes, for the attribute rules."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from archlint.contrib_ops import CONTRIB_OPS
from archlint.recurrent import RecurrentLayer

# Every activation name the LSTM/GRU/RNN spec lists (case as written in the spec).
SPEC_ACTIVATIONS = (
    "Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
    "HardSigmoid", "Elu", "Softsign", "Softplus",
)
# Activations that consume a value of activation_alpha / activation_beta, in spec order.
TAKES_ALPHA = frozenset({"affine", "leakyrelu", "thresholdedrelu", "scaledtanh",
                         "hardsigmoid", "elu"})
TAKES_BETA = frozenset({"affine", "scaledtanh", "hardsigmoid"})

_COMMON = {
    "activation_alpha": "floats", "activation_beta": "floats", "activations": "strings",
    "clip": "float", "direction": "string", "hidden_size": "int", "layout": "int",
}
ATTRIBUTE_TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "LSTM": MappingProxyType({**_COMMON, "input_forget": "int"}),
    "GRU": MappingProxyType({**_COMMON, "linear_before_reset": "int"}),
    "RNN": MappingProxyType(dict(_COMMON)),
    # contrib ops by qualified name (RecurrentLayer.node_op): their schemas have no layout
    **{op.qualified: op.attribute_types for op in CONTRIB_OPS.values()},
})


def attribute_types(layer: RecurrentLayer) -> Mapping[str, str]:
    """The attributes the node's own op has, with their types."""
    return ATTRIBUTE_TYPES.get(layer.node_op) or ATTRIBUTE_TYPES[layer.op_type]
