"""Renderers for `archlint params`: aligned text, Markdown, CSV and JSON (params-v1 schema).

Pure functions of a :class:`~archlint.params.ParamsReport`; no counting happens here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from archlint._version import __version__
from archlint.params import (
    CONVENTIONS,
    Convention,
    LayerParams,
    ModelParams,
    ParamsReport,
)
from archlint.params_columns import TRAINABLE_NOTE, ModuleGroup, format_bytes, module_groups
from archlint.render_names import json_text, safe_text
from archlint.shapes import format_shape

__all__ = ["PARAMS_FORMATS", "SCHEMA_VERSION", "model_table", "render", "size_line", "to_dict"]

SCHEMA_VERSION = 1

# Table columns for the weight tensors; each slot name of a row lands in one of them.
_COLUMNS: tuple[tuple[str, frozenset[str]], ...] = (
    ("W", frozenset({"W", "weight", "table", "scale"})),
    ("R", frozenset({"R"})),
    ("B", frozenset({"B", "bias"})),
    ("P", frozenset({"P"})),
    ("S", frozenset({"initial_h", "initial_c"})),
    ("stats", frozenset({"mean", "var"})),
)
_OPTIONAL_COLUMNS = frozenset({"P", "S", "stats"})  # shown only when some row has them
_RIGHT = frozenset({"D", "I", "H", "W", "R", "B", "P", "S", "stats", "layers", "bytes",
                    "MACs/step", "MACs", *(c.title for c in CONVENTIONS)})
_INDENT = "  "  # a layer row under its module row


# --- cells, shared by text and Markdown --------------------------------------------------------


def _num(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _total_cell(layer: LayerParams, convention: Convention) -> str:
    if convention in layer.unsupported:
        return "n/a"
    return _num(layer.total(convention))


def _model_total_cell(model: ModelParams, convention: Convention) -> str:
    total = model.total(convention)
    if total is not None:
        return f"{total:,}"
    return "n/a" if any(convention in row.unsupported for row in model.layers) else "?"


def _report_total_cell(report: ParamsReport, convention: Convention) -> str:
    total = report.total(convention)
    if total is not None:
        return f"{total:,}"
    cells = [_model_total_cell(m, convention) for m in report.readable]
    return "n/a" if "n/a" in cells else "?"


def _slot_cell(layer: LayerParams, names: frozenset[str]) -> str:
    entries = [s for s in layer.slots if s.slot in names]
    if not entries:
        return ""
    known = [s.elements for s in entries]
    text = "?" if any(v is None for v in known) else f"{sum(v or 0 for v in known):,}"
    return text + ("*" if any(s.shared_with for s in entries) else "")


def _geometry(layer: LayerParams) -> list[str]:
    if layer.kind != "recurrent":
        return ["", "", "", ""]
    hidden = layer.hidden_size if layer.hidden_size is not None else layer.implied_hidden_size
    return [
        layer.direction or "",
        "?" if layer.num_directions is None else str(layer.num_directions),
        "?" if layer.input_size is None else str(layer.input_size),
        "?" if hidden is None else str(hidden),
    ]


def _columns(model: ModelParams) -> list[tuple[str, frozenset[str]]]:
    return [
        (title, names) for title, names in _COLUMNS
        if title not in _OPTIONAL_COLUMNS
        or any(s.slot in names for row in model.layers for s in row.slots)
    ]


def _layer_table(
    model: ModelParams, dims: bool = False, indent: str = _INDENT
) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, body rows and the total row of one model's table: one row per module whose
    scope holds several rows (torchinfo's ``nn.LSTM`` row), its layers indented below."""
    columns = _columns(model)
    header = ["node", "op", "recognised", "output", "direction", "D", "I", "H",
              *(t for t, _ in columns), *(c.title for c in CONVENTIONS), "dtype", "bytes",
              "MACs/step", *(["MACs"] if dims else [])]
    body: list[list[str]] = []
    for group in module_groups(model):
        if group.folded:
            body.append(_module_row(group, columns, dims))
        body.extend(_row(row, columns, dims, indent if group.folded else "")
                    for row in group.rows)
    total = ["total", "", "", "", "", "", "", "", *("" for _ in columns),
             *(_model_total_cell(model, c) for c in CONVENTIONS), "",
             _num(model.column_total("param_bytes")), _num(model.column_total("macs_per_step")),
             *([_num(model.column_total("macs"))] if dims else [])]
    return header, body, total


