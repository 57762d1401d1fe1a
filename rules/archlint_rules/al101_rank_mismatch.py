from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.contrib_ops import stored_layout
from archlint.recurrent import SLOT_RANKS, RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe

_SPEC_SHAPES = {
    "X": "[seq, batch, I] (layout=1: [batch, seq, I])",
    "W": "[D, gates·H, I]",
    "R": "[D, gates·H, H]",
    "B": "[D, 2·gates·H]",
    "sequence_lens": "[batch]",
    "initial_h": "[D, batch, H] (layout=1: [batch, D, H])",
    "initial_c": "[D, batch, H] (layout=1: [batch, D, H])",
    "P": "[D, 3·H]",
    "Y": "[seq, D, batch, H] (layout=1: [batch, seq, D, H])",
    "Y_h": "[D, batch, H] (layout=1: [batch, D, H])",
    "Y_c": "[D, batch, H] (layout=1: [batch, D, H])",
}


class RankMismatch(LayerRule):
    """An input or output of an LSTM, GRU or RNN node has the wrong number of dimensions.

    ## What it does
    With D = num_directions, H = hidden_size and I = input size, the spec fixes the rank of
    every slot: X ``[seq, batch, I]`` (3), W ``[D, gates·H, I]`` (3), R ``[D, gates·H, H]``
    (3), B ``[D, 2·gates·H]`` (2), sequence_lens ``[batch]`` (1), initial_h and initial_c
    ``[D, batch, H]`` (3), P ``[D, 3·H]`` (2), Y ``[seq, D, batch, H]`` (4) and Y_h, Y_c
    ``[D, batch, H]`` (3). This rule reports every bound slot whose rank is known and differs.
    A tensor of the wrong rank is reported here once; the size rules (AL102-AL104, AL201,
    AL301) treat its axes as unknown rather than misreading them.

    ## Why is this bad?
    The kernel indexes each tensor by these axes: W[d] is the input projection of direction d,
    its rows are the stacked gate blocks (i, o, f, c for an LSTM), and h_{t-1} of batch entry
    b is initial_h[d, b]. A rank-2 W ``[4·H, I]`` has lost the direction axis (an exporter that
    wrote W/R/B as rank 2/2/1); a rank-2 initial_h ``[D, H]`` saved as an initializer has lost
    its batch axis; a rank-4 X or initial_h is what graph surgery leaves behind. onnxruntime
    rejects each: X at session creation (shape inference), the others at the first Run
    (``Input W must have shape {1,12,2}. Actual:{12,2}``).

    ## Example
    ``LSTM <hidden_size: int = 3> (X, W, R)`` with W ``[12, 2]`` and R ``[12, 3]``: both lack
    the leading D axis. Unsqueeze them to ``[1, 12, 2]`` and ``[1, 12, 3]`` (or re-export).
    See fixtures/AL101/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL101"
    name = "rank-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "An LSTM/GRU/RNN input or output has a rank other than the spec's"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        for slot, ref in (*layer.inputs.items(), *layer.outputs.items()):
            expected = SLOT_RANKS.get(slot)
            if ref.shape is None or expected is None or len(ref.shape) == expected:
                continue
            is_output = slot in layer.outputs
            actual = format_shape(ref.shape)
            spec = stored_layout(layer, slot) or _SPEC_SHAPES[slot]
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {'output' if is_output else 'input'} {slot} has rank "
                f"{len(ref.shape)} {actual}; the spec's {slot} is rank {expected} {spec}",
                input=None if is_output else slot, output=slot if is_output else None,
                expected=f"rank {expected} {spec}",
                actual=f"rank {len(ref.shape)} {actual}",
                help=_hint(layer, slot, len(ref.shape), expected),
            )


def _hint(layer: RecurrentLayer, slot: str, rank: int, expected: int) -> str:
    d = layer.num_directions or 1
    if slot in layer.outputs:
        return (f"The node always makes a rank-{expected} {slot}: fix the declared shape "
                "(value_info or graph output).")
    if slot in ("W", "R", "B", "P") and rank == expected - 1:
        return (f"{slot} lacks its leading num_directions axis: Unsqueeze it at axis 0 "
                f"(D={d}), or re-export the weights.")
    if slot in ("initial_h", "initial_c") and rank == 2:
        return (f"{slot} has lost an axis, usually batch (a [D, H] initializer saved without "
                f"it). Give it the batch axis: [D, batch, H], e.g. Expand it to X's batch.")
    if rank > expected:
        return (f"{slot} has {rank - expected} extra axis(es), as graph surgery leaves them: "
                f"Squeeze or Reshape it to rank {expected} before the {layer.op_type}.")
    return f"Reshape {slot} to rank {expected} before the {layer.op_type}, or fix the export."
