from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import DimOf, shape_vector
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe
from archlint_rules._layout import (
    constant_state,
    dynamic_symbols,
    folded_state_batch,
    state_batch_axis,
    state_root,
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
    (a zero state sliced for every layer of a stack is one defect, and so are the per-layer
    constants holding the same values that constant folding makes of it, one finding per
    state naming the other layers). A shape computed from
    constants alone counts as constant, and gives the batch where onnx's inference does not
    (torch's classic exporter writes ``h0.expand(1, B, H)``, B a Python int, as a Where over
    constants).

    Where X's batch is a symbol inference made (``unk__1``: the rows gathered at computed
    indices, as torch 1.x's ``pack_padded_sequence(enforce_sorted=False)`` sorts them by
    length) and the state is an Expand of a constant whose batch is not 1 to X's batch read
    at run time (Shape(X)), it warns: the layer runs only where X's batch is the constant's
    (fixtures/AL308/torch1_packed_unsorted.onnx; the sorted export keeps the input's symbol
    and gets the error).

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
        # of a stack is one defect, reported at the first layer that reads it. Constant
        # folding stores each layer's slice as a constant of its own: the constants one slot
        # of the layers reads holding the same values are that one defect too.
        groups: dict[object, list[Finding]] = {}
        group_of: dict[str, object] = {}  # a constant both states read is one defect
        for layer in ctx.layers:
            for finding, source in self._layer(layer, ctx):
                if source not in group_of:
                    slot = finding.location.input
                    values = _same_values(ctx, layer, slot)
                    group_of[source] = source if values is None else (slot, values)
                groups.setdefault(group_of[source], []).append(finding)
        for findings in groups.values():
            first, others = findings[0], findings[1:]
            if not others:
                yield first
                continue
            states = [(f.location.node or f.location.op_type or "", f.location.input or "")
                      for f in others]
            if all(slot == first.location.input for _, slot in states):
                what = f"the {first.location.input} of {', '.join(n for n, _ in states)}"
            else:
                what = ", ".join(f"{node}'s {slot}" for node, slot in states)
            yield replace(first, message=(
                f"{first.message} (and {what}: the same constant values)"))

    def _layer(
        self, layer: RecurrentLayer, ctx: RuleContext
    ) -> Iterator[tuple[Finding, str]]:
        if not any(slot in layer.inputs for slot in _STATES):
            return  # absent states are zeros of the right batch
        batch = layer.batch_dim
        symbols = dynamic_symbols(ctx)
        if not isinstance(batch, str) or not symbols:
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
            if batch not in symbols:  # X's batch is computed (inference named it)
                expand = _expanded_to_x_batch(ctx, layer, slot, axis)
                if expand is not None and fixed != 1:
                    yield self._computed_batch(ctx, layer, slot, ref.shape, source, fixed,
                                               expand), source
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

    def _computed_batch(
        self, ctx: RuleContext, layer: RecurrentLayer, slot: str,
        shape: tuple[int | str | None, ...] | None, source: str, fixed: int, expand: NodeInfo,
    ) -> Finding:
        """X's batch is one inference could not name after an input's axis (a Gather of the
        input's rows at computed indices: torch 1.x's pack_padded_sequence with
        enforce_sorted=False sorts the batch by length with TopK), while the exporter expands
        the constant state to it: only the constant's own batch works, and whether X's batch
        is ever another is not in the graph, so a warning."""
        x_axis = 1 - layer.layout
        return ctx.finding(
            self, layer,
            f"{describe(layer)} {slot} {format_shape(shape)} comes from {source} (batch "
            f"{fixed}), which Expand {expand.label!r} expands to X's batch (Shape(X)"
            f"[{x_axis}], {layer.batch_dim!r}, computed at run time): an Expand broadcasts "
            f"only an axis of size 1, so the layer runs only where X's batch is {fixed}",
            input=slot, expected="a state of batch 1 expanded to X's batch, or zeros built "
            "from it", actual=f"batch {fixed}", severity=Severity.WARNING,
            help=(f"Store the zeros with batch 1 ([D, 1, H]) so the Expand broadcasts them, "
                  f"or build them with ConstantOfShape of Concat([D], Shape(X)[{x_axis}:"
                  f"{x_axis + 1}], [H]), or omit {slot}: absent states are zeros. torch 1.x's "
                  "classic exporter writes this for pack_padded_sequence (the zero state "
                  "at the example's batch); torch 2.x writes ConstantOfShape: export again, "
                  "or pass h0 built from the input's batch."),
        )


def _expanded_to_x_batch(
    ctx: RuleContext, layer: RecurrentLayer, slot: str, axis: int
) -> NodeInfo | None:
    """The Expand that makes ``slot`` where its shape's batch element is X's batch read at
    run time (Shape(X) of this layer's X, or of a tensor with X's batch symbol), else None."""
    ref = layer.inputs.get(slot)
    producer = None if ref is None else ctx.graph.producer(ref.name, layer.node.graph)
    if producer is None or producer.op_type != "Expand" or len(producer.inputs) < 2:
        return None
    target = shape_vector(ctx.graph, producer.inputs[1], producer.graph)
    if target is None or not 0 <= axis < len(target):
        return None
    element = target[axis]
    x = layer.inputs.get("X")
    if not isinstance(element, DimOf) or x is None:
        return None
    if (element.tensor == x.name and element.axis == 1 - layer.layout) \
            or element.dim == layer.batch_dim:
        return producer
    return None


def _same_values(ctx: RuleContext, layer: RecurrentLayer, slot: str | None) -> object:
    """What the constant a state comes from holds (type, shape, bytes), where it is small
    enough to read; None otherwise."""
    found = state_root(ctx, layer, slot)
    value = None if found is None else found[1].value
    return None if value is None else (value.dtype.str, value.shape, value.tobytes())
