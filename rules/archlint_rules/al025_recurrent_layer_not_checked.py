from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer


class RecurrentLayerNotChecked(LayerRule):
    """TODO: one-line summary of the defect.

    ## What it does
    TODO: what is checked, in terms of D = num_directions, H = hidden_size, I = input size.

    ## Why is this bad?
    TODO: the equations (gates i, o, f, c; h_t = o_t ⊙ tanh(c_t)) and what a runtime does.

    ## Example
    TODO: the defect in fixtures/AL025/bad.onnx.txt and its fix in good.onnx.txt.
    """

    code = "AL025"
    name = "recurrent-layer-not-checked"
    severity = Severity.INFO
    summary = "TODO: summary for `archlint rules`"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        # TODO: yield ctx.finding(self, layer, message, input=..., expected=..., actual=...,
        #       help=...) for each defect; an unknown shape means "cannot check": no finding.
        yield from ()
