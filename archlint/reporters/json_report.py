"""JSON report, schema version 1 (documented in docs/json-output.md and
archlint/schemas/report-v1.schema.json). The dict itself is the report model's
(``Report.to_dict``), so the Python API and this reporter cannot drift apart."""

from __future__ import annotations

from typing import Any

from archlint.render_names import json_text
from archlint.report import SCHEMA_VERSION, Report, finding_to_dict

__all__ = ["SCHEMA_VERSION", "finding_to_dict", "render", "to_dict"]


def to_dict(report: Report) -> dict[str, Any]:
    return report.to_dict()


def render(report: Report) -> str:
    return json_text(to_dict(report))
