from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.folded_ints import fill_value
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import constant_state, state_root

_STATES = ("initial_h", "initial_c")


class RecurrentStateNotCarried(LayerRule):
    """A layer runs one time step per call and its state neither comes in nor goes out.

    ## What it does
    Reports an LSTM, GRU or RNN node of the main graph whose X holds one time step (its
    sequence axis is 1), whose initial_h and initial_c are absent, zeros or stored constants
    (none is fed by the caller), and whose final states Y_h and Y_c are read by nothing (no
    node, no graph output). Only Y leaves the layer.

    ## Why is this bad?
    A recurrence carries h (and c) from one step to the next. Over one step per call, the
    only carrier between steps is the caller, through the model's inputs and outputs. Here
    every call starts from the same state and drops the new one: the layer keeps nothing
    between calls. From a zero state, R multiplies zeros and the forget gate multiplies
    c = 0, so the layer is a gated feed-forward layer and R's weights (g·H·H per direction)
    never reach the output: the Keras ``input_shape=(1, features)`` model, whose "memory"
    is none. From a stored state that is not zeros, every call starts from whatever the
    state held when the model was saved: a policy that keeps its LSTM state in buffers
    updated in place (legged_gym's ``PolicyExporterLSTM``, scripted, then exported with
    torch.onnx) loses the update in the export, and the deployed policy has no memory while
    its training had one. Nothing fails; onnxruntime returns the same output for the same
    observation whatever came before.

    ## Example
    fixtures/AL324/bad.onnx.txt steps an LSTM once from stored buffers ``hidden_state`` and
    ``cell_state`` and returns only the action; fixtures/AL324/good.onnx.txt takes ``h_in``
    and ``c_in`` as inputs and returns ``h_out`` and ``c_out``, which the caller feeds back.
    fixtures/AL324/policy_lstm.onnx is such a policy exported by torch 2.13 from its
    TorchScript module.
    """

    code = "AL324"
    name = "recurrent-state-not-carried"
    severity = Severity.WARNING
    summary = ("a layer runs one time step per call and its state is neither a model input "
               "nor a model output: it keeps nothing between calls")

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.cell is not None or layer.node.graph != "main" or layer.seq_dim != 1:
            return
        if not _dropped(ctx, layer):
            return
        stored: list[tuple[str, str]] = []
        for slot in _STATES:
            if slot not in layer.inputs:
                continue
            kind = _stored_state(ctx, layer, slot)
            if kind is None:
                return  # computed from what the caller feeds: carried by the model
            if kind != "zeros":
                stored.append((slot, kind))
        what = describe(layer)
        if stored:
            names = " and ".join(f"{where} ({slot})" for slot, where in stored)
            start = (f"starts every call from {names}, not zeros: what the state held when "
                     "the model was saved")
            expected, actual = ("the state fed by the caller and returned to it",
                                f"a stored state ({', '.join(s for s, _ in stored)}) and "
                                "no state output")
        else:
            start = ("starts every call from a zero state, so R multiplies zeros and its "
                     "g·H·H weights per direction never reach the output")
            expected, actual = ("the state fed by the caller and returned to it, or the "
                                "whole sequence in one call",
                                "a zero state, one step, no state output")
        yield ctx.finding(
            self, layer,
            f"{what} runs one time step per call (X's sequence axis is 1) and {start}; its "
            "final state (Y_h, Y_c) is read by nothing: the layer keeps nothing between "
            "calls",
            input="X", expected=expected, actual=actual,
            help="To carry the state between calls, make initial_h (and initial_c) model "
            "inputs and Y_h (and Y_c) model outputs, and feed each call the state the last "
            "one returned (a TorchScript module that updates state buffers in place loses "
            "the update in the export: pass the state in and out of forward()). To run a "
            "whole sequence, give X its time steps in one call (X [seq, batch, I]).",
        )


def _dropped(ctx: RuleContext, layer: RecurrentLayer) -> bool:
    """Whether Y_h and Y_c are absent or read by nothing, and Y is read."""
    scope = layer.node.graph
    outputs = ctx.graph.graph_outputs.get(scope, ())
    read = {slot for slot, ref in layer.outputs.items()
            if ref.name in outputs or ctx.graph.consumers_of(ref.name, scope)}
    return "Y" in read and not read & {"Y_h", "Y_c"}


def _stored_state(ctx: RuleContext, layer: RecurrentLayer, slot: str) -> str | None:
    """"zeros", or where a stored state that is not all zeros comes from; None for a state
    the caller feeds (or one computed from something else)."""
    ref = layer.inputs[slot]
    scope = layer.node.graph
    info = ctx.graph.tensor(ref.name, scope)
    if info is not None and info.is_graph_input and not info.is_initializer:
        return None
    source = constant_state(ctx, layer, slot)
    found = state_root(ctx, layer, slot)
    producer = found[0].producer if found is not None else None
    if source is None and (producer is None or producer.op_type != "ConstantOfShape"):
        return None
    value: Any = None
    if found is not None and not found[1].is_graph_input:
        value = found[1].value
    if value is None and producer is not None and producer.op_type == "ConstantOfShape":
        made = ctx.graph.tensor(producer.outputs[0], producer.graph)
        value = None if made is None else made.value
        if value is None:  # its shape read at run time: the fill says what it holds
            fill = fill_value(producer)
            return "zeros" if fill is None or not fill.any() \
                else f"ConstantOfShape {producer.label!r}"
    if value is None:
        return source or "a stored constant"
    import numpy as np

    if not np.any(value):
        return "zeros"
    return f"the stored tensor {found[0].root!r}" if found is not None else \
        (source or "a stored constant")

