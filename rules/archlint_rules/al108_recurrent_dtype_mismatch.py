from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.graph import dtype_name
from archlint.recurrent import Recognition, RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._schema import allowed_dtypes, recurrent_schema, slots_of_type


class RecurrentDtypeMismatch(LayerRule):
    """X, W, R, B, the initial states and P of one recurrent node have different element types.

    ## What it does
    The operator schema binds X, W, R, B, initial_h, initial_c and P (LSTM) to one type
    parameter ``T`` (float16, float or double; bfloat16 too from opset 22, as onnx.defs states
    for the model's opset). This rule reports every such input whose element type is known and
    differs from X's (or, without a known X, from the first typed input), and any of them whose
    type T does not allow at all. sequence_lens is the other parameter, ``T1 = int32``: AL105.

    ## Why is this bad?
    The cell computes ``X·Wᵀ + h·Rᵀ + B`` in one precision; a kernel for a float X and double
    W does not exist. onnxruntime refuses the model at session creation (``Type parameter (T)
    of Optype (LSTM) bound to different types (tensor(float) and tensor(double) in node
    (lstm_0)``) and onnx.checker with ``W has inconsistent type tensor(double)``. It happens
    after a partial conversion: a float16 conversion that keeps the graph inputs (the initial
    states) in float while the weights become float16, or a ``model.double()`` export fed
    float inputs.

    ## Example
    ``LSTM (X, W, R, B)`` with ``float[...] X`` and a ``float16[1, 24] B``: store B as float
    (or convert the whole layer). See fixtures/AL108/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL108"
    name = "recurrent-dtype-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "X, W, R, B, initial states or P of one node have different element types"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.recognised_as is not Recognition.NATIVE:
            return  # a contrib op has its own schema: AL020 judges it
        schema = recurrent_schema(layer.op_type, ctx.model.opset)
        allowed = allowed_dtypes(schema, "T")
        typed = [
            (slot, ref.dtype) for slot in slots_of_type(schema, "T")
            if (ref := layer.inputs.get(slot)) is not None and ref.dtype
        ]
        for slot, dtype in typed:
            if dtype not in allowed:
                allowed_text = ", ".join(sorted(dtype_name(t) for t in allowed))
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} input {slot} is {dtype_name(dtype)}; type T of "
                    f"{layer.op_type} (opset {schema.since_version}) allows {allowed_text}",
                    input=slot, expected=f"one of {allowed_text}", actual=dtype_name(dtype),
                    help=f"Cast {slot} to the layer's floating type (the type of X) before the "
                    "node.",
                )
        usable = [(slot, dtype) for slot, dtype in typed if dtype in allowed]
        if not usable:
            return
        reference_slot, reference = next(
            ((slot, dtype) for slot, dtype in usable if slot == "X"), usable[0])
        for slot, dtype in usable:
            if dtype == reference:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} input {slot} is {dtype_name(dtype)} but {reference_slot} is "
                f"{dtype_name(reference)}; {layer.op_type} binds "
                f"{', '.join(slots_of_type(schema, 'T'))} to one type T",
                input=slot, expected=dtype_name(reference), actual=dtype_name(dtype),
                help=f"Store or Cast {slot} as {dtype_name(reference)} (or convert every input "
                "of the layer, weights and initial states alike, to one precision).",
            )
