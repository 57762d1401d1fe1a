from __future__ import annotations

from collections.abc import Hashable, Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import ModelGraph
from archlint.patterns import (
    StateOrigin,
    attr_int,
    gather_spec,
    slice_spec,
    state_origin,
    state_source,
)
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import recurrent_outputs, state_batch_axis

_OTHER = {"initial_h": "initial_c", "initial_c": "initial_h"}
_WANTED = {"initial_h": "Y_h", "initial_c": "Y_c"}


class CellStateFromHidden(Rule):
    """An LSTM's initial_c comes from a hidden state, or any layer's initial_h from a cell state.

    ## What it does
    Follows each LSTM's initial_h and initial_c, and each GRU's and RNN's initial_h, back
    through Slice/Gather/Squeeze/Unsqueeze/Identity (and Reshapes that only add unit axes).
    It reports initial_c read from another LSTM's Y_h, initial_h read from an LSTM's Y_c (an
    encoder-decoder whose LSTM encoder hands its cell state to a GRU or LSTM decoder), and
    an LSTM's initial_h and initial_c read from the same rows of the same model input, through
    the same selections on every axis (a state packed with h and c on another axis, as DTLN's
    ``[1, layers, H, 2]``, reads the same rows but other elements, and is not reported). A GRU
    or RNN upstream has no cell state to pass on, so its Y_h feeding initial_c is not reported.

    ## Why is this bad?
    An LSTM carries two states: the cell c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, which is unbounded,
    and h_t = o_t ⊙ tanh(c_t), which lies in (-1, 1). They are different quantities of the same
    shape ``[D, batch, H]``, so feeding h where c belongs (an encoder's Y_h wired to the
    decoder's initial_c, or h0 fed twice) runs without complaint, and the decoder starts from a
    cell state that was never computed: outputs silently differ. A GRU or RNN decoder has
    only h, which continues the encoder's *hidden* state: given Y_c it starts from the
    encoder's unbounded memory instead. Zeros (ConstantOfShape,
    Expand) are the same for both and are not reported.

    ## Example
    ``[decoder] Y2, h2, c2 = LSTM (X2, W, R, B, , enc_h, enc_h)`` where enc_h is the encoder's
    Y_h: pass the encoder's Y_c as initial_c. See fixtures/AL307/bad.onnx.txt and
    good.onnx.txt; bad_gru_decoder.onnx.txt for an LSTM encoder's Y_c fed to a GRU decoder.
    """

    code = "AL307"
    name = "cell-state-from-hidden"
    severity = Severity.ERROR
    summary = "LSTM initial_c fed from a hidden state, or initial_h from an LSTM cell state"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        outputs = recurrent_outputs(ctx)
        for layer in ctx.layers:
            if layer.op_type not in ("LSTM", "GRU", "RNN"):
                continue
            origins: dict[str, StateOrigin] = {}
            for slot in _OTHER if layer.op_type == "LSTM" else ("initial_h",):
                ref = layer.inputs.get(slot)
                if ref is not None:
                    origins[slot] = state_origin(ctx.graph, ref.name, layer.node.graph)
            reported = False
            for slot, origin in origins.items():
                source = self._recurrent_source(ctx, layer, slot, origin, outputs)
                if source is None:
                    continue
                upstream, out_slot, tensor = source
                if upstream.op_type != "LSTM":
                    continue  # a GRU/RNN has no cell state to pass: h is the only choice
                if out_slot in ("Y_h", "Y_c") and out_slot != _WANTED[slot]:
                    reported = True
                    yield self._from_output(ctx, layer, slot, tensor, upstream, out_slot)
            if not reported and len(origins) == 2:
                yield from self._same_input(ctx, layer, origins)

    @staticmethod
    def _recurrent_source(
        ctx: RuleContext, layer: RecurrentLayer, slot: str, origin: StateOrigin,
        outputs: dict[tuple[str, str], tuple[RecurrentLayer, str]],
    ) -> tuple[RecurrentLayer, str, str] | None:
        """(layer, output slot, tensor) a state comes from, also through Reshape / Expand
        (hand-written encoder-decoders reshape Keras' [batch, H] states)."""
        found = outputs.get((layer.node.graph, origin.root))
        if found is not None:
            return (*found, origin.root)
        ref = layer.inputs[slot]
        source = state_source(ctx.graph, ref.name, layer.node.graph, state_batch_axis(layer))
        if source.producer is None:
            return None
        found = outputs.get((source.producer.graph, source.root))
        return None if found is None else (*found, source.root)

    def _from_output(
        self, ctx: RuleContext, layer: RecurrentLayer, slot: str, tensor: str,
        upstream: RecurrentLayer, out_slot: str,
    ) -> Finding:
        kind = "hidden" if out_slot == "Y_h" else "cell"
        if layer.op_type != "LSTM":
            return ctx.finding(
                self, layer,
                f"{describe(layer)} takes its {slot} from {out_slot} of {describe(upstream)} "
                f"(tensor {tensor!r}), a cell state: a {layer.op_type} has no cell, its "
                "h continues the LSTM's hidden state",
                input=slot, expected=f"Y_h of {upstream.label}",
                actual=f"{out_slot} of {upstream.label}",
                help=f"Feed {upstream.label}'s Y_h to {slot}; c_t is the LSTM's unbounded "
                "memory, h_t = o_t ⊙ tanh(c_t) is what it outputs.",
            )
        return ctx.finding(
            self, layer,
            f"{describe(layer)} takes its {slot} from {out_slot} of {describe(upstream)} "
            f"(tensor {tensor!r}), a {kind} state",
            input=slot, expected=f"{_WANTED[slot]} of {upstream.label}",
            actual=f"{out_slot} of {upstream.label}",
            help=f"Feed {upstream.label}'s {_WANTED[slot]} to {slot}; h_t = o_t ⊙ tanh(c_t) "
            "and c_t are different states.",
        )

    def _same_input(
        self, ctx: RuleContext, layer: RecurrentLayer, origins: dict[str, StateOrigin]
    ) -> Iterator[Finding]:
        h, c = origins["initial_h"], origins["initial_c"]
        if h.root != c.root:
            return
        if h.rows is None or c.rows is None:
            # Rows unknown (a Keras [batch, H] input): the same only when neither picks rows.
            if not (_whole(h) and _whole(c)):
                return
        elif h.rows[1] <= c.rows[0] or c.rows[1] <= h.rows[0]:
            return  # one packed input with h rows and c rows apart: fine
        root = ctx.graph.tensor(h.root, layer.node.graph)
        if root is None or not root.is_graph_input or root.is_initializer:
            return  # zeros or a constant: the same for h and c
        if _picks(ctx.graph, h, layer.inputs["initial_h"].name) \
                != _picks(ctx.graph, c, layer.inputs["initial_c"].name):
            return  # other parts of the input (a Keras [1, layers, H, 2] state: h and c on
            # the last axis): not provably the same elements
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} reads initial_h and initial_c from the same rows of model "
            f"input {h.root!r}: the cell state is fed the hidden state (or the reverse)",
            input="initial_c", expected="a cell-state input (c0)", actual=h.root,
            help="Add a separate c0 model input ((num_layers·D, batch, H), like h0) and slice "
            "initial_c from it.",
        )


