from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import state_batch_axis, state_root

_STATES = ("initial_h", "initial_c")


class StoredPerSequenceState(Rule):
    """An initial state stored in the file with a different row for each sequence of the batch.

    ## What it does
    For each LSTM, GRU or RNN, reads initial_h and initial_c where the file stores them
    (an initializer or a Constant, directly or as the root they are sliced from with the
    same shape). It reports a state of two or more batch rows that are not all equal: one
    stored state per sequence, which no training makes (a learned initial state is one
    vector for every sequence) and a zero state is not.

    ## Why is this bad?
    A Keras layer with ``stateful=True`` keeps the state its last batch left, and tf2onnx
    exports that state as constant initial_h / initial_c: every call of the ONNX model starts
    from whatever the layer held at export (after ``predict`` or training), where Keras
    starts from zeros after ``reset_states()``. The outputs differ from Keras's, and nothing
    fails. A state meant to be carried from call to call has to be a model input and output.

    ## Example
    ``h0 = Constant <value = float[1, 2, 3] {0.1, -0.4, 0.7, 0.2, 0.0, -0.3}>`` fed to an LSTM
    over ``[seq, 2, 4]``: reset the states before exporting (Keras: ``model.reset_states()``),
    or export the layer stateless with initial_state inputs and the states as outputs. See
    fixtures/AL321/bad.onnx.txt and good.onnx.txt, and fixtures/AL321/keras2_stateful_lstm.onnx
    (tf_keras 2.21, ``stateful=True`` exported after one ``predict``).
    """

    code = "AL321"
    name = "stored-per-sequence-state"
    severity = Severity.WARNING
    summary = "an initial state is stored with a different row for each sequence of the batch"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for layer in ctx.layers:  # one finding per layer, naming each state stored so
            inputs = layer.inputs
            if not any(slot in inputs for slot in _STATES):
                continue
            axis = state_batch_axis(layer)
            found = [(slot, *stored) for slot in _STATES
                     if (stored := _stored(ctx, layer, slot, axis)) is not None]
            if not found:
                continue
            slot, where, value = found[0]
            rows = value.shape[axis]
            others = "".join(f" (and {other} is {place})" for other, place, _ in found[1:])
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} is {where}{others}, whose {rows} batch rows "
                "differ: one state per sequence, not a learned state (one for every "
                "sequence) nor zeros; every call starts from it (a stateful layer's state "
                "at export)",
                input=slot, expected="zeros, a state shared by the batch, or a model input",
                actual=f"{rows} different stored rows",
                help=("If the layer is stateful, reset its states before exporting (Keras: "
                      "model.reset_states()), or export it stateless with the states as "
                      "model inputs and outputs and carry them from call to call."))


def _stored(ctx: RuleContext, layer: RecurrentLayer, slot: str,
            axis: int) -> tuple[str, Any] | None:
    """(where, value) of a state the file stores with differing batch rows, else None."""
    ref = layer.inputs.get(slot)
    if ref is None or ref.shape is None or len(ref.shape) != 3:
        return None
    info = ctx.graph.tensor(ref.name, layer.node.graph)
    if info is None or info.is_graph_input:
        return None
    value = info.value
    where = f"the stored tensor {ref.name!r}"
    if value is None:
        found = state_root(ctx, layer, slot)
        if found is None or found[1].is_graph_input:
            return None
        value = found[1].value
        where = f"the stored tensor {found[0].root!r}"
    if value is None or value.ndim != 3 or tuple(value.shape) != tuple(
            d if isinstance(d, int) else -1 for d in ref.shape) or value.shape[axis] < 2:
        return None
    import numpy as np

    rows = np.moveaxis(value, axis, 0)
    if not np.any(rows) or all(np.array_equal(rows[0], row) for row in rows[1:]):
        return None
    return where, value
