"""Reporters: pure functions from a Report to text. None of them contains check logic."""

from __future__ import annotations

from collections.abc import Callable

from archlint.engine import Report
from archlint.reporters import json_report, text

Reporter = Callable[[Report], str]

REPORTERS: dict[str, Reporter] = {
    "text": text.render,
    "json": json_report.render,
}

__all__ = ["REPORTERS", "Reporter"]
