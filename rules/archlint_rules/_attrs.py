"""What the ONNX spec says about LSTM/GRU/RNN attributes, for the attribute rules."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
})
