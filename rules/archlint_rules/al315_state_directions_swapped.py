from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.patterns import PickedRows, is_model_input, picked_rows
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import node_text, recurrent_outputs

_STATES = ("initial_h", "initial_c")


class StateDirectionsSwapped(LayerRule):
    """A bidirectional layer's initial state takes the backward row as forward (rows swapped).

    ## What it does
    For each bidirectional LSTM, GRU or RNN, follows initial_h and initial_c back through the
    Gather (constant indices), Slice (any step) or axis-0 Concat that builds the two direction
    rows, to one source: a final state Y_h / Y_c of another bidirectional layer, or a model
    input ``(layers·D, batch, H)``. It reports the state when the two rows of one layer's
    block ``[2k, 2k+1]`` arrive in the order ``[2k+1, 2k]``: an error when the source is a
    recurrent state (its row 0 *is* the forward direction), a warning for a model input
    (whose rows follow PyTorch's and ONNX's forward-first convention, unless the model says
    otherwise).

    ## Why is this bad?
    Row 0 of ``[D, batch, H]`` is the forward direction's h_0 (the state at t = 0) and row 1
    the backward direction's (the state at t = T-1, where the reverse pass starts). Gathering
    ``[1, 0]`` gives both rows the same shape, so it runs, but the forward pass starts from the
    state the encoder's backward pass ended in, and the reverse pass from the forward one:
    every output differs from the model that was trained, silently.

    ## Example
    ``[swap] h_dec = Gather <axis = 0> (Y_h_enc, [1, 0])`` feeding a bidirectional decoder:
    pass Y_h_enc as it is (or Gather ``[0, 1]``). See fixtures/AL315/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL315"
    name = "state-directions-swapped"
    severity = Severity.ERROR
    summary = "the two direction rows of a bidirectional initial state arrive backward first"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.num_directions != 2 or layer.layout != 0:
            return
        for slot in _STATES:
            ref = layer.inputs.get(slot)
            if ref is None:
                continue
            picked = picked_rows(ctx.graph, ref.name, layer.node.graph)
            if picked is None or picked.picker is None or len(picked.rows) != 2:
                continue
            first, second = picked.rows
            if first != second + 1 or second % 2:
                continue  # in order, or not one layer's (forward, backward) block
            source = self._source(ctx, layer, picked)
            if source is None:
                continue
            text, severity = source
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} takes rows [{first}, {second}] of {text} through "
                f"{node_text(picked.picker)}: the backward row feeds the forward direction and "
                "the forward row the backward one",
                input=slot, expected=f"rows [{second}, {first}] (forward, then backward)",
                actual=f"rows [{first}, {second}]", severity=severity,
                help=f"Pick rows {second} then {first} of {picked.root!r} (Slice "
                f"starts=[{second}], ends=[{first + 1}] on axis 0), so row 0 of {slot} is the "
                "forward direction.",
            )

    @staticmethod
    def _source(
        ctx: RuleContext, layer: RecurrentLayer, picked: PickedRows
    ) -> tuple[str, Severity | None] | None:
        info = ctx.graph.tensor(picked.root, layer.node.graph)
        if is_model_input(info):
            return f"model input {picked.root!r} (forward row first)", Severity.WARNING
        if picked.producer is None:
            return None
        found = recurrent_outputs(ctx).get((picked.producer.graph, picked.root))
        if found is None or found[1] not in ("Y_h", "Y_c") or found[0].num_directions != 2:
            return None
        upstream, out_slot = found
        return f"{out_slot} of bidirectional {describe(upstream)}", None
