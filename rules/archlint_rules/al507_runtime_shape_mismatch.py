from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.shapes import format_shape

if TYPE_CHECKING:
    from archlint.runtime.result import OutputCheck, RuntimeRun


class RuntimeShapeMismatch(RuntimeRule):
    """An output's actual shape differs from its static shape (declared, or inferred).

    ## What it does
    Binds the model's symbolic input dims (``--dim``, or the defaults the report states), runs
    the model, and compares every graph output's actual shape with the shape archlint inferred
    (ONNX shape inference merged with the declared output type), symbol by symbol. Unknown
    dims and symbols that appear only in outputs are shown, not checked.

    Where the output disagrees only on axes whose static shape holds a number, and each of
    those axes moved with a dim the check swept (``--sweep``, on by default), the values
    follow the dim and only the declaration holds another size (the export example's): a
    warning, as AL513 reports it when archlint's size happens to be the export's and AL316
    without a run. A declared symbol bound to another size, another rank, or a number on an
    axis no sweep moved stays an error. Where archlint made up the values of an input that
    nothing bounds (a Loop's trip count, lengths), a mismatch is a warning that asks for them,
    unless each axis holds a swept dim's size in both runs: it follows that dim.

    ## Why is this bad?
    Downstream code allocates buffers from declared shapes. For Y ``[seq, D, batch, H]`` and
    Y_h ``[D, batch, H]``, a declared axis that names the sequence where the node makes the
    batch (or keeps a layer's state the graph no longer outputs) means a consumer reads
    the wrong rows of h_t, or overflows its buffer.

    ## Example
    fixtures/AL507/bad.onnx.txt declares Y_h as ``[1, seq, 3]`` while the LSTM makes
    ``[1, batch, 3]``: with seq=5 and batch=2 onnxruntime returns ``[1, 2, 3]``. Declare
    ``[1, batch, 3]`` as in fixtures/AL507/good.onnx.txt. fixtures/AL507/declared_batch.onnx.txt
    declares ``[1, 1, 3]``: the output follows the batch (``[1, 3, 3]`` at batch=3), a
    warning.
    """

    code = "AL507"
    name = "runtime-shape-mismatch"
    severity = Severity.ERROR
    summary = "An output's actual shape differs from its statically inferred shape"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        # values archlint made up for inputs nothing bounds (a Loop's trip count, a Range's
        # limits): an output shape that follows them may differ from one declared for the
        # model's real values, so the mismatch is a warning there
        invented = [name for name, _ in run.invented_inputs]
        bases = {sweep.dim: sweep.base for sweep in run.sweep}
        for out in run.outputs:
            if not out.mismatch or out.static is None:
                continue
            if invented and not _follows_exactly(out, bases):
                names = ", ".join(map(repr, invented))
                yield ctx.finding(
                    self, out.producer,
                    f"output {out.name!r} has shape {list(out.shape)} at run time but its "
                    f"static shape is {format_shape(out.static)} (with {out.binding}), on "
                    f"values archlint invented for {names}",
                    expected=out.expected, actual=str(list(out.shape)), tensor=out.name,
                    severity=Severity.WARNING,
                    help=f"Give {names} the values the model is meant for (archlint run --input "
                    "NAME=VALUE, or [tool.archlint.runtime] inputs in the config for lint "
                    "--runtime): the shape may follow them. If it still differs, fix the "
                    "declared output shape or the node that produces it.")
                continue
            if out.follows:
                yield self._declaration_finding(ctx, out)
                continue
            yield ctx.finding(
                self, out.producer,
                f"output {out.name!r} has shape {list(out.shape)} at run time but its static "
                f"shape (declared, merged with shape inference) is {format_shape(out.static)} "
                f"(with {out.binding})",
                expected=out.expected, actual=str(list(out.shape)), tensor=out.name,
                help="Fix the declared output shape (graph output or value_info) or the "
                "node that produces it; consumers size their buffers from it."
                + (_GIVEN if _number_disagrees(out) and run.settings.dims else ""))

    def _declaration_finding(self, ctx: RuleContext, out: OutputCheck) -> Finding:
        """The output follows dims the sweep moved; only its declaration holds other sizes."""
        assert out.static is not None
        axes = "; ".join(
            f"axis {axis} follows {dim} ({out.shape[axis]} here, {then} at {dim}={size}) "
            f"where the declaration holds {out.static[axis]}"
            for axis, dim, size, then in out.follows)
        return ctx.finding(
            self, out.producer,
            f"output {out.name!r} has shape {list(out.shape)} at run time but is declared "
            f"{format_shape(out.static)} (with {out.binding}): {axes}",
            expected=out.expected, actual=str(list(out.shape)), tensor=out.name,
            severity=Severity.WARNING,
            help="The declaration was written with one size (often the export example's; "
            "AL316 finds some without a run). Declare the axis with the graph input's "
            "symbol, or leave it unnamed; in torch, the classic exporter (dynamo=False) "
            "declares it dynamic. onnxruntime computes the output right and warns; buffers "
            "sized from the declared shape are wrong.")


_GIVEN = (" A dim given with --dim or the config's dims is not swept: where this axis follows "
          "it, only the declaration is wrong (a warning when the sweep moves the axis).")


def _follows_exactly(out: OutputCheck, bases: Mapping[str, int]) -> bool:
    """Whether every axis where ``out`` disagrees with its declaration holds the size of a
    swept dim in the main run and the dim's other size in the sweep: it follows that dim,
    whatever values archlint made up for the inputs it invented (a lengths input of
    pytorch-forecasting's DeepAR, read to pick the last target, says nothing of the
    decoder's length the output has)."""
    return bool(out.follows) and all(
        then == size and out.shape[axis] == bases.get(dim)
        for axis, dim, size, then in out.follows)


def _number_disagrees(out: OutputCheck) -> bool:
    """Whether the static shape holds a number where the output has another size."""
    return out.static is not None and len(out.static) == len(out.shape) and any(
        isinstance(dim, int) and dim != actual
        for dim, actual in zip(out.static, out.shape, strict=True))
