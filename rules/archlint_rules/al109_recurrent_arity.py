from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import Recognition, RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._schema import recurrent_schema

# Where a surplus input or output most likely came from: the LSTM slot at that position.
_LSTM_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
_LSTM_OUTPUTS = ("Y", "Y_h", "Y_c")


class RecurrentArity(LayerRule):
    """The node has more inputs or outputs than its operator takes, or too few inputs.

    ## What it does
    Counts the node's inputs and outputs as written (an omitted optional input, ``""``,
    still counts: it holds a position) against the operator schema for the model's opset, as
    onnx.defs states it: LSTM takes 3 to 8 inputs and at most 3 outputs; GRU and RNN take 3
    to 6 inputs and at most 2 outputs. Names what each surplus position is on an LSTM, since
    that is where it usually comes from.

    ## Why is this bad?
    Inputs are matched by position: X, W, R, B, sequence_lens, initial_h, then (LSTM only)
    initial_c and the peepholes P. A GRU or RNN has no cell state c_t and no peepholes, so an
    initial_c or P written for it (a converter that emits LSTM's input list for every cell)
    has no meaning, and neither has a Y_c output. onnx.checker rejects the node (``has input
    size 8 not in range [min=3, max=6]``) and onnxruntime refuses the model at load with
    INVALID_GRAPH.

    ## Example
    ``GRU (X, W, R, , , , , P)``: a GRU has no peepholes; drop the trailing inputs
    (``GRU (X, W, R)``). See fixtures/AL109/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL109"
    name = "recurrent-arity"
    severity = Severity.ERROR
    layer_only = True
    summary = "More inputs or outputs than LSTM/GRU/RNN takes (P on a GRU, Y_c on an RNN)"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.recognised_as is not Recognition.NATIVE:
            return  # a contrib op has its own schema: AL020 judges it
        schema = recurrent_schema(layer.op_type, ctx.model.opset)
        node = layer.node
        inputs, outputs = len(node.inputs), len(node.outputs)
        which = f"{layer.op_type} (opset {schema.since_version})"
        if inputs > schema.max_input:
            surplus = _surplus(node.inputs, schema.max_input, _LSTM_INPUTS)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has {inputs} inputs; {which} takes at most "
                f"{schema.max_input}: {surplus}",
                expected=f"{schema.min_input} to {schema.max_input} inputs",
                actual=f"{inputs} inputs",
                help=f"Remove the inputs after position {schema.max_input}"
                + (" (initial_c and P exist only on LSTM)." if layer.op_type != "LSTM" else "."),
            )
        elif inputs < schema.min_input:
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has {inputs} inputs; {which} needs at least "
                f"{schema.min_input} (X, W and R)",
                expected=f"{schema.min_input} to {schema.max_input} inputs",
                actual=f"{inputs} inputs",
                help="Pass X, W and R, in that order.",
            )
        if outputs > schema.max_output:
            surplus = _surplus(node.outputs, schema.max_output, _LSTM_OUTPUTS)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has {outputs} outputs; {which} has at most "
                f"{schema.max_output}: {surplus}",
                expected=f"at most {schema.max_output} outputs", actual=f"{outputs} outputs",
                help=f"Remove the outputs after position {schema.max_output}"
                + (" (Y_c exists only on LSTM)." if layer.op_type != "LSTM" else "."),
            )


def _surplus(names: tuple[str, ...], limit: int, lstm_slots: tuple[str, ...]) -> str:
    """``input 8 'p' (P on an LSTM)`` for each position past the limit."""
    parts = []
    for position in range(limit, len(names)):
        shown = repr(names[position]) if names[position] else "'' (omitted)"
        slot = f" ({lstm_slots[position]} on an LSTM)" if position < len(lstm_slots) else ""
        parts.append(f"position {position + 1} {shown}{slot}")
    return "surplus " + ", ".join(parts)
