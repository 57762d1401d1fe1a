"""What the runtime rules share: an output compared with its counterpart (AL509, AL511)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


def output_differences(rule: RuntimeRule, run: RuntimeRun, ctx: RuleContext,
                       job: str) -> Iterator[Finding]:
    """One finding per output of ``job`` ("compare" or "compare_model") outside tolerance."""
    rtol, atol = run.settings.rtol, run.settings.atol
    for found in run.comparisons:
        if found.job != job:
            continue
        diff = found.diff
        yield ctx.finding(
            rule, found.producer,
            f"output {found.output!r} differs {found.where}: {diff.summary()} "
            f"(rtol={rtol:g}, atol={atol:g})",
            expected=f"|a - b| <= {atol:g} + {rtol:g}·|b|",
            actual=f"max abs {diff.max_abs:.3g}, max rel {diff.max_rel:.3g}",
            tensor=found.output,
            help="Compare per layer to find where the difference starts; loosen --rtol/--atol "
            "only if this precision is acceptable for the deployment.")
