from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.graph import ModelGraph
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe

# ops the sequence passes on its way out, unchanged in time order
_VIEWS = frozenset({"Identity", "Cast", "Squeeze", "Unsqueeze", "Transpose", "Reshape",
                    "Flatten"})
# ops that put a sequence back in reverse time order (keras2onnx's fix writes ReverseSequence)
_REVERSERS = frozenset({"ReverseSequence", "Slice"})


class Keras2onnxBackwardSequenceOrder(LayerRule):
    """A keras2onnx export gives a go_backwards layer's sequence in input order; Keras reverses it.

    ## What it does
    Reports a unidirectional LSTM, GRU or RNN with ``direction="reverse"`` in a model whose
    ``producer_name`` names keras2onnx (also onnxmltools' and WinMLTools' Keras converters,
    which call it, and onnxruntime's quantizer over its export: the domain ``onnxmltools``
    says so, archlint/exporter.py) whose output sequence ``Y`` is read with no
    ``ReverseSequence`` or reversing ``Slice`` after it.

    ## Why is this bad?
    keras2onnx writes a Keras layer with ``go_backwards=True`` as a ``reverse`` node (a
    Bidirectional is one ``bidirectional`` node). ONNX's reverse ``Y[t]`` is the state after
    reading ``x[T-1] .. x[t]``, in input time order; with ``return_sequences=True`` Keras returns
    the states in the order it computed them, ``x[T-1]`` first. keras2onnx 1.7.0, the last
    release on PyPI, passes ``Y`` on as it is: every step of the sequence but the middle one
    differs from the Keras model's (onnx/keras-onnx#523; its fix, PR #583, reverses ``Y``).
    Nothing fails. The last step alone (``return_sequences=False``, read from ``Y_h``) is right.

    ## Example
    ``GRU <direction: string = "reverse", hidden_size: int = 4> (X, W, R, B)`` in a model with
    ``producer_name: "keras2onnx"``, ``Y`` squeezed and transposed to the output: reverse ``Y``
    on its time axis (``ReverseSequence``, or ``Slice`` with step -1). See
    fixtures/AL322/bad.onnx.txt and good.onnx.txt; fixtures/keras2onnx/gru_back_seq.onnx is
    a real export (onnxruntime and Keras differ by up to 0.5).
    """

    code = "AL322"
    name = "keras2onnx-backward-sequence-order"
    severity = Severity.ERROR
    summary = "keras2onnx's go_backwards layer returns its sequence in input order, not Keras's"
    ops = frozenset({"LSTM", "GRU", "RNN"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.direction != "reverse" or "keras2onnx" not in ctx.model.exporter.lower():
            return
        y = layer.outputs.get("Y")
        if y is None or not _read_in_input_order(ctx.graph, y.name, layer.node.graph):
            return
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} runs backward (direction=reverse) and its sequence Y reaches "
            f"the model's output in input time order, as keras2onnx writes a Keras layer with "
            f"go_backwards=True and return_sequences=True ({ctx.model.producer_label}); Keras "
            "returns that sequence in the order it computed it, the last input step first, so "
            "every step but the middle one differs from the Keras model's",
            output="Y", expected="Y reversed in time (Keras's order)",
            actual="Y in input order",
            help="Reverse Y on its time axis after the node (ReverseSequence with the sequence "
            "lengths, or Slice with step -1), as keras2onnx's fix does (onnx/keras-onnx#523, "
            "PR #583, after 1.7.0), or convert the Keras model with tf2onnx. If the sequence is "
            "meant in input order, not Keras's, ignore this finding.",
        )


def _read_in_input_order(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` (a reverse node's Y) is read, and no reader on the way through views
    reverses it."""
    frontier, seen, read = [name], {name}, False
    while frontier and len(seen) < 64:
        current = frontier.pop()
        if current in graph.graph_outputs.get(scope, ()):
            read = True
        for consumer in graph.consumers_of(current, scope):
            read = True
            if consumer.op_type in _REVERSERS:
                return False
            if consumer.op_type in _VIEWS and consumer.graph == scope:
                for out in consumer.outputs:
                    if out and out not in seen:
                        seen.add(out)
                        frontier.append(out)
    return read
