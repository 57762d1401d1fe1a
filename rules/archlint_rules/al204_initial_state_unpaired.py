from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class InitialStateUnpaired(LayerRule):
    """An LSTM gets initial_h without initial_c, or initial_c without initial_h.

    ## What it does
    Reports an LSTM node where exactly one of the two initial states is bound.

    ## Why is this bad?
    An LSTM carries two states: the cell c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t and the output
    h_t = o_t ⊙ tanh(c_t). Both must start from the same point of a sequence. The spec reads a
    missing one as zeros, but converters and runtimes disagree (some take the given state for
    both, some refuse the node), so a model that resumes h from a previous chunk while c
    restarts from zero gives results that depend on where it runs, and is rarely what the
    author meant (PyTorch always passes the pair (h_0, c_0)).

    ## Example
    ``LSTM (X, W, R, B, , h0)`` with no initial_c: pass the matching c0
    (``LSTM (X, W, R, B, , h0, c0)``), or an explicit zero tensor if zeros are intended. See
    fixtures/AL204/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL204"
    name = "initial-state-unpaired"
    severity = Severity.WARNING
    layer_only = True
    summary = "LSTM initial_h given without initial_c, or the reverse"
    ops = frozenset({"LSTM"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        has_h, has_c = "initial_h" in layer.inputs, "initial_c" in layer.inputs
        if has_h == has_c:
            return
        given, missing = ("initial_h", "initial_c") if has_h else ("initial_c", "initial_h")
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has {given} but no {missing}; runtimes and converters disagree "
            f"on what a missing {missing} means",
            input=given, expected="both initial_h and initial_c", actual=f"only {given}",
            help=f"Pass {missing} too (an explicit zero tensor if zeros are meant), or drop "
            f"{given} so both start at zero.",
        )
