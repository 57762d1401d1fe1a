from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import squeeze_axes, transpose_perm
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import node_text

# Where D sits in each output: Y [seq, D, batch, H] and states [D, batch, H]; layout=1 gives
# Y [batch, seq, D, H] and states [batch, D, H].
_D_AXIS = {0: {"Y": (1, 4), "Y_h": (0, 3), "Y_c": (0, 3)},
           1: {"Y": (2, 4), "Y_h": (1, 3), "Y_c": (1, 3)}}
_PASS = frozenset({"Identity", "Cast"})
_MAX_STEPS = 32


class SqueezeDirectionAxis(LayerRule):
    """A Squeeze removes the direction axis of a bidirectional Y, Y_h or Y_c (size 2).

    ## What it does
    Follows Y, Y_h and Y_c of every bidirectional LSTM, GRU or RNN forward through Identity,
    Cast and Transpose (tracking where the direction axis D goes) and reports a Squeeze whose
    ``axes`` include D. D is 2 there, and Squeeze only removes axes of size 1.

    ## Why is this bad?
    A one-directional layer's Y is ``[seq, 1, batch, H]``, and exporters (and hand-written
    graph surgery) drop the 1 with ``Squeeze(Y, axes=[1])``. Switch the layer to
    ``direction="bidirectional"`` and keep that Squeeze, and the axis is 2: the model is
    invalid, onnxruntime refuses to load it ("Dimension of input 1 must be 1 instead of 2"),
    and onnx's shape inference stops there, so every check after it sees no shapes. The two
    directions must be kept: concatenated feature-wise (``Transpose [0, 2, 1, 3]`` then
    ``Reshape [0, 0, -1]``, giving ``[seq, batch, 2·H]``) or one picked with ``Gather``.

    ## Example
    ``[drop_dir] out = Squeeze (Y, [1])`` after a bidirectional LSTM: use
    ``Transpose <perm = [0, 2, 1, 3]>`` and ``Reshape [0, 0, -1]`` instead. See
    fixtures/AL314/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL314"
    name = "squeeze-direction-axis"
    severity = Severity.ERROR
    summary = "Squeeze of the size-2 direction axis of a bidirectional Y / Y_h / Y_c"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.num_directions != 2 or layer.layout not in (0, 1):
            return
        for slot, (d_axis, rank) in _D_AXIS[layer.layout].items():
            ref = layer.outputs.get(slot)
            if ref is None:
                continue
            for squeeze, axis in _squeezes(ctx, ref.name, layer.node.graph, d_axis, rank):
                yield ctx.finding(
                    self, squeeze,
                    f"{node_text(squeeze)} squeezes axis {axis} of {squeeze.inputs[0]!r}, the "
                    f"direction axis (size 2) of {slot} of bidirectional {describe(layer)}: "
                    "onnxruntime refuses to load the model",
                    input="data", expected="axes without the direction axis (only size-1 "
                    "axes can be squeezed)", actual=f"axes include {axis} (D = 2)",
                    help=_help(slot),
                )


def _help(slot: str) -> str:
    if slot == "Y":
        return ("Keep both directions: Transpose Y with perm=[0, 2, 1, 3] and Reshape with "
                "[0, 0, -1] to [seq, batch, 2·H], or Gather one direction on that axis.")
    return (f"Keep both directions: Transpose {slot} with perm=[1, 0, 2] and Reshape with "
            "[0, -1] to [batch, 2·H], or Gather one direction (index 0 forward, 1 backward).")


def _squeezes(
    ctx: RuleContext, name: str, scope: str, d_axis: int, rank: int
) -> Iterator[tuple[NodeInfo, int]]:
    """(Squeeze, axis of D at its input) for every Squeeze reached with D among its axes."""
    stack = [(name, scope, d_axis)]
    seen: set[tuple[str, str]] = set()
    while stack and len(seen) < _MAX_STEPS:
        tensor, where, axis = stack.pop()
        if (where, tensor) in seen:
            continue
        seen.add((where, tensor))
        for consumer in ctx.graph.consumers_of(tensor, where):
            if not consumer.inputs or consumer.inputs[0] != tensor or not consumer.outputs:
                continue
            if consumer.op_type in _PASS:
                stack.append((consumer.outputs[0], consumer.graph, axis))
            elif consumer.op_type == "Transpose":
                perm = transpose_perm(consumer, rank)
                if perm is not None and len(perm) == rank:
                    stack.append((consumer.outputs[0], consumer.graph, perm.index(axis)))
            elif consumer.op_type == "Squeeze":
                axes = squeeze_axes(ctx.graph, consumer)
                if axes is not None and axis in {a + rank if a < 0 else a for a in axes}:
                    yield consumer, axis