def _row(
    row: LayerParams, columns: list[tuple[str, frozenset[str]]], dims: bool, indent: str
) -> list[str]:
    return [indent + row.label, row.op_type, row.recognised_as or "", _shape_cell(row),
            *_geometry(row), *(_slot_cell(row, n) for _, n in columns),
            *(_total_cell(row, c) for c in CONVENTIONS), row.param_dtype or "",
            _num(row.param_bytes), _macs_cell(row, row.macs_per_step),
            *([_macs_cell(row, row.macs)] if dims else [])]


def _module_row(
    group: ModuleGroup, columns: list[tuple[str, frozenset[str]]], dims: bool
) -> list[str]:
    ops = list(dict.fromkeys(row.op_type for row in group.rows))
    op = f"{ops[0]} x{len(group.rows)}" if len(ops) == 1 else ", ".join(ops)
    part = ModelParams("", group.rows)
    return [group.name or "", op, "", _shape_cell(group.rows[-1]), "", "", "", "",
            *("" for _ in columns), *(_model_total_cell(part, c) for c in CONVENTIONS),
            "", _num(part.column_total("param_bytes")), _num(part.column_total("macs_per_step")),
            *([_num(part.column_total("macs"))] if dims else [])]


def model_table(model: ModelParams, indent: str = _INDENT) -> tuple[list[str], list[list[str]]]:
    """The header and rows (module rows, layer rows, the total last) of one model's table,
    for other reports (the HTML lint report)."""
    header, body, total = _layer_table(model, indent=indent)
    return header, [*body, total]


def size_line(model: ModelParams) -> str:
    return _size_line(model)


def _shape_cell(row: LayerParams) -> str:
    return "" if row.output_shape is None else format_shape(row.output_shape)


def _macs_cell(row: LayerParams, value: int | None) -> str:
    if value is None:
        return "?" if row.kind in ("recurrent", "linear", "conv") else ""
    return f"{value:,}"


def _size_line(model: ModelParams) -> str:
    """Keras's summary line: ``Total params: 1,576,960 (6.02 MiB)``, with the element types."""
    total, size = model.total(Convention.ONNX), model.column_total("param_bytes")
    dtypes = sorted({d for row in model.layers if row.param_dtype
                     for d in row.param_dtype.split("+")})
    typed = f", {'/'.join(dtypes)}" if dtypes else ""
    return (f"Total params (ONNX): {_num(total)} ({format_bytes(size)}{typed}); "
            f"MACs per step: {_num(model.column_total('macs_per_step'))}")


def _notes(model: ModelParams) -> list[str]:
    lines: list[str] = []
    for row in model.layers:
        by_reason: dict[str, list[str]] = {}
        for convention, reason in row.unsupported.items():
            by_reason.setdefault(reason, []).append(convention.title)
        lines.extend(f"{row.label}: {' and '.join(titles)} n/a: {reason}"
                     for reason, titles in by_reason.items())
        lines.extend(f"{row.label}: {note}" for note in row.notes)
    for shared in model.shared:
        first, *rest = shared.nodes
        lines.append(
            f"* {shared.tensor!r} ({_num(shared.elements)} elements) is read by "
            f"{', '.join(shared.nodes)}: counted once, in {first}'s row"
            + ("" if rest else " (read twice by that node)")
        )
    if model.uncounted_tensors:
        lines.append(
            f"{model.uncounted_tensors} other initializer"
            f"{'s' if model.uncounted_tensors != 1 else ''} ({model.uncounted_elements:,} "
            "elements) feed no parameterised node: constants, not counted"
        )
    if model.weight_inputs:
        names = ", ".join(repr(name) for name, _ in model.weight_inputs[:3])
        more = len(model.weight_inputs) - 3
        sizes = [elements for _, elements in model.weight_inputs]
        size = "?" if None in sizes else f"{sum(e for e in sizes if e is not None):,}"
        lines.append(
            f"not counted: {len(model.weight_inputs)} graph input"
            f"{'s' if len(model.weight_inputs) != 1 else ''} with no stored value read as a "
            f"weight or bias by a MatMul, Gemm or Conv ({names}"
            f"{f' and {more} more' if more > 0 else ''}; {size} elements): a model saved "
            "without its weights (torch's export_params=False) gets them at run time; the "
            "total is what is stored, and the recurrent slots by their declared shapes")
    lines.extend(f"{node}: recurrent-looking, but no layer archlint recognises: its weights "
                 "are counted only where they feed a plain row (a MatMul, a Gemm, a Conv); the "
                 "rest (peepholes, an unconverted op's inputs) are among the constants not "
                 "counted" for node in model.unseen)
    if not model.layers:
        lines.append("no parameterised nodes")
    else:
        lines.append(TRAINABLE_NOTE)
    return lines


