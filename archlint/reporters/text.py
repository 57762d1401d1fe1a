"""Compiler-style text: ``path:graph/node: CODE severity: message``, then detail lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from archlint.api import Finding, Severity
from archlint.render_names import safe_text
from archlint.report import Report

# paint(text, role) -> text: the CLI passes one that adds colour on a terminal; roles are the
# severities' values, "code", "path" and "dim"
Paint = Callable[[str, str], str]


def plain(text: str, role: str) -> str:
    return text


def format_finding(finding: Finding, paint: Paint = plain) -> str:
    loc = finding.location
    where = loc.model
    node = loc.node_label()
    if node is not None:
        where += f":{loc.graph}/{node}"
    # names (and messages quoting them) are escaped piece by piece, before any colour: none can
    # add a line, start a workflow command or carry a control character
    severity = paint(finding.severity.value, finding.severity.value)
    lines = [f"{paint(safe_text(where), 'path')}: {paint(safe_text(finding.code), 'code')} "
             f"{severity}: {safe_text(finding.message)}"]
    slot = loc.slot_label()
    slot = safe_text(slot) if slot else slot
    if finding.expected is not None or finding.actual is not None:
        prefix = f"{slot}: " if slot else ""
        lines.append(
            f"    {prefix}expected {safe_text(finding.expected or '-')}, "
            f"found {safe_text(finding.actual or '-')}"
        )
    elif slot:
        lines.append(f"    at {slot}")
    if finding.help:
        lines.append(f"    {paint('help', 'dim')}: {safe_text(finding.help)}")
    return "\n".join(lines)


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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def coverage_lines(report: Report) -> list[str]:
    """What was analysed and what was not: a clean result must not hide what it skipped."""
    readable = [m for m in report.models if m.error is None]
    if not readable:
        return []
    layers = sum(m.recurrent_layers - m.unchecked_layers for m in readable)
    lines = [f"checked: {_plural(layers, 'recurrent layer')} in "
             f"{_plural(len(readable), 'model')}"]
    unchecked = sum(m.unchecked_layers for m in readable)
    if unchecked:
        lines.append(f"not checked: {_plural(unchecked, 'recurrent layer')} recognised from a "
                     "Loop body, an unrolled chain or a single cell step (counted only, see "
                     "AL025)")
    for model in readable:
        if model.unseen:
            lines.append(f"not checked: {model.path}: recurrent-looking ops archlint cannot see "
                         f"into: {', '.join(model.unseen)}")
    empty = [m.path for m in readable if m.recurrent_layers == 0 and not m.unseen]
    if empty:
        lines.append(f"no recurrent layer: {', '.join(empty)}")
    by_reason: dict[str, list[str]] = {}
    for code, why in report.not_run:
        by_reason.setdefault(why, []).append(code)
    lines.extend(f"not run: {_span(codes)}: {why}" for why, codes in by_reason.items())
    return lines


def _span(codes: list[str]) -> str:
    """Codes X1, X2, ..., X9 of one prefix -> X1-X9 when their numbers are consecutive."""
    numbers = [int(c[2:]) for c in codes if c[2:].isdigit()]
    if len(codes) > 2 and len(numbers) == len(codes) and numbers == list(
        range(numbers[0], numbers[0] + len(numbers))
    ):
        return f"{codes[0]}-{codes[-1]}"
    return ", ".join(codes)


def statistics(report: Report) -> str:
    """One line per rule that fired, most findings first (ruff's ``--statistics``)."""
    counts = Counter((f.code, f.name, f.severity.value) for f in report.findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    width = max((len(str(n)) for _, n in rows), default=1)
    lines = [f"{n:>{width}}  {code}  {name} ({severity})"
             for (code, name, severity), n in rows]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def render(report: Report, paint: Paint = plain) -> str:
    blocks = [format_finding(f, paint) for f in report.findings]
    blocks.extend(coverage_lines(report))
    blocks.append(summary_line(report))
    return "\n".join(blocks) + "\n"
