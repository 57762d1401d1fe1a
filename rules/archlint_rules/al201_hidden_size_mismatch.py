from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.contrib_ops import stored_layout
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import (
    AxisMismatch,
    axis_mismatches,
    describe,
    known_dim,
    slots_text,
    stored_note,
)
from archlint_rules._fixes import node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor

_WEIGHT_SLOTS = ("W", "R", "B")


class HiddenSizeMismatch(LayerRule):
    """The hidden_size attribute disagrees with the shapes of the weights, states or outputs.

    ## What it does
    With D = num_directions, H = hidden_size, I = input size and g gates (LSTM 4 in the order
    i, o, f, c; GRU 3; RNN 1), the spec requires W ``[D, g·H, I]``, R ``[D, g·H, H]``,
    B ``[D, 2·g·H]``, P ``[D, 3·H]``, initial_h/initial_c ``[D, batch, H]`` and outputs
    Y ``[seq, D, batch, H]``, Y_h/Y_c ``[D, batch, H]`` (``layout=1`` puts batch first).
    This rule checks every H-sized axis against the attribute. When all the weights agree with
    each other on a different H, it reports the attribute once instead of every tensor. When
    the attribute is absent (AL202), the axes are checked against the H that R implies.

    ## Why is this bad?
    "Units" *is* the hidden size: each unit produces one float of h_t. Every gate output is
    H wide, and the cell state too, since h_t = o_t ⊙ tanh(c_t) multiplies them elementwise:
    there is no separate "number of cells". R is square per gate ([H, H]) because h_{t-1} is
    fed back into every gate. A tensor sized for another H cannot be multiplied in;
    onnxruntime rejects the model, or a converter that trusted the attribute slices the
    weights wrongly.

    ## Example
    ``LSTM <hidden_size: int = 4> (X, W, R)`` with W ``[1, 12, 4]`` and R ``[1, 12, 3]``: both
    weights imply H = 3 (12 = 4 gates x 3), so the fix is ``hidden_size = 3``. See
    fixtures/AL201/bad.onnx.txt and its fix in fixtures/AL201/good.onnx.txt.
    """

    code = "AL201"
    name = "hidden-size-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "hidden_size disagrees with W, R, B, P, initial states or declared outputs"
    fix_safety = Safety.SAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        hidden = layer.hidden_size
        declared = hidden is not None
        if hidden is None and not layer.has_attribute("hidden_size"):
            # No attribute (AL202 says so): the weights must still agree with the H that R
            # implies, or adding the attribute will not be the whole fix.
            hidden = known_dim(layer, "R", 2)
        if hidden is None or hidden <= 0:
            return  # an invalid or unknowable hidden_size is another rule's finding
        g = layer.gates
        state_axis = 2
        y_axis = 3
        wanted = [
            ("W", 1, g * hidden), ("R", 1, g * hidden), ("R", 2, hidden),
            ("B", 1, 2 * g * hidden), ("P", 1, 3 * hidden),
            ("initial_h", state_axis, hidden), ("initial_c", state_axis, hidden),
            ("Y", y_axis, hidden), ("Y_h", state_axis, hidden), ("Y_c", state_axis, hidden),
        ]
        mismatches = axis_mismatches(layer, wanted)
        if not mismatches:
            return
        implied = self._consistent_implied_size(layer, mismatches) if declared else None
        if implied is not None:
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has hidden_size={hidden} but "
                f"{slots_text(m.slot for m in mismatches)} imply hidden_size={implied}",
                attribute="hidden_size", expected=implied, actual=hidden,
                help=f"Set hidden_size={implied} (the value R's shape implies), or re-export "
                "the weights for the intended size.",
            )
            return
        for mismatch in mismatches:
            yield self._slot_finding(layer, ctx, mismatch, hidden, declared)

    def _consistent_implied_size(
        self, layer: RecurrentLayer, mismatches: list[AxisMismatch]
    ) -> int | None:
        """H' when every known weight dim disagrees with the attribute and agrees on H'."""
        wrong = {m.slot for m in mismatches}
        candidates: set[int] = set()
        # The same evidence the parameter report uses for its implied H (archlint/params.py).
        for evidence in layer.hidden_size_evidence:
            if evidence.slot not in wrong or evidence.implied is None:
                return None
            candidates.add(evidence.implied)
        if len(candidates) != 1 or not wrong <= set(_WEIGHT_SLOTS):
            return None
        return candidates.pop()

    def _slot_finding(
        self, layer: RecurrentLayer, ctx: RuleContext, mismatch: AxisMismatch, hidden: int,
        declared: bool,
    ) -> Finding:
        slot = mismatch.slot
        is_output = slot in layer.outputs
        kind = "output" if is_output else "input"
        source = f"hidden_size={hidden}" if declared else f"hidden_size={hidden} (implied by R)"
        return ctx.finding(
            self, layer,
            f"{describe(layer)} {kind} {slot} has shape {mismatch.actual_text()}; "
            f"{source} needs {mismatch.expected_text()}{stored_note(layer, slot)}",
            input=None if is_output else slot, output=slot if is_output else None,
            expected=mismatch.expected_text(), actual=mismatch.actual_text(),
            help=_hint(layer, mismatch, hidden),
        )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Set hidden_size to the H every weight agrees on, and the declared outputs' H with
        it (the attribute finding only: a single tensor sized for another H has no fix)."""
        node = node_of(finding, editor)
        if node is None or finding.location.attribute != "hidden_size" \
                or not (finding.expected or "").isdigit():
            return None
        hidden = int(finding.expected or "0")
        was = int(finding.actual or "0") if (finding.actual or "").isdigit() else None

        def apply() -> None:
            editor.set_attribute(node, "hidden_size", hidden)
            for output in node.output:  # H is the last axis of Y, Y_h and Y_c in both layouts
                if output and was is not None:
                    editor.set_declared_dim(output, -1, was, hidden)

        return Fix(f"set hidden_size={hidden} (from R's shape; was {finding.actual}), and the "
                   "declared outputs' H", Safety.SAFE, apply)


def _hint(layer: RecurrentLayer, mismatch: AxisMismatch, hidden: int) -> str:
    g, h = layer.gates, hidden
    slot, actual = mismatch.slot, mismatch.actual
    layout = stored_layout(layer, slot)
    if layout is not None:
        return (f"{layer.display_op} stores {slot} as {layout}: re-quantize from an LSTM whose "
                f"{slot} is sized for hidden_size={h}, or correct the hidden_size attribute.")
    if slot == "B" and len(actual) == 2 and actual[1] == g * h:
        return (f"B has {g}·H = {g * h} values per direction: a single bias as Keras stores it. "
                f"ONNX needs Wb and Rb concatenated ({2 * g * h}); append {g * h} zeros.")
    if slot == "W" and len(actual) == 3 and actual[2] == g * h and actual[1] == layer.dim("X", 2):
        return ("W looks like an untransposed Keras kernel [I, g·H]; transpose each direction "
                "to [g·H, I].")
    if slot == "R" and len(actual) == 3 and isinstance(actual[2], int) and actual[2] < h \
            and actual[1] == g * h:
        return (f"R's last dim {actual[2]} < hidden_size looks like a projection size "
                "(PyTorch proj_size): ONNX LSTM has no projection. Export without proj_size, "
                "or add the projection as a MatMul after the LSTM.")
    if slot in ("initial_c", "Y_c"):
        teach = (f"The cell state is H = {h} wide (h_t = o_t ⊙ tanh(c_t) is elementwise): "
                 f"there is no separate cell size. Size {slot} for H = {h}; for a cell wider "
                 "than the output, set H to the cell width and project h_t down with a MatMul "
                 "after the LSTM.")
        if actual and isinstance(actual[-1], int) and actual[-1] > h:
            teach += (f" A {actual[-1]}-wide cell with a {h}-wide output is PyTorch's "
                      "proj_size as torch's dynamo exporter writes it (an ONNX LSTM of "
                      "hidden_size P, the cell's width kept in initial_c and Y_c), which no "
                      "runtime accepts: export nn.LSTM with hidden_size="
                      f"{actual[-1]} and no proj_size, then nn.Linear({actual[-1]}, {h}, "
                      "bias=False) on its output.")
        return teach
    if slot in layer.outputs:
        return "Fix the declared output shape (value_info or graph output) to what the node makes."
    return f"Re-export {slot} for hidden_size={h}, or correct the hidden_size attribute."
