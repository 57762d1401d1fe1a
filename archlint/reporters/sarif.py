"""SARIF 2.1.0, as GitHub code scanning reads it.

One run for the whole lint: ``tool.driver.rules`` holds the metadata (descriptions, help from
the rule's docstring, default level, ``precision`` and ``problem.severity``) of every rule that
fired; rules selected but not run (runtime rules without ``--runtime``, target rules without a
target) are named in a notification instead, never as if they had passed. Each result points
at the model file (``artifactLocation``) and, through ``logicalLocations``, at the graph and
the node.

Alert identity: GitHub's upload step (codeql-action ``src/fingerprints.ts``,
``addFingerprints``) keeps a ``partialFingerprints.primaryLocationLineHash`` that is already
there, and skips any result without ``region.startLine`` ("Locations without a line number are
unlikely to be source files"). So results carry :meth:`Finding.fingerprint` as
``primaryLocationLineHash`` and no region: a binary model has no lines, and hashing "line 1"
of it would give every finding in the file one identity that changes with any header edit.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from archlint._version import __version__
from archlint.api import Finding, Rule, Severity
from archlint.core_rules import CORE_RULES
from archlint.render_names import json_text
from archlint.report import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "archlint/v1"
# the one partial fingerprint GitHub code scanning reads (docs/integrations.md)
GITHUB_FINGERPRINT_KEY = "primaryLocationLineHash"
# GitHub's security-severity scale is for security rules; problem.severity is the one it
# shows for quality rules: error, warning, recommendation
PROBLEM_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning",
                    Severity.INFO: "recommendation"}
# runtime rules report what onnxruntime did, so they are as sure as a rule can be; static ones
# read shapes and attributes exactly, but can only predict what a runtime will make of them
PRECISION = {True: "very-high", False: "high"}
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(model_path: str) -> str:
    """A relative path stays relative (GitHub resolves it against the repository root)."""
    path = PurePath(model_path)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix(), errors="surrogateescape")  # an undecodable name's bytes


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    docs = rule.documentation()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": docs.split("\n\n", 1)[0]},
        "help": {"text": docs, "markdown": docs},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"tags": ["onnx", "recurrent"], "precision": PRECISION[rule.runtime],
                       "problem.severity": PROBLEM_SEVERITY[rule.severity]},
    }


def _result(finding: Finding, rule_index: int | None) -> dict[str, Any]:
    loc = finding.location
    node = loc.node_label()
    logical: list[dict[str, Any]] = [{"name": loc.graph, "fullyQualifiedName": loc.graph,
                                      "kind": "module"}]
    if node is not None:
        logical.append({"name": node, "fullyQualifiedName": f"{loc.graph}/{node}",
                        "kind": "function", "parentIndex": 0})
    text = finding.message
    if finding.help:
        text += f"\nhelp: {finding.help}"
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(loc.model)},
            },
            "logicalLocations": logical,
        }],
        "partialFingerprints": {GITHUB_FINGERPRINT_KEY: finding.fingerprint(),
                                FINGERPRINT_KEY: finding.fingerprint()},
        "properties": {
            key: value for key, value in (
                ("expected", finding.expected), ("actual", finding.actual),
                ("input", loc.input), ("output", loc.output), ("tensor", loc.tensor),
                ("attribute", loc.attribute), ("opType", loc.op_type),
                ("nodeIndex", loc.node_index), ("source", finding.source),
            ) if value is not None
        },
    }
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    return result


def to_dict(report: Report) -> dict[str, Any]:
    # core codes (AL000 internal-error) can fire even when a selection left them out
    by_code = {rule.code: rule for rule in (*CORE_RULES, *report.rules)}
    codes = sorted({f.code for f in report.findings})
    descriptors = [_rule_descriptor(by_code[c]) for c in codes if c in by_code]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    notifications: list[dict[str, Any]] = [
        {"level": "error", "message": {"text": f"{m.path}: {m.error}"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(m.path)}}}]}
        for m in report.errors
    ]
    notifications.extend(
        {"level": "note", "message": {"text": f"{code} not run: {why}"},
         "descriptor": {"id": "not-run"}, "associatedRule": {"id": code}}
        for code, why in report.not_run
    )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "archlint",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": descriptors,
            }},
            "invocations": [{
                "executionSuccessful": not report.errors,
                "toolExecutionNotifications": notifications,
            }],
            "results": [_result(f, index.get(f.code)) for f in report.findings],
        }],
    }


def render(report: Report) -> str:
    return json_text(to_dict(report))
