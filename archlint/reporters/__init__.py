"""Reporters: pure functions from a Report to text. None of them contains check logic."""

from __future__ import annotations

from collections.abc import Callable

from archlint.report import Report
from archlint.reporters import github, gitlab, html, json_report, junit, markdown, sarif, text

Reporter = Callable[[Report], str]

REPORTERS: dict[str, Reporter] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "github": github.render,
    "gitlab": gitlab.render,
    "markdown": markdown.render,
    "html": html.render,
}
# Formats that also show pictures and parameter tables when the front end builds them
# (archlint.app.pictures): the reporter takes them as a second argument.
RICH_FORMATS = {"markdown": markdown.render, "html": html.render}
# Formats a machine parses: the summary line goes to stderr, never into the report.
MACHINE_FORMATS = frozenset({"json", "sarif", "junit", "github", "gitlab"})

__all__ = ["MACHINE_FORMATS", "REPORTERS", "RICH_FORMATS", "Reporter"]
