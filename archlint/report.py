"""The report model: what a lint, a runtime check or both found, per model.

Reporters, the front ends and the Python API depend on this module only, never on the engine
that fills it. Every record is frozen and picklable (parallel workers send them back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archlint._version import __version__
from archlint.api import Finding, Rule, Severity
from archlint.render_names import json_text

__all__ = ["SCHEMA_VERSION", "ModelReport", "Report", "RunFacts", "finding_to_dict"]

SCHEMA_VERSION = 1  # of the JSON report (docs/json-output.md, schemas/report-v1.schema.json)


@dataclass(frozen=True)
class RunFacts:
    """What one runtime check observed besides findings: the lines ``archlint run`` prints."""

    providers: tuple[str, ...] = ()
    dims: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()
    timing: str | None = None
    notes: tuple[str, ...] = ()
    sweep: tuple[str, ...] = ()  # one line per binding of the size sweep
    # the same facts as data for JSON: inputs fed, bindings, placement, timings (schema v1,
    # "runtime" of a model); plain JSON values only
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelReport:
    """Findings for one model, or the one-line reason it could not be read."""

    path: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    recurrent_layers: int = 0
    nodes: int = 0
    elapsed_s: float = 0.0
    suppressed: int = 0  # findings removed by per-path/per-node/metadata ignores
    baselined: int = 0  # findings removed because the baseline holds their fingerprint
    runtime: RunFacts | None = None  # set when the model went through the runtime check
    # recurrent layers recognised from a Loop body, an unrolled chain or a single step: counted,
    # not checked
    unchecked_layers: int = 0
    # recurrent-looking nodes no layer came from (a custom-domain *LSTM*, a Loop or Scan whose
    # body is not a recognised cell): "label (op_type)", so the summary can say what it skipped
    unseen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "error": self.error,
            "nodes": self.nodes,
            "recurrent_layers": self.recurrent_layers,
            "unchecked_layers": self.unchecked_layers,
            "unseen": list(self.unseen),
            "suppressed": self.suppressed,
            "baselined": self.baselined,
            "findings": [finding_to_dict(f) for f in self.findings],
        }
        if self.runtime is not None and self.runtime.detail is not None:
            data["runtime"] = self.runtime.detail
        return data


@dataclass(frozen=True)
class Report:
    """Every model's report of one lint, with the rules that ran."""

    models: tuple[ModelReport, ...]
    rules: tuple[type[Rule], ...]
    elapsed_s: float = 0.0
    notes: tuple[str, ...] = field(default=())
    # (code, why) of selected rules that did not run: runtime rules without --runtime, target
    # rules without a target. Reporters list them as skipped, never as passed.
    not_run: tuple[tuple[str, str], ...] = field(default=())

    @property
    def ran(self) -> tuple[type[Rule], ...]:
        """The selected rules that ran on the readable models."""
        skipped = {code for code, _ in self.not_run}
        return tuple(r for r in self.rules if r.code not in skipped)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for m in self.models for f in m.findings)

    @property
    def errors(self) -> tuple[ModelReport, ...]:
        return tuple(m for m in self.models if m.error is not None)

    @property
    def suppressed(self) -> int:
        return sum(m.suppressed for m in self.models)

    @property
    def baselined(self) -> int:
        return sum(m.baselined for m in self.models)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def worst(self) -> Severity | None:
        severities = [f.severity for f in self.findings]
        return max(severities, key=lambda s: s.rank) if severities else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (schema version 1) as plain data."""
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "archlint", "version": __version__},
            "models": [m.to_dict() for m in self.models],
            "summary": {
                "models": len(self.models),
                "unreadable": len(self.errors),
                "findings": len(self.findings),
                "by_severity": {s.value: self.count(s) for s in Severity},
                "suppressed": self.suppressed,
                "baselined": self.baselined,
                "elapsed_s": round(self.elapsed_s, 3),
            },
        }

    def to_json(self) -> str:
        return json_text(self.to_dict())

    def _repr_html_(self) -> str:
        """A table per report for notebooks (Jupyter calls this)."""
        import html

        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in (
                f.code, f.severity.value, f.location.model, f.location.node_label() or "",
                f.message)) + "</tr>"
            for f in self.findings
        )
        errors = "".join(f"<p><b>{html.escape(m.path)}</b>: {html.escape(m.error or '')}</p>"
                         for m in self.errors)
        counts = ", ".join(f"{self.count(s)} {s.value}" for s in
                           (Severity.ERROR, Severity.WARNING, Severity.INFO))
        head = (f"<p>archlint: {len(self.findings)} findings ({counts}) in "
                f"{len(self.models)} model(s)</p>")
        table = ("<table><tr><th>code</th><th>severity</th><th>model</th><th>node</th>"
                 f"<th>message</th></tr>{rows}</table>") if rows else ""
        return head + errors + table


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
