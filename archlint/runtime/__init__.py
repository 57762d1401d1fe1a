"""The runtime check: real inference with onnxruntime, in a child process.

This is the only package that imports onnxruntime, and only lazily: importing
``archlint.runtime`` (or ``archlint.runtime.settings``) never loads it, so a static lint stays
free of it. onnxruntime itself is imported in the child (``python -m archlint.runtime.worker``)
and, in the parent, only to list the providers the installed wheel offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from archlint.runtime.settings import DEFAULT_SETTINGS, RuntimeSettings

if TYPE_CHECKING:
    from archlint.api import Finding, Rule, RuleContext
    from archlint.report import RunFacts

__all__ = ["DEFAULT_SETTINGS", "RuntimeSettings", "check_runtime"]


def check_runtime(
    ctx: RuleContext, settings: RuntimeSettings, rules: Sequence[Rule]
) -> tuple[tuple[Finding, ...], RunFacts]:
    """One runtime check of an analysed model: the selected runtime rules' findings and the
    facts the run report shows."""
    from archlint.report import RunFacts
    from archlint.runtime.check import available_providers, check_model

    result = check_model(ctx.model.path, ctx.model.display_path, settings,
                         {r.code: type(r) for r in rules}, available_providers())
    facts = RunFacts(providers=result.providers, dims=result.dims,
                     inputs=tuple(spec.describe() for spec in result.inputs),
                     outputs=result.outputs, placement=result.placement, timing=result.timing,
                     notes=result.notes)
    return result.findings, facts
