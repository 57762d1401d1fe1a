from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.shapes import format_shape

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class RuntimeShapeMismatch(RuntimeRule):
    """An output's actual shape differs from the shape static analysis inferred for it.

    ## What it does
    Binds the model's symbolic input dims (``--dim``, or the defaults the report states), runs
    the model, and compares every graph output's actual shape with the shape archlint inferred
    (ONNX shape inference merged with the declared output type), symbol by symbol. Unknown
    dims and symbols that appear only in outputs are shown, not checked.

    ## Why is this bad?
    Downstream code allocates buffers from declared shapes. For Y ``[seq, D, batch, H]`` and
    Y_h ``[D, batch, H]``, a declared batch of 1 that is really the input's batch means a
    consumer reads one sequence of h_t and drops the rest, or overflows its buffer.

    ## Example
    fixtures/AL507/bad.onnx.txt declares Y_h as ``[1, 1, 3]`` while X has a symbolic batch:
    with batch=2 onnxruntime returns ``[1, 2, 3]``. Declare ``[1, batch, 3]`` as in
    fixtures/AL507/good.onnx.txt.
    """

    code = "AL507"
    name = "runtime-shape-mismatch"
    severity = Severity.ERROR
    summary = "An output's actual shape differs from its statically inferred shape"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        # values archlint made up for inputs nothing bounds (a Loop's trip count, a Range's
        # limits): an output shape that follows them may differ from one declared for the
        # model's real values, so the mismatch is a warning there
        invented = [spec.name for spec in run.inputs if spec.invented]
        for out in run.outputs:
            if not out.mismatch or out.static is None:
                continue
            if invented:
                names = ", ".join(map(repr, invented))
                yield ctx.finding(
                    self, out.producer,
                    f"output {out.name!r} has shape {list(out.shape)} at run time but static "
                    f"analysis inferred {format_shape(out.static)} (with {out.binding}), on "
                    f"values archlint invented for {names}",
                    expected=out.expected, actual=str(list(out.shape)), tensor=out.name,
                    severity=Severity.WARNING,
                    help=f"Give {names} the values the model is meant for (archlint run --input "
                    "NAME=VALUE, or [tool.archlint.runtime] inputs in the config for lint "
                    "--runtime): the shape may follow them. If it still differs, fix the "
                    "declared output shape or the node that produces it.")
                continue
            yield ctx.finding(
                self, out.producer,
                f"output {out.name!r} has shape {list(out.shape)} at run time but static "
                f"analysis inferred {format_shape(out.static)} (with {out.binding})",
                expected=out.expected, actual=str(list(out.shape)), tensor=out.name,
                help="Fix the declared output shape (graph output or value_info) or the "
                "node that produces it; consumers size their buffers from it.")
