from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.graph import dtype_name
from archlint.onnx_protos import TensorProto
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._fixes import input_index, node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor


class SequenceLensDtype(LayerRule):
    """sequence_lens is not an int32 tensor.

    ## What it does
    The spec types sequence_lens as ``T1 = tensor(int32)``, one length per batch entry. This
    rule reports a sequence_lens whose element type is known and is anything else.

    ## Why is this bad?
    sequence_lens[b] tells the recurrence where the sequence of batch entry b ends: steps
    t >= sequence_lens[b] do not update h_t, and Y is zero there. The type is fixed by the
    operator schema, so an int64 vector (the default integer type of PyTorch and NumPy) makes
    the model invalid: onnxruntime refuses it at session creation with
    ``Type Error: Type 'tensor(int64)' of input parameter (seq_lens) of operator (LSTM) ...
    is invalid``.

    ## Example
    ``LSTM (X, W, R, B, seq_lens)`` with ``int64[batch] seq_lens``: insert
    ``Cast <to = 6>`` (int32) before the LSTM, or declare the input as ``int32[batch]``.
    See fixtures/AL105/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL105"
    name = "sequence-lens-dtype"
    severity = Severity.ERROR
    layer_only = True
    summary = "sequence_lens is not int32"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        ref = layer.inputs.get("sequence_lens")
        if ref is None or ref.dtype is None or ref.dtype == TensorProto.INT32:
            return
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} input sequence_lens is {dtype_name(ref.dtype)}; the operator "
            "requires int32",
            input="sequence_lens", expected="int32", actual=dtype_name(ref.dtype),
            help="Cast sequence_lens to int32 (Cast to=6) before the node, or export it as "
            "int32.",
        )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """A Cast to int32 in front of the node: lengths are at most the sequence length, so
        the values are unchanged (the original did not load; the fixed one runs them)."""
        node = node_of(finding, editor)
        index = input_index(node, finding.location.tensor) if node is not None else None
        if node is None or index is None:
            return None
        return Fix(f"insert Cast(to=int32) on sequence_lens {finding.location.tensor!r}",
                   Safety.SAFE, lambda: editor.insert_before(
                       node, index, "Cast", {"to": TensorProto.INT32}, "seq_lens_int32"))
