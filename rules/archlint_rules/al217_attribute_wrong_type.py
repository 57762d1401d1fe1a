from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._attrs import attribute_types
from archlint_rules._dims import describe


class AttributeWrongType(LayerRule):
    """An attribute has another type than the schema gives it (hidden_size as a float, ...).

    ## What it does
    Checks the type of every known attribute: hidden_size, layout, input_forget,
    linear_before_reset are ``int``; clip is ``float``; direction is ``string``; activations
    is ``strings``; activation_alpha and activation_beta are ``floats``.

    ## Why is this bad?
    A runtime reads ``hidden_size`` as an integer H, the width of h_t and of every gate; a
    ``hidden_size: float = 3.0`` is no integer, so to a runtime the attribute is missing or
    invalid. The ONNX checker rejects the type mismatch, and onnxruntime refuses the model
    at session creation. Hand-written or script-patched models (``helper.make_attribute`` with
    a Python float) are the usual source.

    ## Example
    ``LSTM <hidden_size: float = 3.0>``: write ``<hidden_size: int = 3>``. See
    fixtures/AL217/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL217"
    name = "attribute-wrong-type"
    severity = Severity.ERROR
    summary = "An attribute has the wrong type (e.g. hidden_size as float)"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        known = attribute_types(layer)
        for attribute, actual in layer.attribute_types.items():
            expected = known.get(attribute)
            if expected is None or actual == expected:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} attribute {attribute!r} is of type {actual}; the schema "
                f"gives it type {expected}",
                attribute=attribute, expected=expected, actual=actual,
                help=f"Write {attribute} as {expected} (in Python, onnx.helper.make_attribute "
                f"with a value of that type).",
            )
