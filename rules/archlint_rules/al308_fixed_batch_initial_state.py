from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe
from archlint_rules._layout import (
    constant_state,
    dynamic_symbols,
    folded_state_batch,
    state_batch_axis,
)

_STATES = ("initial_h", "initial_c")


class FixedBatchInitialState(Rule):
    """X has a dynamic batch axis but an initial state is a constant with a fixed batch.

    ## What it does
    For each LSTM, GRU or RNN whose X declares the batch axis symbolic (``[seq, batch, I]``),
    follows initial_h and initial_c back to their source, through Slice / Gather / Squeeze /
    Unsqueeze, Reshapes that only add unit axes and Expands that do not broadcast batch (the
    way tf2onnx turns a Keras ``[batch, H]`` state into ``[1, batch, H]``). When the source is
    a constant (an initializer, a Constant, or a ConstantOfShape / Expand with a constant
    shape) and the state's batch axis is a number, it reports the state, once per constant
    (a zero state sliced for every layer of a stack is one defect). A shape computed from
    constants alone counts as constant, and gives the batch where onnx's inference does not
    (torch's classic exporter writes ``h0.expand(1, B, H)``, B a Python int, as a Where over
    constants).

    ## Why is this bad?
    initial_h and initial_c are ``[D, batch, H]``: one h_0 (and c_0) row per sequence in the
    batch, and the spec has no broadcasting here. A zero state traced at export time with the
    example's batch size (often 1) is baked in as a constant ``[D, 1, H]``. The model declares
    ``batch`` dynamic and works in the exporter's test, then onnxruntime rejects every other
    batch size. This is the classic "works only for batch 1" export.

    ## Example
    ``h0 = Constant <value = float[1, 1, 3] {0, 0, 0}>`` fed to an LSTM whose X is
    ``[seq, batch, 4]``: build the zeros from the batch of X,
    ``ConstantOfShape(Concat([1], Shape(X)[1:2], [3]))``, or leave initial_h out (zeros is the
    default). See fixtures/AL308/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL308"
    name = "fixed-batch-initial-state"
    severity = Severity.ERROR
    summary = "constant initial state has a fixed batch while X's batch axis is dynamic"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        # One finding per constant: a (layers·D, batch, H) zero state sliced for every layer
        # of a stack is one defect, reported at the first layer that reads it.
        reported: set[str] = set()
        for layer in ctx.layers:
            for finding, source in self._layer(layer, ctx):
                if source not in reported:
                    reported.add(source)
                    yield finding

    def _layer(
        self, layer: RecurrentLayer, ctx: RuleContext
    ) -> Iterator[tuple[Finding, str]]:
        if not any(slot in layer.inputs for slot in _STATES):
            return  # absent states are zeros of the right batch
        batch = layer.batch_dim
        symbols = dynamic_symbols(ctx)
        if not isinstance(batch, str) or batch not in symbols:
            return
        axis = state_batch_axis(layer)
        for slot in _STATES:
            ref = layer.inputs.get(slot)
            fixed = None if ref is None else ref.dim(axis)
            if ref is not None and not isinstance(fixed, int):
                fixed = folded_state_batch(ctx, layer, slot)
            if ref is None or not isinstance(fixed, int):
                continue
            source = constant_state(ctx, layer, slot)
            if source is None:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} {format_shape(ref.shape)} comes from {source} "
                f"(batch {fixed}), but X's batch axis is {batch!r} (dynamic in graph input "
                f"{symbols[batch]!r}): every other batch size fails",
                input=slot, expected=f"batch {batch!r} (from Shape(X))", actual=f"batch {fixed}",
                help=(f"Expand it to X's batch, a shape computed from Shape(X)"
                      f"[{1 - layer.layout}:{2 - layer.layout}] (torch: h0.expand(-1, "
                      "x.size(1), -1), traced, not a Python int)."
                      if source.startswith("Expand") else
                      f"Build the zero state from X's batch (ConstantOfShape of "
                      f"Concat([D], Shape(X)[{1 - layer.layout}:{2 - layer.layout}], [H])), or "
                      f"omit {slot}: absent states are zeros."),
            ), source
