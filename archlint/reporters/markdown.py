"""Markdown for a pull-request comment: the findings per model as a table, then the Mermaid
picture of the nodes that have findings (GitHub renders ```mermaid blocks) and the parameter
table, folded. Pure function of a report and, when the front end built them, its pictures."""

from __future__ import annotations

from collections.abc import Mapping

from archlint.api import Finding
from archlint.drawing.pictures import ModelPictures
from archlint.drawing.text_formats import render_mermaid
from archlint.params import ParamsReport
from archlint.report import Report
from archlint.reporters.params_report import render_markdown as params_markdown
from archlint.reporters.text import summary_line

__all__ = ["render"]

_SPECIAL = set("\\`*_[]<>|#~!")


def _md(text: str | None) -> str:
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in (text or "")).replace("\n", " ")


def _row(finding: Finding) -> str:
    loc = finding.location
    where = f"{loc.graph}/{loc.node_label() or ''}"
    slot = loc.slot_label()
    found = ""
    if finding.expected is not None or finding.actual is not None:
        found = f"expected {finding.expected or '-'}, found {finding.actual or '-'}"
    cells = [f"**{finding.code}**", finding.severity.value, f"`{where}`" if where else "",
             _md((f"{slot}: " if slot else "") + finding.message), _md(found),
             _md(finding.help)]
    return "| " + " | ".join(cells) + " |"


def render(report: Report, pictures: Mapping[str, ModelPictures] | None = None) -> str:
    lines = [f"## archlint: {_md(summary_line(report))}", ""]
    for model in report.models:
        lines += [f"### {_md(model.path)}", ""]
        if model.error is not None:
            lines += [f"unreadable: {_md(model.error)}", ""]
            continue
        if model.findings:
            lines += ["| code | severity | where | message | expected / found | fix |",
                      "| --- | --- | --- | --- | --- | --- |"]
            lines += [_row(f) for f in model.findings]
            lines.append("")
        else:
            lines += ["no findings", ""]
        extra = (pictures or {}).get(model.path)
        if extra is None:
            continue
        if extra.focus is not None:
            lines += ["```mermaid", render_mermaid(extra.focus).rstrip("\n"), "```", ""]
        if extra.params is not None and extra.params.layers:
            table = params_markdown(ParamsReport((extra.params,)))
            lines += ["<details><summary>Parameters</summary>", "", table.rstrip("\n"), "",
                      "</details>", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
