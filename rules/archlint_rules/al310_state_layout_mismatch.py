from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, LayerRule, RuleContext, Safety, Severity
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape
from archlint_rules._dims import describe
from archlint_rules._fixes import input_index, node_of

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor

_STATES = ("initial_h", "initial_c")


class StateLayoutMismatch(LayerRule):
    """A layout=1 node gets a seq-major [D, batch, H] state, or a layout=0 node a batch-major one.

    ## What it does
    With ``layout=0`` the states are ``[D, batch, H]``; with ``layout=1`` they are
    ``[batch, D, H]``. When X's batch axis is a symbol, this rule looks for that symbol in
    initial_h and initial_c and reports a state that carries it on the other layout's axis.

    ## Why is this bad?
    PyTorch's h0 is ``(num_layers·D, batch, H)`` even with ``batch_first=True``: batch_first
    changes X and Y only. A converter that sets ``layout=1`` for a batch-first model must
    transpose the states as well; handing the seq-major slice straight over means each "batch
    row" of h_0 is a direction. onnxruntime rejects it for batch > 1 with D = 1; when batch
    happens to equal D it runs, with the directions and batch rows swapped.

    ## Example
    ``LSTM <layout: int = 1> (X, W, R, , , h0)`` with X ``[batch, seq, 4]`` and h0
    ``[1, batch, 3]``: ``Transpose <perm = [1, 0, 2]>`` h0 to ``[batch, 1, 3]`` first. See
    fixtures/AL310/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL310"
    name = "state-layout-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "initial state laid out for the other layout ([D, batch, H] vs [batch, D, H])"
    fix_safety = Safety.UNSAFE

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        batch = layer.batch_dim
        if not isinstance(batch, str):
            return
        right, wrong = (0, 1) if layer.layout == 1 else (1, 0)
        wanted = "[batch, D, H]" if layer.layout == 1 else "[D, batch, H]"
        for slot in _STATES:
            ref = layer.inputs.get(slot)
            if ref is None or ref.rank != 3:
                continue
            if ref.dim(wrong) != batch or ref.dim(right) == batch:
                continue
            source = "seq-major" if layer.layout == 1 else "batch-major"
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} has layout={layer.layout} but its {slot} "
                f"{format_shape(ref.shape)} is {source}: X's batch {batch!r} is on axis {wrong}",
                input=slot, expected=wanted, actual=format_shape(ref.shape),
                help=f"Transpose {slot} with perm=[1, 0, 2] before the node, or export with "
                f"layout={1 - layer.layout} to match the states.",
            )

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Swap the state's first two axes, [D, batch, H] <-> [batch, D, H]."""
        node = node_of(finding, editor)
        index = input_index(node, finding.location.tensor) if node is not None else None
        if node is None or index is None:
            return None
        return Fix(f"insert Transpose perm=[1, 0, 2] on {finding.location.input} "
                   f"{finding.location.tensor!r}", Safety.UNSAFE,
                   lambda: editor.insert_before(node, index, "Transpose", {"perm": [1, 0, 2]},
                                                "state_layout"))
