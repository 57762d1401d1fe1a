from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.patterns import DimOf, shape_vector, state_origin, transpose_perm
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import recurrent_outputs, state_batch_axis

_STATES = ("initial_h", "initial_c")


class BatchFromDirectionAxis(LayerRule):
    """A state's batch size is read from the direction axis of another recurrent output.

    ## What it does
    Follows initial_h and initial_c back to a ConstantOfShape or Expand whose shape is
    computed (``Shape`` / ``Gather`` / ``Concat``), and reports the state when its batch entry
    is read from the D axis of a recurrent output: axis 1 of Y ``[seq, D, batch, H]`` or
    axis 0 of Y_h / Y_c ``[D, batch, H]`` (also through a Transpose of Y).

    ## Why is this bad?
    The batch axis sits in a different place in each tensor: X ``[seq, batch, I]``,
    Y ``[seq, D, batch, H]``, states ``[D, batch, H]``. Reading ``Shape(Y)[1]`` as "batch" for
    the next layer's zero state reads D instead. The graph works only when batch equals D:
    batch 1 for a one-directional stack, batch 2 for a bidirectional one, and fails for any
    other batch size.

    ## Example
    ``b = Gather(Shape(Y0), 1)`` then ``h1 = ConstantOfShape(Concat([1], b, [3]))``: gather
    index 2 (the batch axis of Y), or take the batch from X. See fixtures/AL312/bad.onnx.txt
    and good.onnx.txt.
    """

    code = "AL312"
    name = "batch-from-direction-axis"
    severity = Severity.ERROR
    summary = "state batch size computed from the direction axis of Y / Y_h / Y_c"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        outputs = recurrent_outputs(ctx)
        graph = ctx.graph
        slots_of: dict[str, list[str]] = {}
        for slot in _STATES:
            ref = layer.inputs.get(slot)
            if ref is not None:
                slots_of.setdefault(ref.name, []).append(slot)
        for slots in slots_of.values():
            slot = slots[0]
            ref = layer.inputs[slot]
            origin = state_origin(graph, ref.name, layer.node.graph)
            producer = origin.producer
            shape_at = None if producer is None else \
                {"ConstantOfShape": 0, "Expand": 1}.get(producer.op_type)
            if producer is None or shape_at is None or len(producer.inputs) <= shape_at:
                continue
            vector = shape_vector(graph, producer.inputs[shape_at], producer.graph)
            element = None if vector is None or len(vector) != 3 \
                else vector[state_batch_axis(layer)]
            if not isinstance(element, DimOf):
                continue
            source = self._direction_source(ctx, element, outputs)
            if source is None:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {' and '.join(slots)} {'are' if len(slots) > 1 else 'is'}"
                f" built by {producer.op_type} "
                f"{producer.label!r} whose batch entry is axis {element.axis} of "
                f"{element.tensor!r}, the direction axis of {source}: it equals D, not batch",
                input=slot, expected="the batch axis", actual=f"D axis of {source}",
                help="Read the batch from X (Shape(X)[1], or [0] with layout=1) or from the "
                "batch axis of Y (axis 2 of [seq, D, batch, H]).",
            )

    @staticmethod
    def _direction_source(
        ctx: RuleContext, element: DimOf,
        outputs: dict[tuple[str, str], tuple[RecurrentLayer, str]],
    ) -> str | None:
        tensor, axis = element.tensor, element.axis
        producer = ctx.graph.producer(tensor)
        if producer is not None and producer.op_type == "Transpose" and producer.inputs:
            perm = transpose_perm(producer, 4)
            if perm is not None and 0 <= axis < len(perm):
                tensor, axis = producer.inputs[0], perm[axis]
        found = outputs.get(("main", tensor))
        if found is None:
            return None
        upstream, slot = found
        # Y [seq, D, batch, H] / states [D, batch, H]; layout=1 puts batch first.
        d_axis = {"Y": 1, "Y_h": 0, "Y_c": 0}[slot] + (1 if upstream.layout == 1 else 0)
        return f"{slot} of {describe(upstream)}" if axis == d_axis else None
