from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import AxisMismatch, axis_mismatches, describe, known_dim, slots_text
from archlint_rules._layout import state_direction_axis, whole_stack_rows

_WEIGHT_SLOTS = ("W", "R", "B")


class DirectionMismatch(LayerRule):
    """The direction attribute disagrees with the num_directions axis of weights or states.

    ## What it does
    ``direction`` sets D = num_directions: 1 for ``forward`` and ``reverse``, 2 for
    ``bidirectional``. D is the first axis of W, R, B and P, the direction axis of initial_h,
    initial_c, Y_h and Y_c (axis 0, or 1 with ``layout=1``) and axis 1 of Y (axis 2 with
    ``layout=1``). This rule checks each against the attribute; when W, R and B all agree on
    another D, it reports the attribute once.

    ## Why is this bad?
    A bidirectional layer is two independent recurrences, one reading the sequence forwards and
    one backwards, each with its own weights; their outputs are concatenated to 2·H features.
    A direction axis of the wrong size means one direction has no weights, or weights are
    dropped, and runtimes reject the model. A state with ``num_layers·D`` rows is a whole
    PyTorch multi-layer state handed to a single ONNX layer.

    ## Example
    ``LSTM <direction: string = "forward"> (X, W, R, B)`` with W ``[2, 12, 4]``,
    R ``[2, 12, 3]`` and B ``[2, 24]``: all weights hold two directions, so the fix is
    ``direction = "bidirectional"``. See fixtures/AL301/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL301"
    name = "direction-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "direction attribute disagrees with the num_directions axis of weights or states"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        d = layer.num_directions
        if d is None:
            return  # an invalid direction value is another rule's finding
        state_axis = state_direction_axis(layer)
        y_axis = 2 if layer.layout == 1 else 1
        wanted = [
            ("W", 0, d), ("R", 0, d), ("B", 0, d), ("P", 0, d),
            ("initial_h", state_axis, d), ("initial_c", state_axis, d),
            ("Y", y_axis, d), ("Y_h", state_axis, d), ("Y_c", state_axis, d),
        ]
        mismatches = axis_mismatches(layer, wanted)
        if not mismatches:
            return
        weights = [known_dim(layer, slot, 0) for slot in _WEIGHT_SLOTS]
        known = {w for w in weights if w is not None}
        wrong = {m.slot for m in mismatches}
        present = {s for s, w in zip(_WEIGHT_SLOTS, weights, strict=True) if w is not None}
        if len(known) == 1 and wrong == present and known.pop() in (1, 2):
            implied = 2 if d == 1 else 1
            direction = "bidirectional" if implied == 2 else "forward (or reverse)"
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has direction={layer.direction!r} (D={d}) but "
                f"{slots_text(s for s in _WEIGHT_SLOTS if s in wrong)} hold {implied} directions",
                attribute="direction", expected=direction, actual=layer.direction,
                help=f"Set direction={direction.split()[0]!r}, or re-export the weights "
                f"with {d} direction(s).",
            )
            return
        for mismatch in mismatches:
            yield self._slot_finding(layer, ctx, mismatch, d)

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        """Each layer's findings (layer-only, above), less a final state that is itself a
        model output declared with num_layers·D rows: the declaration of the whole stack's
        h_n / c_n over one layer's state (paddle2onnx's stacked GRU once a tool drops the
        Identity between them). The node computes D rows; AL306 says which layers' states
        the output drops."""
        stack_states = self._whole_stack_declarations(ctx) if ctx.layers else set()
        for finding in super().check(ctx):
            where = finding.location
            if (where.graph, where.node_index, where.output) not in stack_states:
                yield finding

    @staticmethod
    def _whole_stack_declarations(ctx: RuleContext) -> set[tuple[str, int, str]]:
        outputs = set(ctx.graph.graph_outputs.get("main", ()))
        found: set[tuple[str, int, str]] = set()
        for layer in ctx.layers:
            if layer.node.graph != "main":
                continue
            axis = state_direction_axis(layer)
            for slot in ("Y_h", "Y_c"):
                ref = layer.outputs.get(slot)
                if ref is not None and ref.name in outputs and ref.shape is not None \
                        and len(ref.shape) > axis and whole_stack_rows(ctx, layer,
                                                                        ref.shape[axis]):
                    found.add((layer.node.graph, layer.node.index, slot))
        return found

    def _slot_finding(
        self, layer: RecurrentLayer, ctx: RuleContext, mismatch: AxisMismatch, d: int
    ) -> Finding:
        slot = mismatch.slot
        is_output = slot in layer.outputs
        rows = next(iter(mismatch.actual[axis] for axis in mismatch.wanted))
        help_text = f"Give {slot} {d} direction(s) on that axis."
        if slot in ("initial_h", "initial_c") and isinstance(rows, int) and rows > d \
                and rows % d == 0:
            help_text = (
                f"{slot} has {rows} = layers·D rows: a whole multi-layer (num_layers·D, batch, H) "
                f"state was handed to one layer. Slice rows [k·{d}, (k+1)·{d}) for layer k."
            )
        return ctx.finding(
            self, layer,
            f"{describe(layer)} {'output' if is_output else 'input'} {slot} has shape "
            f"{mismatch.actual_text()}; direction={layer.direction!r} (D={d}) needs "
            f"{mismatch.expected_text()}",
            input=None if is_output else slot, output=slot if is_output else None,
            expected=mismatch.expected_text(), actual=mismatch.actual_text(), help=help_text,
        )
