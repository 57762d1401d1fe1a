from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class SequenceLensOutOfRange(LayerRule):
    """A constant sequence_lens holds a length below 0 or above X's sequence length.

    ## What it does
    When sequence_lens is a constant (an initializer or a Constant node), every value must
    lie in ``0 <= sequence_lens[b] <= seq``, where seq is X's sequence axis. This rule reports
    the values outside that range: negative ones always, too-large ones when seq is a number.

    ## Why is this bad?
    Batch entry b runs the recurrence h_t = f(x_t, h_{t-1}) for t < sequence_lens[b] and
    stops. A negative length means nothing; a length beyond seq would read time steps x_t
    that do not exist. onnxruntime fails at Run with ``Invalid value/s in sequence_lens. All
    values must be >= 0 and <= seq_length. seq_length=4``. A baked-in length vector from the
    export's example input (longer than the sequences seen later) is the usual cause.

    ## Example
    ``GRU (X, W, R, B, seq_lens)`` with X ``[4, 2, 2]`` and seq_lens ``{4, 9}``: 9 > 4.
    Compute sequence_lens from the real batch, or clip it to seq. See
    fixtures/AL106/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL106"
    name = "sequence-lens-out-of-range"
    severity = Severity.ERROR
    summary = "A constant sequence_lens value is < 0 or > X's sequence length"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        ref = layer.inputs.get("sequence_lens")
        found = None if ref is None else ref.int_value
        if ref is None or found is None:
            return
        values = list(found[0])
        seq = layer.seq_dim
        limit = seq if isinstance(seq, int) else None
        bad = [v for v in values if v < 0 or (limit is not None and v > limit)]
        if not bad:
            return
        upper = str(limit) if limit is not None else "seq"
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} input sequence_lens holds {_listed(bad)} outside "
            f"0..{upper} (X's sequence length is {upper})",
            input="sequence_lens", expected=f"every value in 0..{upper}",
            actual=_listed(values),
            help="Each sequence_lens[b] is the number of valid steps of batch entry b: compute "
            "it from the real inputs (not the export's example) and keep it within X's "
            "sequence axis.",
        )


def _listed(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:8])
    return f"[{shown}{', ...' if len(values) > 8 else ''}]"
