"""GitLab Code Quality: the JSON array GitLab reads from ``artifacts: reports: codequality``.

The format (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format) is a
subset of Code Climate's issue: ``description``, ``check_name``, ``fingerprint``, ``severity``
(info, minor, major, critical, blocker) and ``location.path`` with ``location.lines.begin``.
GitLab requires a line; a model has none, so every issue sits on line 1 and the graph and node
go into the description. The fingerprint is :meth:`Finding.fingerprint`: GitLab compares
fingerprints between the merge request and its target branch, so it must not change when the
model changes elsewhere, and it differs per node, so two findings are two issues.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from archlint.api import Finding, Severity
from archlint.report import Report

SEVERITIES = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def _path(model: str) -> str:
    """Relative, with forward slashes: GitLab matches it against the repository's files (run
    archlint from the repository root; an absolute path under it is made relative)."""
    path = Path(model)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            path = path.relative_to(Path.cwd())
    return path.as_posix().removeprefix("./")


def _issue(finding: Finding) -> dict[str, Any]:
    loc = finding.location
    node = loc.node_label()
    where = f"{loc.graph}/{node}" if node else loc.graph
    description = f"{where}: {finding.message}"
    if finding.expected is not None or finding.actual is not None:
        description += f" (expected {finding.expected or '-'}, found {finding.actual or '-'})"
    return {
        "type": "issue",
        "description": description,
        "check_name": f"{finding.code} {finding.name}",
        "fingerprint": finding.fingerprint(),
        "severity": SEVERITIES[finding.severity],
        "categories": ["Bug Risk"],
        "location": {"path": _path(loc.model), "lines": {"begin": 1}},
    }


def to_list(report: Report) -> list[dict[str, Any]]:
    return [_issue(f) for f in report.findings]


def render(report: Report) -> str:
    return json.dumps(to_list(report), indent=2) + "\n"
