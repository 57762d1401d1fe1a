from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import attr_ints
from archlint.shapes import format_shape
from archlint_rules._layout import (
    downstream_of_recurrent,
    dynamic_symbols,
    node_text,
    state_labels,
    y_labels,
)


class SqueezeWithoutAxes(Rule):
    """A Squeeze with no axes after a recurrent node also removes a dynamic axis that is 1.

    ## What it does
    Looks at every Squeeze that reads, directly or not, an output of an LSTM, GRU or RNN and
    names no axes (no ``axes`` attribute before opset 13, no ``axes`` input after). Such a
    Squeeze removes every axis of size 1 at run time. When its input has an axis that is a
    dynamic dim of a graph input (``seq``, ``batch``), that axis goes too whenever the caller
    gives it 1, and the output loses a rank. So does an axis whose symbol shape inference
    made up for a recurrent node's sequence or batch (a Reshape to a computed shape before
    the layer loses the input's name: PLCMOS's score is ``[unk__13, 1]`` after its GRUs'
    last states): it is the layer's, which the caller sizes.

    ## Why is this bad?
    Y is ``[seq, D, batch, H]``: ``Squeeze(Y)`` written to drop D gives ``[seq, batch, H]``
    for every length but 1, and ``[batch, H]`` for a single step, the very size a streaming
    caller feeds frame by frame (a model that takes and returns its states runs one step at a
    time). The declared output shape no longer holds and the caller's indexing breaks; nothing
    fails at the lengths the model was tried at. madmom's published beat trackers end in
    ``Squeeze(sigmoid)`` of ``[frames, 1]``: at one frame the output is a scalar.

    ## Example
    ``[drop_dir] out = Squeeze (Y)`` after a one-directional LSTM over ``[seq, batch, I]``:
    name the axis, ``Squeeze (Y, axes)`` with ``axes = [1]``. See
    fixtures/AL320/bad.onnx.txt and good.onnx.txt; fixtures/AL320/make_torch_squeeze.py
    exports both cases from torch (``torch_squeeze_lost_batch_classic.onnx``: a scalar at
    batch 1).
    """

    code = "AL320"
    name = "squeeze-without-axes"
    severity = Severity.WARNING
    summary = "Squeeze with no axes after a recurrent node: a dynamic axis of size 1 goes too"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not ctx.layers:
            return
        # a Squeeze with an axes input names them (opset 13 on): only those with one input
        squeezes = [node for node in ctx.graph.with_few_inputs("Squeeze", 1)
                    if node.inputs and attr_ints(node, "axes") is None]  # before opset 13
        if not squeezes:
            return
        symbols = {dim: f"dynamic in graph input {name!r}"
                   for dim, name in dynamic_symbols(ctx).items()}
        for dim, where in _recurrent_axes(ctx).items():
            symbols.setdefault(dim, where)
        if not symbols:
            return
        for node in squeezes:
            data = ctx.graph.tensor(node.inputs[0], node.graph)
            shape = None if data is None else data.shape
            dynamic = [(axis, dim) for axis, dim in enumerate(shape or ())
                       if isinstance(dim, str) and dim in symbols]
            if not dynamic or not downstream_of_recurrent(ctx, node.id):
                continue
            yield self._finding(ctx, node, shape or (), dynamic, symbols)

    def _finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[int | str | None, ...],
        dynamic: list[tuple[int, str]], symbols: dict[str, str],
    ) -> Finding:
        ones = [axis for axis, dim in enumerate(shape) if dim == 1]
        dim = dynamic[0][1]
        names = ", ".join(f"axis {a} ({d!r}, {symbols[d]})" for a, d in dynamic)
        expected = f"axes {ones}" if ones else "axes naming the size-1 axes it is meant to drop"
        return ctx.finding(
            self, node,
            f"{node_text(node)} names no axes on {format_shape(shape)}: it removes every axis "
            f"of size 1 at run time, so {names} {'goes' if len(dynamic) == 1 else 'go'} too "
            f"when it is 1 (at {dim}=1 the output "
            f"has rank {len(shape) - len(ones) - 1}, not {len(shape) - len(ones)})",
            input="axes", expected=expected, actual="no axes",
            help=(f"Give the axes to drop: Squeeze(x, axes={ones}) " if ones else
                  "Give the axes to drop ") + "(torch: x.squeeze(1), not x.squeeze(); Keras: "
            "a Reshape or keras.ops.squeeze(x, axis=...)), so a single step keeps its axis.",
        )


# What the layout labels of a recurrent node's outputs call the axes a caller sizes
_SIZED_AXES = {"seq": "sequence", "batch": "batch"}


def _recurrent_axes(ctx: RuleContext) -> dict[str, str]:
    """The symbols shape inference gave a recurrent node's outputs on their sequence and batch
    axes, each with what it is: they follow X's, which the caller sizes, where inference lost
    the input's symbol on the way (a Reshape to a computed shape before the layer: PLCMOS's
    GRUs, whose Y_h batch is ``unk__13`` though the inputs declare ``batch_size``)."""
    found: dict[str, str] = {}
    for layer in ctx.layers:
        for slot, labels in (("Y", y_labels(layer)), ("Y_h", state_labels(layer)),
                             ("Y_c", state_labels(layer))):
            ref = layer.outputs.get(slot)
            if ref is None or ref.shape is None:
                continue
            for dim, label in zip(ref.shape, labels, strict=False):
                if label in _SIZED_AXES and isinstance(dim, str) and dim not in found:
                    found[dim] = f"the {_SIZED_AXES[label]} of {layer.op_type} {layer.label!r}"
    return found
