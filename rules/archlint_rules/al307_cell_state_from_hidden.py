from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.patterns import StateOrigin, state_origin
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import recurrent_outputs

_OTHER = {"initial_h": "initial_c", "initial_c": "initial_h"}
_WANTED = {"initial_h": "Y_h", "initial_c": "Y_c"}


class CellStateFromHidden(Rule):
    """An LSTM's initial_c comes from a hidden state (or initial_h from a cell state).

    ## What it does
    Follows each LSTM's initial_h and initial_c back through Slice/Gather/Squeeze/Unsqueeze/
    Identity. It reports initial_c read from another LSTM's Y_h (or initial_h from Y_c), and
    initial_h and initial_c read from the same rows of the same model input. A GRU or RNN
    upstream has no cell state to pass on, so its Y_h feeding initial_c is not reported.

    ## Why is this bad?
    An LSTM carries two states: the cell c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, which is unbounded,
    and h_t = o_t ⊙ tanh(c_t), which lies in (-1, 1). They are different quantities of the same
    shape ``[D, batch, H]``, so feeding h where c belongs (an encoder's Y_h wired to the
    decoder's initial_c, or h0 fed twice) runs without complaint, and the decoder starts from a
    cell state that was never computed: outputs silently differ. Zeros (ConstantOfShape,
    Expand) are the same for both and are not reported.

    ## Example
    ``[decoder] Y2, h2, c2 = LSTM (X2, W, R, B, , enc_h, enc_h)`` where enc_h is the encoder's
    Y_h: pass the encoder's Y_c as initial_c. See fixtures/AL307/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL307"
    name = "cell-state-from-hidden"
    severity = Severity.ERROR
    summary = "LSTM initial_c fed from a hidden state (or initial_h from a cell state)"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        outputs = recurrent_outputs(ctx)
        for layer in ctx.layers:
            if layer.op_type != "LSTM":
                continue
            origins: dict[str, StateOrigin] = {}
            for slot in _OTHER:
                ref = layer.inputs.get(slot)
                if ref is not None:
                    origins[slot] = state_origin(ctx.graph, ref.name, layer.node.graph)
            reported = False
            for slot, origin in origins.items():
                source = outputs.get((layer.node.graph, origin.root))
                if source is None:
                    continue
                upstream, out_slot = source
                if upstream.op_type != "LSTM":
                    continue  # a GRU/RNN has no cell state to pass: h is the only choice
                if out_slot in ("Y_h", "Y_c") and out_slot != _WANTED[slot]:
                    reported = True
                    yield self._from_output(ctx, layer, slot, origin, upstream, out_slot)
            if not reported and len(origins) == 2:
                yield from self._same_input(ctx, layer, origins)

    def _from_output(
        self, ctx: RuleContext, layer: RecurrentLayer, slot: str, origin: StateOrigin,
        upstream: RecurrentLayer, out_slot: str,
    ) -> Finding:
        kind = "hidden" if out_slot == "Y_h" else "cell"
        return ctx.finding(
            self, layer,
            f"{describe(layer)} takes its {slot} from {out_slot} of {describe(upstream)} "
            f"(tensor {origin.root!r}), a {kind} state",
            input=slot, expected=f"{_WANTED[slot]} of {upstream.label}",
            actual=f"{out_slot} of {upstream.label}",
            help=f"Feed {upstream.label}'s {_WANTED[slot]} to {slot}; h_t = o_t ⊙ tanh(c_t) "
            "and c_t are different states.",
        )

    def _same_input(
        self, ctx: RuleContext, layer: RecurrentLayer, origins: dict[str, StateOrigin]
    ) -> Iterator[Finding]:
        h, c = origins["initial_h"], origins["initial_c"]
        if h.root != c.root or h.rows is None or c.rows is None:
            return
        if h.rows[1] <= c.rows[0] or c.rows[1] <= h.rows[0]:
            return  # one packed input with h rows and c rows apart: fine
        root = ctx.graph.tensor(h.root, layer.node.graph)
        if root is None or not root.is_graph_input or root.is_initializer:
            return  # zeros or a constant: the same for h and c
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} reads initial_h and initial_c from the same rows of model "
            f"input {h.root!r}: the cell state is fed the hidden state (or the reverse)",
            input="initial_c", expected="a cell-state input (c0)", actual=h.root,
            help="Add a separate c0 model input ((num_layers·D, batch, H), like h0) and slice "
            "initial_c from it.",
        )
