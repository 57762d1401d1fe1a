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


CORE_RULES: tuple[type[Rule], ...] = (InternalError,)
