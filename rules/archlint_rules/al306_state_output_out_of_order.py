from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, Rule, RuleContext, Safety, Severity
from archlint.declared_types import type_of
from archlint.graph import NodeInfo
from archlint.patterns import attr_int
from archlint.recurrent import RecurrentLayer
from archlint_rules._fixes import node_of
from archlint_rules._layout import (
    StackInfo,
    node_text,
    recurrent_outputs,
    stack_depth,
    state_direction_axis,
    whole_stack_rows,
)

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


# What passes a final state on to a model output unchanged
_COPIES = frozenset({"Identity", "Cast"})


class StateOutputOutOfOrder(Rule):
    """A model-level h_n/c_n output does not stack the layers' Y_h / Y_c in layer order on axis 0.

    ## What it does
    Looks at each Concat whose result is a model output and whose inputs are all final states
    (Y_h or Y_c) of the layers of one stack. It checks that they are concatenated along axis 0,
    in layer order (layer 0 first), and that Y_h and Y_c are not mixed in one output. A
    Concat of each layer's Y_h *and* Y_c is a packed (h, c) state (a voice-activity detector
    streams ``Concat(Y_h, Y_c)``): not a mix; AL305 checks it against the state input. It also
    reports a model output declared with num_layers·D rows (the whole stack's h_n or c_n)
    that is one layer's Y_h or Y_c alone, passed on through Identity or Cast: the other
    layers' final states are dropped (paddle2onnx 2.1 exports a stacked RNN this way).

    ## Why is this bad?
    PyTorch returns h_n ``(num_layers·D, batch, H)``: rows ``[k·D, (k+1)·D)`` are layer k's
    final h_t (forward, then backward). The ONNX graph builds it with
    ``Concat(axis=0)(Y_h of layer 0, Y_h of layer 1, ...)``. Another order gives the same shape
    and runs, but a caller that feeds h_n back as the next chunk's h0 (streaming inference)
    starts every layer from another layer's state; a Concat on another axis changes the shape
    the caller expects; and a c state inside h_n is simply the wrong quantity
    (h_t = o_t ⊙ tanh(c_t), not c_t).

    ## Example
    ``[cat_h] h_n = Concat <axis: int = 0> (Y_h1, Y_h0)`` for a 2-layer stack: write
    ``Concat(Y_h0, Y_h1)``. See fixtures/AL306/bad.onnx.txt and good.onnx.txt. A 2-layer
    stack whose output ``float[2, batch, 6] h_n`` is ``Identity(Y_h1)``: layer 0's final
    state is missing (fixtures/paddle/gru_l2.onnx, a real paddle2onnx export).
    """

    code = "AL306"
    name = "state-output-out-of-order"
    severity = Severity.ERROR
    summary = "model h_n/c_n output does not Concat the layers' Y_h/Y_c in layer order on axis 0"
    fix_safety = Safety.UNSAFE

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        outputs = recurrent_outputs(ctx)
        if not outputs:
            return
        model_outputs = set(ctx.graph.graph_outputs.get("main", ()))
        for node in ctx.graph.iter_nodes(frozenset({"Concat"})):
            if node.graph != "main" or not node.outputs or node.outputs[0] not in model_outputs:
                continue
            parts = [outputs.get((node.graph, name)) for name in node.inputs]
            if len(parts) < 2 or any(p is None or p[1] not in ("Y_h", "Y_c") for p in parts):
                continue
            known = [p for p in parts if p is not None]
            stacks = StackInfo.of(ctx)  # walked only for a Concat of states
            if len({stacks.root[layer.node.id] for layer, _ in known}) != 1:
                continue  # states of unrelated stacks: no order to check
            if _packed_pairs(known):
                continue  # each layer's (Y_h, Y_c): a packed (h, c) state, AL305 reads it
            slots = [slot for _, slot in known]
            ks = [stacks.index[layer.node.id] for layer, _ in known]
            yield from self._check(ctx, node, slots, ks)
        yield from self._dropped_layers(ctx, outputs)

    def _dropped_layers(
        self, ctx: RuleContext, outputs: dict[tuple[str, str], tuple[RecurrentLayer, str]]
    ) -> Iterator[Finding]:
        """A model output declared as the whole stack's h_n / c_n (num_layers·D rows) that is
        one layer's Y_h / Y_c alone (passed on through Identity or Cast): the other layers'
        final states are dropped (paddle2onnx writes a stacked RNN's states so)."""
        declared = {info.name: type_of(info)[1] for info in ctx.model.proto.graph.output}
        for out, shape in declared.items():
            part = outputs.get(("main", ctx.graph.through(out, "main", _COPIES)))
            if part is None or part[1] not in ("Y_h", "Y_c") or not shape:
                continue
            layer, slot = part
            axis = state_direction_axis(layer)
            rows = shape[axis] if len(shape) > axis else None
            if not whole_stack_rows(ctx, layer, rows):
                continue
            depth, d = stack_depth(ctx, layer) or 0, layer.num_directions or 0
            k = StackInfo.of(ctx).index[layer.node.id]
            yield ctx.finding(
                self, layer,
                f"model output {out!r} is declared with {rows} rows on axis {axis} "
                f"(num_layers·D = {depth}·{d}: the {slot} of the whole {depth}-layer stack) "
                f"but is {slot} of layer {k} alone ({d} row{'s' if d > 1 else ''}): the other "
                "layers' final states are dropped",
                output=slot, expected=f"Concat(axis={axis}) of the {depth} layers' {slot} in "
                f"layer order ({rows} rows)",
                actual=f"{slot} of layer {k} ({d} row{'s' if d > 1 else ''})",
                help=f"Build {out!r} as Concat(axis={axis}) of every layer's {slot}, layer 0 "
                "first, or declare it with the rows it holds. paddle2onnx 2.1 returns only the "
                "last layer's final state of a stacked paddle.nn.GRU / LSTM under the "
                "declaration of all of them (fixtures/paddle/gru_l2.onnx); onnxruntime runs it "
                "and returns fewer rows than declared.",
            )

    def _check(
        self, ctx: RuleContext, node: NodeInfo, slots: list[str], ks: list[int]
    ) -> Iterator[Finding]:
        out = node.outputs[0]
        listed = ", ".join(f"{slot} of layer {k}" for slot, k in zip(slots, ks, strict=True))
        if len(set(slots)) > 1:
            yield ctx.finding(
                self, node,
                f"{node_text(node)} builds model output {out!r} from {listed}: it mixes "
                "final hidden states (Y_h) and cell states (Y_c)",
                output="concat_result", expected="only Y_h (h_n) or only Y_c (c_n)", actual=listed,
                help="Concat the Y_h outputs into h_n and the Y_c outputs into c_n.",
            )
            return
        axis = attr_int(node, "axis")
        if axis not in (0, -3):
            yield ctx.finding(
                self, node,
                f"{node_text(node)} stacks {listed} into model output {out!r} along axis "
                f"{axis}; the (num_layers·D, batch, H) state stacks layers along axis 0",
                attribute="axis", expected=0, actual=axis,
                help="Set axis=0.",
            )
        if ks != sorted(ks):
            wanted = ", ".join(f"{slots[0]} of layer {k}" for k in sorted(ks))
            yield ctx.finding(
                self, node,
                f"{node_text(node)} stacks {listed} into model output {out!r}: layer "
                "order is broken, so rows [k·D, (k+1)·D) are not layer k's state",
                output="concat_result", expected=wanted, actual=listed,
                help="List the layers' states in layer order, layer 0 first.",
            )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Layer order: the Concat's inputs sorted by layer index; axis: 0. A Y_h / Y_c mix
        has no fix (which state was meant is a guess)."""
        node = node_of(finding, editor)
        if node is None:
            return None
        if finding.location.attribute == "axis":
            return Fix(f"Concat axis {finding.actual} -> 0", Safety.UNSAFE,
                       lambda: editor.set_attribute(node, "axis", 0))
        if not (finding.expected or "").startswith(("Y_h of layer", "Y_c of layer")):
            return None
        ctx = editor.context
        outputs, stacks = recurrent_outputs(ctx), StackInfo.of(ctx)
        graph = finding.location.graph
        ks = []
        for name in node.input:
            part = outputs.get((graph, name))
            if part is None:
                return None
            ks.append(stacks.index[part[0].node.id])
        ordered = [name for _, name in sorted(zip(ks, node.input, strict=True))]

        def apply() -> None:
            del node.input[:]
            node.input.extend(ordered)

        return Fix(f"Concat inputs in layer order: {', '.join(ordered)}", Safety.UNSAFE, apply)


def _packed_pairs(parts: list[tuple[RecurrentLayer, str]]) -> bool:
    """Each layer present gives exactly its Y_h and its Y_c: a packed (h, c) output state."""
    per_layer: dict[str, list[str]] = {}
    for layer, slot in parts:
        per_layer.setdefault(layer.node.id, []).append(slot)
    return all(sorted(slots) == ["Y_c", "Y_h"] for slots in per_layer.values())
