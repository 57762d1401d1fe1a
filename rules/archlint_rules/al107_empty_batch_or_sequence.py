from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe


class EmptyBatchOrSequence(LayerRule):
    """X of an LSTM has batch 0, or X of a GRU has batch 0 or seq 0.

    ## What it does
    Reports an LSTM whose X has a batch axis of exactly 0, and a GRU whose X has a batch or
    sequence axis of exactly 0, when those axes are numbers (a symbol is not reported).

    ## Why is this bad?
    The spec allows empty tensors, and an empty batch or sequence has an obvious meaning: no
    h_t to compute. onnxruntime's CPU kernels do not handle these cases: the process aborts
    during Run (``terminate called without an active exception``), with no Python exception
    to catch, so one empty request takes a whole server down. (An LSTM with seq 0 and every
    RNN return empty outputs.) A 0 usually comes from a shape baked at export from an empty
    example, or from a Slice that emptied the batch.

    ## Example
    ``LSTM (X, W, R)`` with X ``[4, 0, 2]``: give X a real batch (or a symbol) and skip the
    call for empty batches. See fixtures/AL107/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL107"
    name = "empty-batch-or-sequence"
    severity = Severity.ERROR
    layer_only = True
    summary = "LSTM with batch 0, or GRU with batch or seq 0: onnxruntime CPU aborts"
    ops = frozenset({"LSTM", "GRU"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        empty = [what for what, dim in (("batch", layer.batch_dim), ("seq", layer.seq_dim))
                 if dim == 0 and (what == "batch" or layer.op_type == "GRU")]
        if not empty:
            return
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} input X {format_shape(layer.shape('X'))} has "
            f"{' and '.join(f'{w} 0' for w in empty)}; onnxruntime's CPU kernel aborts the "
            "process on it",
            input="X", expected=f"{' and '.join(empty)} >= 1 (or a symbol)",
            actual=format_shape(layer.shape("X")),
            help="Declare the axis as a symbol or a real size, and skip the call when there "
            "is nothing to run.",
        )
