from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._attrs import attribute_types
from archlint_rules._dims import describe
from archlint_rules._fixes import node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


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
    layer_only = True
    summary = "An attribute has the wrong type (e.g. hidden_size as float)"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        known = attribute_types(layer, ctx.model.opset)
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

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Rewrite the value in the schema's type when nothing is lost: an integral float as
        an int (hidden_size 3.0 -> 3), an int as a float (clip), one value as a list of one
        (activations "Tanh" -> ["Tanh"]). Anything else (direction as an int) is a guess: no
        fix."""
        node = node_of(finding, editor)
        name, wanted = finding.location.attribute, finding.expected
        attr = next((a for a in node.attribute if a.name == name), None) if node else None
        if node is None or attr is None or name is None:
            return None
        from onnx import helper  # `archlint fix` only

        value = helper.get_attribute_value(attr)
        converted = _lossless(value, wanted)
        if converted is None:
            return None
        return Fix(f"{name} as {wanted}: {value!r} -> {converted!r}", Safety.SAFE,
                   lambda: editor.set_attribute(node, name, converted))


def _lossless(value: object, wanted: str | None) -> object:
    if wanted == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if wanted == "float" and isinstance(value, int):
        return float(value)
    if wanted == "strings" and isinstance(value, bytes):
        return [value.decode()]
    if wanted == "floats" and isinstance(value, float | int):
        return [float(value)]
    return None