def _whole(origin: StateOrigin) -> bool:
    """The state is its root, reshaped at most: no Slice / Gather picked rows on the way."""
    return all(node.op_type in _RESHAPING for node in origin.through)


_RESHAPING = frozenset({"Identity", "Cast", "Squeeze", "Unsqueeze"})
def _picks(graph: ModelGraph, origin: StateOrigin, state: str) -> tuple[Hashable, ...]:
    """What each node from the root to ``state`` (``origin.through``, the walk state_origin
    made) selects, on every axis: a Slice's starts, ends, axes and steps, a Gather's axis and
    indices, which output of a Split. Two states with equal picks from one root hold the same
    elements; reshapes select nothing."""
    picks: list[Hashable] = []
    tensor = state
    for node in origin.through:
        if node.op_type == "Slice":
            picks.append(("Slice", slice_spec(graph, node) or node.id))
        elif node.op_type == "Gather":
            picks.append(("Gather", gather_spec(graph, node) or node.id))
        elif node.op_type == "Split":
            picks.append(("Split", attr_int(node, "axis") or 0, node.inputs[1:],
                          node.outputs.index(tensor) if tensor in node.outputs else node.id))
        elif node.op_type not in _RESHAPING and node.op_type != "Reshape":
            picks.append(node.id)  # anything else: only itself is the same
        tensor = node.inputs[0] if node.inputs else ""
    return tuple(picks)
