"""JSON report, schema version 1 (documented in docs/json-output.md and
archlint/schemas/report-v1.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from archlint import __version__
from archlint.api import Finding, Severity
from archlint.engine import Report

SCHEMA_VERSION = 1


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    loc = finding.location
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "expected": finding.expected,
        "actual": finding.actual,
        "help": finding.help,
        "source": finding.source,
        "fingerprint": finding.fingerprint(),
        "location": {
            "model": loc.model,
            "graph": loc.graph,
            "node": loc.node,
            "node_index": loc.node_index,
            "op_type": loc.op_type,
            "input": loc.input,
            "output": loc.output,
            "tensor": loc.tensor,
            "attribute": loc.attribute,
        },
    }


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "archlint", "version": __version__},
        "models": [
            {
                "path": m.path,
                "error": m.error,
                "nodes": m.nodes,
                "recurrent_layers": m.recurrent_layers,
                "suppressed": m.suppressed,
                "baselined": m.baselined,
                "findings": [finding_to_dict(f) for f in m.findings],
            }
            for m in report.models
        ],
        "summary": {
            "models": len(report.models),
            "unreadable": len(report.errors),
            "findings": len(report.findings),
            "by_severity": {s.value: report.count(s) for s in Severity},
            "suppressed": report.suppressed,
            "baselined": report.baselined,
            "elapsed_s": round(report.elapsed_s, 3),
        },
    }


def render(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
