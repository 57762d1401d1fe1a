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


def attribute_types(layer: RecurrentLayer, opset: int | None = None) -> Mapping[str, str]:
    """The attributes the node's own op has, with their types: at ``opset`` for an ONNX op
    (``layout`` came with opset 14; ``output_sequence`` went with opset 7; GRU's
    ``linear_before_reset`` came with opset 3), the newest when the opset is not known."""
    types = ATTRIBUTE_TYPES.get(layer.node_op) or ATTRIBUTE_TYPES[layer.op_type]
    if opset is None or opset < 1 or opset >= 14 or layer.node_op not in ("LSTM", "GRU", "RNN"):
        return types
    key = (layer.node_op, 1 if opset < 3 else 3 if opset < 7 else 7)
    if key not in _OLDER:
        older = {name: kind for name, kind in types.items() if name != "layout"}
        if key[1] < 7:
            older["output_sequence"] = "int"
        if key[1] < 3:
            older.pop("linear_before_reset", None)
        _OLDER[key] = MappingProxyType(older)
    return _OLDER[key]


# (op, the opset a version of it starts at) -> its attributes, made on first use
_OLDER: dict[tuple[str, int], Mapping[str, str]] = {}


def opset_note(attribute: str, layer: RecurrentLayer, opset: int | None) -> str:
    """What to add to "has attribute X, which OP does not have" when the op has it at another
    opset than the model's."""
    if layer.node_op not in ("LSTM", "GRU", "RNN") or opset is None or opset < 1:
        return ""
    if attribute == "layout" and opset < 14:
        return f" at opset {opset} (layout came with opset 14)"
    if attribute == "output_sequence" and opset >= 7:
        return (f" at opset {opset} (output_sequence went with opset 7, where Y became an "
                "optional output)")
    if attribute == "linear_before_reset" and layer.node_op == "GRU" and opset < 3:
        return f" at opset {opset} (linear_before_reset came with opset 3)"
    return ""
