"""Codes the engine itself emits. They are documented like every rule, and always registered."""

from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity


class InternalError(Rule):
    """A rule crashed while checking this model.

    ## What it does
    Reports that a rule raised an exception instead of returning findings. The engine catches
    the exception so that every other rule still runs, and names the rule that failed.

    ## Why is this bad?
    A crashed rule checked nothing: the model may hide exactly the defect that rule looks for.
    It is always a bug in archlint or in a plugin, never in your model.

    ## Example
    A third-party rule that indexes a shape without checking its rank raises ``IndexError`` on
    a model with a rank-2 ``X``; archlint reports ``AL000`` naming that rule and goes on.
    Report it upstream, and ``--ignore`` the rule's code until it is fixed.
    """

    code = "AL000"
    name = "internal-error"
    severity = Severity.ERROR
    summary = "A rule crashed on this model (a bug in archlint or a plugin)"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())



class UnusedSuppression(Rule):
    """A model's ``archlint:ignore`` metadata entry names a code that found nothing to suppress.

    ## What it does
    Checks every code listed in the model's ``metadata_props`` entry ``archlint:ignore``
    (comma-separated, written by an exporter or by hand) and reports each one that suppressed
    no finding in this model, like ruff's RUF100 for ``# noqa`` comments. A code that is not
    enabled in this run suppresses nothing either, and is reported too.

    ## Why is this bad?
    A suppression outlives the defect it was written for. Once the LSTM whose ``hidden_size``
    disagreed with ``R`` is re-exported correctly, an ``archlint:ignore = AL201`` left in the
    model silently hides the next real AL201, say a GRU whose ``B`` is sized for another number
    of units, and the runtime then computes h_t with the wrong weights.

    ## Example
    ``fixtures/AL010/bad.onnx.txt`` carries ``archlint:ignore = AL201, AL301`` but its LSTM has
    consistent sizes and direction, so both codes are reported. ``fixtures/AL010/good.onnx.txt``
    has no stale entry. Fix it by removing the codes from the metadata entry.
    """

    code = "AL010"
    name = "unused-suppression"
    severity = Severity.WARNING
    summary = "An archlint:ignore metadata entry suppresses a code that found nothing"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        # The engine reports this after the other rules ran (archlint.suppress), because only
        # then is it known which suppressions were used.
        return iter(())


CORE_RULES: tuple[type[Rule], ...] = (InternalError, UnusedSuppression)