def _summary_table(report: ParamsReport) -> tuple[list[str], list[list[str]], list[str] | None]:
    header = ["model", "layers", *(c.title for c in CONVENTIONS)]
    body = [
        [m.path, str(len(m.layers)), *(_model_total_cell(m, c) for c in CONVENTIONS)]
        for m in report.readable
    ]
    total = None
    if len(report.readable) > 1:
        total = ["all models", str(sum(len(m.layers) for m in report.readable)),
                 *(_report_total_cell(report, c) for c in CONVENTIONS)]
    return header, body, total


def _budget_lines(report: ParamsReport) -> list[str]:
    if not report.budgets:
        return []
    lines = [f"{f.model}: {f.check}: {f.message}" for f in report.failures]
    set_text = ", ".join(f"{k}={_fmt_budget(v)}" for k, v in report.budgets.items())
    verdict = (f"{len(report.failures)} budget check{'s' if len(report.failures) != 1 else ''} "
               "failed" if report.failures else "all budget checks passed")
    lines.append(f"budgets ({report.convention.value} convention; {set_text}): {verdict}")
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def _fmt_budget(value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt_budget(v)}" for k, v in value.items()) + "}"
    return str(value)


# --- text -------------------------------------------------------------------------------------


def _align(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    rows = [[safe_text(cell) for cell in row] for row in rows]  # names escaped before measuring
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if h in _RIGHT else c.ljust(w)
                 for c, w, h in zip(cells, widths, header, strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    return [line(header), *(line(r) for r in rows)]


def render_text(report: ParamsReport, summary: bool = False) -> str:
    lines: list[str] = []
    if not summary:
        for model in report.readable:
            header, body, total = _layer_table(model, bool(report.dims))
            lines.append(model.path)
            lines.extend(_align(header, [*body, total]))
            if model.layers:
                lines.append(f"  {_size_line(model)}")
            lines.extend(f"  {note}" for note in _notes(model))
            lines.append("")
    if summary or len(report.readable) > 1:
        header, body, total_row = _summary_table(report)
        lines.append(f"Summary ({len(report.readable)} model"
                     f"{'s' if len(report.readable) != 1 else ''})")
        lines.extend(_align(header, body + ([total_row] if total_row else [])))
        lines.append("")
    lines.extend(_budget_lines(report))
    if report.dims:
        lines.append("MACs at " + ", ".join(f"{k}={v}" for k, v in report.dims.items()))
    return "\n".join(safe_text(line) for line in lines).rstrip("\n") + "\n"


# --- Markdown (GitHub-flavoured tables, for a pull-request comment) ----------------------------

_MD_SPECIAL = set("\\`*_[]<>|#~!")


def _md(text: str) -> str:
    text = safe_text(text)
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], bold_last: bool) -> list[str]:
    align = ["---:" if h in _RIGHT else "---" for h in header]
    out = ["| " + " | ".join(_md(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    for index, row in enumerate(rows):
        cells = [_md(c) for c in row]
        if bold_last and index == len(rows) - 1:
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(report: ParamsReport, summary: bool = False) -> str:
    lines: list[str] = []
    if not summary:
        for model in report.readable:
            header, body, total = _layer_table(model, bool(report.dims), indent="↳ ")
            lines += [f"### {_md(model.path)}", ""]
            lines += _md_table(header, [*body, total], bold_last=True)
            notes = ([_size_line(model)] if model.layers else []) + _notes(model)
            if notes:
                lines.append("")
                lines.extend(f"- {_md(note)}" for note in notes)
            lines.append("")
    if summary or len(report.readable) > 1:
        header, body, total_row = _summary_table(report)
        lines += ["### Summary", ""]
        lines += _md_table(header, body + ([total_row] if total_row else []),
                           bold_last=total_row is not None)
        lines.append("")
    budget = _budget_lines(report)
    if budget:
        lines += ["### Budgets", ""] + [f"- {_md(line)}" for line in budget] + [""]
    return "\n".join(safe_text(line) for line in lines).rstrip("\n") + "\n"


# --- CSV --------------------------------------------------------------------------------------

CSV_LAYER_FIELDS = (
    "model", "graph", "node", "node_index", "op_type", "kind", "recognised_as", "direction",
    "num_directions", "input_size", "hidden_size", "implied_hidden_size", "projection_size",
    "W", "R", "B", "P",
    "S", "stats", "onnx", "pytorch", "keras", "basis", "shared", "notes",
    "module", "output_shape", "param_dtype", "param_bytes", "macs_per_step", "macs",
)
CSV_SUMMARY_FIELDS = ("model", "layers", "onnx", "pytorch", "keras", "error")


def _csv_value(value: object) -> str:
    return "" if value is None else str(value)


def _csv_slot(layer: LayerParams, names: frozenset[str]) -> str:
    entries = [s for s in layer.slots if s.slot in names]
    if not entries or any(s.elements is None for s in entries):
        return ""
    return str(sum(s.elements or 0 for s in entries))


class _SafeWriter:
    """A csv writer whose text cells are escaped: a name cannot add a line to a CI log."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: Sequence[object]) -> None:
        self.writer.writerow([safe_text(c) if isinstance(c, str) else c for c in row])


def render_csv(report: ParamsReport, summary: bool = False) -> str:
    """One row per layer (or per model with ``summary``); empty cells are unknown or n/a,
    and the notes column says which."""
    buffer = io.StringIO()
    writer = _SafeWriter(csv.writer(buffer, lineterminator="\n"))
    if summary:
        writer.writerow(CSV_SUMMARY_FIELDS)
        for model in report.models:
            writer.writerow([model.path, len(model.layers) if model.error is None else "",
                             *(_csv_value(model.total(c)) for c in CONVENTIONS),
                             model.error or ""])
        return buffer.getvalue()
    writer.writerow(CSV_LAYER_FIELDS)
    for model in report.readable:
        for row in model.layers:
            shared = sorted({s.tensor for s in row.slots if s.shared_with})
            notes = [f"{c.value} n/a: {reason}" for c, reason in row.unsupported.items()]
            writer.writerow([
                model.path, row.graph, row.node, row.node_index, row.op_type, row.kind,
                _csv_value(row.recognised_as), _csv_value(row.direction),
                _csv_value(row.num_directions),
                _csv_value(row.input_size), _csv_value(row.hidden_size),
                _csv_value(row.implied_hidden_size), _csv_value(row.projection_size),
                *(_csv_slot(row, names) for _, names in _COLUMNS),
                *(_csv_value(row.total(c)) for c in CONVENTIONS),
                ";".join(f"{s.slot}={s.basis.value}" for s in row.slots),
                ";".join(shared), "; ".join([*notes, *row.notes]),
                _csv_value(row.module),
                "" if row.output_shape is None else format_shape(row.output_shape),
                _csv_value(row.param_dtype), _csv_value(row.param_bytes),
                _csv_value(row.macs_per_step), _csv_value(row.macs),
            ])
    return buffer.getvalue()


# --- JSON -------------------------------------------------------------------------------------


def _layer_dict(layer: LayerParams) -> dict[str, Any]:
    return {
        "graph": layer.graph,
        "node": layer.node,
        "label": layer.label,
        "node_index": layer.node_index,
        "op_type": layer.op_type,
        "kind": layer.kind,
        "recognised_as": layer.recognised_as,
        "direction": layer.direction,
        "num_directions": layer.num_directions,
        "input_size": layer.input_size,
        "hidden_size": layer.hidden_size,
        "implied_hidden_size": layer.implied_hidden_size,
        "projection_size": layer.projection_size,
        "linear_before_reset": layer.linear_before_reset,
        "slots": [
            {"slot": s.slot, "tensor": s.tensor, "elements": s.elements,
             "pytorch": s.pytorch, "keras": s.keras, "shared_with": s.shared_with,
             "basis": s.basis.value,
             "sources": [{"graph": src.graph, "tensor": src.name, "elements": src.elements,
                          "basis": src.basis.value} for src in s.sources],
             "dtype": s.dtype}
            for s in layer.slots
        ],
        "params": {c.value: layer.total(c) for c in CONVENTIONS},
        "unsupported": {c.value: reason for c, reason in layer.unsupported.items()},
        "notes": list(layer.notes),
        "module": layer.module,
        "output_shape": None if layer.output_shape is None else list(layer.output_shape),
        "param_dtype": layer.param_dtype,
        "param_bytes": layer.param_bytes,
        "macs_per_step": layer.macs_per_step,
        "macs": layer.macs,
    }


def _module_dict(group: ModuleGroup) -> dict[str, Any]:
    part = ModelParams("", group.rows)
    return {
        "name": group.name,
        "layers": [row.label for row in group.rows],
        "params": {c.value: part.total(c) for c in CONVENTIONS},
        "param_bytes": part.column_total("param_bytes"),
        "macs_per_step": part.column_total("macs_per_step"),
        "macs": part.column_total("macs"),
    }


def _model_dict(model: ModelParams, report: ParamsReport) -> dict[str, Any]:
    return {
        "path": model.path,
        "error": model.error,
        "layers": [_layer_dict(layer) for layer in model.layers],
        "totals": {c.value: model.total(c) for c in CONVENTIONS},
        "modules": [_module_dict(g) for g in module_groups(model)],
        "param_bytes": model.column_total("param_bytes"),
        "macs_per_step": model.column_total("macs_per_step"),
        "macs": model.column_total("macs"),
        "shared": [{"tensor": s.tensor, "elements": s.elements, "nodes": list(s.nodes)}
                   for s in model.shared],
        "uncounted_initializers": {"tensors": model.uncounted_tensors,
                                   "elements": model.uncounted_elements},
        "unseen": list(model.unseen),
        "weight_inputs": [{"tensor": name, "elements": elements}
                          for name, elements in model.weight_inputs],
        "budget_failures": [
            {"check": f.check, "node": f.node, "limit": f.limit, "actual": f.actual,
             "message": f.message}
            for f in report.failures if f.model == model.path
        ],
    }


def to_dict(report: ParamsReport, summary: bool = False) -> dict[str, Any]:
    models = [_model_dict(m, report) for m in report.models]
    if summary:
        for entry in models:
            entry["layers"] = []  # --summary: per-model totals only
            entry["modules"] = []
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "archlint", "version": __version__},
        "convention": report.convention.value,
        "dims": dict(report.dims),
        "trainable": TRAINABLE_NOTE,
        "budgets": {key: value for key, value in report.budgets.items()},
        "models": models,
        "summary": {
            "models": len(report.models),
            "unreadable": len(report.errors),
            "totals": {c.value: report.total(c) for c in CONVENTIONS},
            "budget_failures": len(report.failures),
        },
        "notes": list(report.notes),
    }


def render_json(report: ParamsReport, summary: bool = False) -> str:
    return json_text(to_dict(report, summary))


PARAMS_FORMATS: dict[str, Callable[[ParamsReport, bool], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "csv": render_csv,
    "json": render_json,
}


def render(report: ParamsReport, output_format: str = "text", summary: bool = False) -> str:
    return PARAMS_FORMATS[output_format](report, summary)
