"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` line per finding,
shown as an annotation on the model file in the pull request."""

from __future__ import annotations

from archlint.api import Finding, Severity
from archlint.render_names import safe_text
from archlint.report import Report

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(text: str) -> str:
    # the escapes GitHub's runner defines for workflow-command data and properties; the text's
    # names went through safe_text first (no control character, no "##[", no line of its own)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(safe_text(text)).replace(":", "%3A").replace(",", "%2C")


def format_finding(finding: Finding) -> str:
    loc = finding.location
    node = loc.node_label()
    title = f"{finding.code} {finding.name}"
    # a model-level finding (no node) needs no prefix: the annotation sits on the file
    lines = [f"{loc.graph}/{node}: {finding.message}" if node else finding.message]
    if finding.expected is not None or finding.actual is not None:
        slot = loc.slot_label()
        lines.append(f"{slot + ': ' if slot else ''}expected {finding.expected or '-'}, "
                     f"found {finding.actual or '-'}")
    if finding.help:
        lines.append(f"help: {finding.help}")
    lines = [safe_text(line) for line in lines]  # a newline in a name stays inside its line
    props = f"file={_escape_property(loc.model)},title={_escape_property(title)}"
    return f"::{COMMANDS[finding.severity]} {props}::{_escape_data(chr(10).join(lines))}"


def render(report: Report) -> str:
    lines = [format_finding(f) for f in report.findings]
    lines += [f"::error file={_escape_property(m.path)},title=unreadable model::"
              f"{_escape_data(safe_text(m.error or ''))}" for m in report.errors]
    return "".join(line + "\n" for line in lines)
