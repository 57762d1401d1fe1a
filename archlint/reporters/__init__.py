"""Reporters: pure functions from a Report to text. None of them contains check logic."""

from __future__ import annotations

from collections.abc import Callable

from archlint.report import Report
from archlint.reporters import github, gitlab, json_report, junit, sarif, text

Reporter = Callable[[Report], str]

REPORTERS: dict[str, Reporter] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "github": github.render,
    "gitlab": gitlab.render,
}
# Formats a machine parses: the summary line goes to stderr, never into the report.
MACHINE_FORMATS = frozenset({"json", "sarif", "junit", "github", "gitlab"})

__all__ = ["MACHINE_FORMATS", "REPORTERS", "Reporter"]
