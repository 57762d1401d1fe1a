from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe


def batch_axes(layer: RecurrentLayer) -> tuple[tuple[str, int], ...]:
    """(slot, axis) of every input's batch axis, X first."""
    batch_first = layer.layout == 1
    state = 0 if batch_first else 1
    return (("X", 0 if batch_first else 1), ("sequence_lens", 0),
            ("initial_h", state), ("initial_c", state))


class BatchSizeMismatch(LayerRule):
    """X, sequence_lens, initial_h and initial_c disagree on the batch size.

    ## What it does
    The batch size appears in X ``[seq, batch, I]``, sequence_lens ``[batch]`` and
    initial_h, initial_c ``[D, batch, H]`` (with ``layout=1``: X ``[batch, seq, I]`` and
    states ``[batch, D, H]``). This rule takes X's batch (or, when it is not a number, the
    first input that has one) and reports every other input whose batch axis is a different
    number. The same symbol is conformable; a symbol against a number, or two different
    symbols, cannot be proved wrong and is not reported.

    ## Why is this bad?
    Every batch entry b is an independent sequence: h_0 of entry b is initial_h[d, b], and
    sequence_lens[b] says where its sequence ends. With a different count the kernel cannot
    pair states with sequences; onnxruntime fails at Run with
    ``Input initial_h must have shape {1,2,3}. Actual:{1,3,3}`` or
    ``Input sequence_lens must have shape {2}. Actual:{3}``. The usual cause is a state or a
    length vector made for a fixed batch (the export's example batch) fed with another one.

    ## Example
    ``GRU (X, W, R, B, seq_lens, h0)`` with X ``[4, 2, 2]``, sequence_lens ``[3]`` and
    initial_h ``[1, 3, 3]``: both need batch 2. See fixtures/AL103/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL103"
    name = "batch-size-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "X, sequence_lens, initial_h and initial_c disagree on the batch size"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        axes = [(slot, axis, layer.conformable_dim(slot, axis)) for slot, axis in batch_axes(layer)]
        reference = next(((s, d) for s, _, d in axes if isinstance(d, int)), None)
        if reference is None:
            return
        ref_slot, batch = reference
        for slot, axis, dim in axes:
            if not isinstance(dim, int) or dim == batch:
                continue
            shape = layer.shape(slot) or ()
            expected = format_shape(tuple(batch if k == axis else d for k, d in enumerate(shape)))
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} input {slot} has batch {dim} (axis {axis} of "
                f"{format_shape(shape)}) but {ref_slot} has batch {batch}",
                input=slot, expected=expected, actual=format_shape(shape),
                help=_hint(slot, ref_slot, batch),
            )


def _hint(slot: str, ref_slot: str, batch: int) -> str:
    if slot == "sequence_lens":
        return (f"sequence_lens holds one length per batch entry: give it {batch} values, "
                "computed from the real batch rather than the export's example.")
    if slot == "X":
        return f"X's batch must be the {ref_slot}'s ({batch}), or the other way round."
    return (f"Give {slot} the batch size of {ref_slot} ({batch}): build the state from X's "
            "batch (e.g. Expand a [D, 1, H] state) instead of the export's example batch.")
