from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import Dim, format_shape
from archlint_rules._dims import describe


class OutputShapeMismatch(LayerRule):
    """A declared output shape disagrees with the seq or batch size the node produces.

    ## What it does
    The node produces Y ``[seq, D, batch, H]`` and Y_h, Y_c ``[D, batch, H]`` (with
    ``layout=1``: Y ``[batch, seq, D, H]`` and Y_h, Y_c ``[batch, D, H]``), where seq and
    batch are X's. This rule compares the seq and batch axes of the shapes declared for the
    outputs (value_info or graph outputs) with X's. The H axes are AL201's and the D axes
    AL301's, so each defect is reported once.

    ## Why is this bad?
    Y stacks h_t for every step t of every batch entry; Y_h is h_T, the last state of each
    entry. Their seq and batch sizes are X's, whatever the declaration says. A wrong
    declaration makes every consumer that trusts it (shape inference, a runtime's memory
    planner, a converter) plan for the wrong tensor: a fixed seq baked into a declared Y is
    wrong as soon as a sequence of another length arrives. onnxruntime only logs
    ``Error merging shape info for output. 'Y' source:{5,1,2,3} target:{4,1,2,3}. Falling
    back to lenient merge.`` and returns the ``[5, 1, 2, 3]`` the declaration denies.

    ## Example
    ``LSTM (X, W, R)`` with X ``[5, 2, 4]`` and a graph output Y declared ``[4, 1, 2, 3]``:
    the node makes ``[5, 1, 2, 3]``. See fixtures/AL104/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL104"
    name = "output-shape-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "A declared Y, Y_h or Y_c disagrees with X's seq or batch size"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        seq, batch = layer.seq_dim, layer.batch_dim
        batch_first = layer.layout == 1
        state_batch = 0 if batch_first else 1
        axes = {
            "Y": ((0, "batch", batch), (1, "seq", seq)) if batch_first
            else ((0, "seq", seq), (2, "batch", batch)),
            "Y_h": ((state_batch, "batch", batch),),
            "Y_c": ((state_batch, "batch", batch),),
        }
        for slot, checks in axes.items():
            shape = layer.shape(slot) if layer.has_spec_rank(slot) else None
            if shape is None:
                continue
            wanted: dict[int, Dim] = {}
            names = []
            for axis, what, value in checks:
                if isinstance(value, int) and isinstance(shape[axis], int) and shape[axis] != value:
                    wanted[axis] = value
                    names.append(f"{what} {shape[axis]} (X has {value})")
            if not wanted:
                continue
            expected = format_shape(tuple(wanted.get(k, d) for k, d in enumerate(shape)))
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} output {slot} is declared {format_shape(shape)} with "
                f"{' and '.join(names)}; the node makes {expected}",
                output=slot, expected=expected, actual=format_shape(shape),
                help="Fix the declared shape (value_info or graph output); use a symbol such "
                "as 'seq' or 'batch' where the size varies.",
            )
