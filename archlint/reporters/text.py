"""Compiler-style text: ``path:graph/node: CODE severity: message``, then detail lines."""

from __future__ import annotations

from archlint.api import Finding, Severity
from archlint.render_names import safe_text
from archlint.report import Report


def format_finding(finding: Finding) -> str:
    loc = finding.location
    where = loc.model
    node = loc.node_label()
    if node is not None:
        where += f":{loc.graph}/{node}"
    lines = [f"{where}: {finding.code} {finding.severity.value}: {finding.message}"]
    slot = loc.slot_label()
    if finding.expected is not None or finding.actual is not None:
        prefix = f"{slot}: " if slot else ""
        lines.append(
            f"    {prefix}expected {finding.expected or '-'}, found {finding.actual or '-'}"
        )
    elif slot:
        lines.append(f"    at {slot}")
    if finding.help:
        lines.append(f"    help: {finding.help}")
    # names (and messages quoting them) are escaped line by line: none can add a line
    return "\n".join(safe_text(line) for line in lines)


def summary_line(report: Report) -> str:
    models = len(report.models)
    parts = [f"{report.count(s)} {s.value}{'s' if report.count(s) != 1 else ''}"
             for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)]
    unreadable = len(report.errors)
    text = (f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''} "
            f"({', '.join(parts)}) in {models} model{'s' if models != 1 else ''}")
    if unreadable:
        text += f", {unreadable} unreadable"
    if report.suppressed:
        text += f", {report.suppressed} suppressed"
    if report.baselined:
        text += f", {report.baselined} in baseline"
    return text + f" [{report.elapsed_s:.2f}s]"


def render(report: Report) -> str:
    blocks = [format_finding(f) for f in report.findings]
    blocks.append(summary_line(report))
    return "\n".join(blocks) + "\n"
