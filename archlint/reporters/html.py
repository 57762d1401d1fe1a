"""One self-contained HTML page for CI artifacts: findings, parameter tables and pictures.

No script, no stylesheet or font from the network: the CSS is inline and the pictures are
inline SVG (archlint/drawing/svg.py). Long models stay usable: each model is a section whose
pictures scroll in their own box, the parameter table is folded, and a model with more than
MAX_DRAWN_LAYERS recurrent layers shows only the nodes with findings (the page says how to
draw the rest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from archlint._version import __version__
from archlint.api import Finding
from archlint.drawing.pictures import MAX_DRAWN_LAYERS, ModelPictures
from archlint.drawing.svg import render_svg
from archlint.report import ModelReport, Report
from archlint.reporters.params_report import model_table, size_line
from archlint.reporters.text import summary_line

__all__ = ["render"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#0f172a}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #cbd5e1}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #cbd5e1;padding:3px 8px;
vertical-align:top;text-align:left}th{background:#f1f5f9}td.num{text-align:right;
font-variant-numeric:tabular-nums}code{font-size:12px}.sev-error{color:#b91c1c;font-weight:600}
.sev-warning{color:#b45309;font-weight:600}.sev-info{color:#1d4ed8}
.picture{overflow:auto;max-height:70vh;border:1px solid #e2e8f0;padding:4px;margin:8px 0}
.note{color:#475569}details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""


_OPEN_ROWS = 20  # a longer parameter table starts folded


def _finding_row(finding: Finding) -> str:
    loc = finding.location
    slot = loc.slot_label()
    found = ""
    if finding.expected is not None or finding.actual is not None:
        found = f"expected {finding.expected or '-'}, found {finding.actual or '-'}"
    cells = [
        f"<b>{escape(finding.code)}</b>",
        f'<span class="sev-{finding.severity.value}">{finding.severity.value}</span>',
        f"<code>{escape(loc.graph)}/{escape(loc.node_label() or '')}</code>",
        escape((f"{slot}: " if slot else "") + finding.message),
        escape(found), escape(finding.help or ""),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{escape(c)}</td>' if c[:1].isdigit() and "[" not in c
            else f"<td>{escape(c)}</td>" for c in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _pictures(extra: ModelPictures, model: ModelReport) -> list[str]:
    out: list[str] = []
    if extra.focus is not None:
        out += ["<h3>Nodes with findings</h3>",
                f'<div class="picture">{render_svg(extra.focus)}</div>']
    if extra.stack is not None:
        out += ["<details" + ("" if extra.focus is not None else " open") + ">"
                f"<summary>Recurrent layers ({extra.recurrent_layers})</summary>",
                f'<div class="picture">{render_svg(extra.stack)}</div></details>']
    elif extra.recurrent_layers:
        out.append(f'<p class="note">{extra.recurrent_layers} recurrent layers (more than '
                   f"{MAX_DRAWN_LAYERS}): only the nodes with findings are drawn here; "
                   f"<code>archlint graph {escape(model.path)} -o stack.svg</code> draws them "
                   "all, <code>--around NODE</code> one neighbourhood.</p>")
    if extra.params is not None and extra.params.layers:
        header, rows = model_table(extra.params, indent="↳ ")  # HTML folds leading spaces
        count = len(extra.params.layers)
        out += [f"<details{' open' if count <= _OPEN_ROWS else ''}><summary>Parameters "
                f"({count} row{'s' if count != 1 else ''})</summary>",
                _table(header, rows), f'<p class="note">{escape(size_line(extra.params))}</p>',
                "</details>"]
    return out


def render(report: Report, pictures: Mapping[str, ModelPictures] | None = None) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>archlint report</title><style>{_CSS}</style></head><body>",
        f"<h1>archlint {escape(__version__)}</h1>",
        f"<p>{escape(summary_line(report))}</p>",
    ]
    for model in report.models:
        parts.append(f"<section><h2>{escape(model.path)}</h2>")
        if model.error is not None:
            parts.append(f'<p class="sev-error">unreadable: {escape(model.error)}</p></section>')
            continue
        if model.findings:
            parts.append("<table><tr><th>code</th><th>severity</th><th>where</th>"
                         "<th>message</th><th>expected / found</th><th>fix</th></tr>"
                         + "".join(_finding_row(f) for f in model.findings) + "</table>")
        else:
            parts.append("<p>no findings</p>")
        extra = (pictures or {}).get(model.path)
        if extra is not None:
            parts.extend(_pictures(extra, model))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
