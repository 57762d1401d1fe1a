from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.exporter import is_keras_exporter
from archlint.graph import ModelGraph, NodeInfo
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe, float_sequence

_COMPARISONS = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"})
# the ops between a mask and the count keras2onnx makes of it (Equal, Not, Cast, ReduceSum,
# Greater, Cast, ReduceSum) and views of the sequence on the way to the comparison
_COUNTING = frozenset({"Not", "Cast", "ReduceSum", "Greater", "Less", "Equal",
                       "GreaterOrEqual", "LessOrEqual", "Squeeze", "Unsqueeze", "Reshape",
                       "Identity", "Transpose", "Abs", "ReduceMax", "ReduceL1"})
# how many nodes the walk back from sequence_lens visits
_REACH = 24


class MaskCountedSequenceLens(LayerRule):
    """A Keras export's sequence_lens counts unmasked steps: right only for end padding.

    ## What it does
    Reports an LSTM, GRU or RNN node of a Keras export (``producer_name`` keras2onnx, which
    onnxmltools' and WinMLTools' Keras converters call, or tf2onnx; also after onnxruntime's
    quantizer, which keeps the graph's name and the domain that say so:
    archlint/exporter.py) whose ``sequence_lens`` is
    computed in the graph as a sum (``ReduceSum``) over a comparison of a floating-point
    sequence with a value: the number of time steps whose features are not the mask value.

    ## Why is this bad?
    With ``sequence_lens`` = L, the node reads steps 0 .. L-1 of each sequence and ignores the
    rest. Keras's ``Masking(mask_value)`` skips the masked steps wherever they are. keras2onnx
    1.7.0 writes a Masking before an LSTM, GRU or SimpleRNN as ``sequence_lens =
    ReduceSum(Cast(Greater(ReduceSum(Cast(Not(Equal(x, mask_value)))), 0)))``, which equals
    Keras only where every sequence's padding is at its end (``pad_sequences(...,
    padding="post")``). Keras's ``pad_sequences`` pads at the start by default
    (``padding="pre"``): the node then reads the padding and drops the last real steps, and its
    output differs from Keras's with no error (0.15 on fixtures/keras2onnx/masking_lstm.onnx,
    3e-8 post-padded). tf2onnx's masked-LSTM support makes the same assumption. Which padding
    the caller uses cannot be told from the graph, so this is a warning. Other producers are
    not reported: a PyTorch model that counts lengths so for ``pack_padded_sequence`` assumes
    the padding at the end itself.

    ## Example
    ``seq_lens = ReduceSum(Cast(Greater(ReduceSum(Cast(Not(Equal(x, 0.0)))), 0)))`` feeding
    ``LSTM (X, W, R, B, seq_lens)`` in a keras2onnx model: pad every sequence at its end
    (``padding="post"``), or give the lengths as an input and keep Keras's semantics in the
    caller. See fixtures/AL323/bad.onnx.txt and good.onnx.txt (lengths as an input).
    """

    code = "AL323"
    name = "mask-counted-sequence-lens"
    severity = Severity.WARNING
    summary = ("a Keras export's sequence_lens counts unmasked steps: right only for inputs "
               "padded at the end")
    ops = frozenset({"LSTM", "GRU", "RNN"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if not is_keras_exporter(ctx.model.exporter):
            return
        lens = layer.inputs.get("sequence_lens")
        if lens is None:
            return
        compared = _masked_sequence(ctx.graph, lens.name, layer.node.graph)
        if compared is None:
            return
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} reads sequence_lens {lens.name!r}, which counts the time steps "
            f"of {compared!r} that are not the mask value, as {ctx.model.producer_label} writes a "
            "Keras Masking: the node reads that many steps from the start of each sequence, "
            "which is Keras's masking only where the padding is at the end; with padding at "
            "the start (pad_sequences' default) it reads the padding and drops the last real "
            "steps",
            input="sequence_lens", expected="inputs padded at the end of each sequence",
            actual=f"sequence_lens counted from a mask of {compared!r}",
            help="Pad every sequence at its end (pad_sequences(..., padding=\"post\")) before "
            "feeding the model; pre-padded or gapped inputs give other outputs than Keras's "
            "with no error. To keep Keras's masking for any padding, feed the lengths as an "
            "input and move the padding to the end in the caller.",
        )


def _masked_sequence(graph: ModelGraph, name: str, scope: str) -> str | None:
    """The floating-point sequence (rank 2 or more) ``name`` counts the steps of, through a
    ReduceSum and a comparison with a value (the comparison farthest back: keras2onnx
    compares x with the mask value, then each step's count with 0); None when it is not
    such a count."""
    frontier, seen = [(name, False, 0)], {name}
    found: tuple[int, str] | None = None
    while frontier and len(seen) < _REACH:
        current, counted, depth = frontier.pop()
        node = graph.producer(current, scope)
        if node is None or node.graph != scope or node.op_type not in _COUNTING:
            continue
        counted = counted or node.op_type == "ReduceSum"
        if counted and node.op_type in _COMPARISONS:
            data = _float_sequence(graph, node)
            if data is not None and (found is None or depth > found[0]):
                found = (depth, data)
        for operand in node.inputs if node.op_type in _COMPARISONS else node.inputs[:1]:
            if operand and operand not in seen:
                seen.add(operand)
                frontier.append((operand, counted, depth + 1))
    return None if found is None else found[1]


def _float_sequence(graph: ModelGraph, node: NodeInfo) -> str | None:
    """The operand of a comparison that is a floating-point sequence (compared with the mask
    value)."""
    return next((operand for operand in node.inputs
                 if float_sequence(graph, operand, node.graph)), None)
