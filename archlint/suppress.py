"""The step after the rules: findings -> the findings a user asked to see.

Three things remove a finding, in this order:

1. per-path ignores (config: glob -> codes), the glob relative to the config file's folder;
2. per-node ignores (config: node-name glob -> codes) and the model's own ``metadata_props``
   entry ``archlint:ignore`` (codes, comma-separated), which an exporter may write;
3. a baseline: fingerprints of findings accepted earlier (``--baseline FILE``).

A metadata suppression that removed nothing is itself reported as AL010 (unused-suppression),
like ruff's RUF100, when AL010 is selected: stale suppressions hide the next real defect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from archlint._version import __version__
from archlint.api import Finding, Location, RuleContext
from archlint.config import Config
from archlint.core_rules import UnusedSuppression
from archlint.render_names import json_text
from archlint.small_files import UnreadableFile, parse_guard, read_text_file

__all__ = [
    "METADATA_KEY",
    "Baseline",
    "BaselineError",
    "FilterResult",
    "Suppressions",
    "metadata_codes",
]

METADATA_KEY = "archlint:ignore"
BASELINE_VERSION = 1


def _matches_code(code: str, prefixes: Iterable[str]) -> bool:
    return any(p == "ALL" or code.startswith(p) for p in prefixes)


def metadata_codes(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """The codes a model's ``archlint:ignore`` metadata entry suppresses, as written."""
    raw = metadata.get(METADATA_KEY, "")
    return tuple(dict.fromkeys(p.strip().upper() for p in raw.split(",") if p.strip()))


def path_matches(glob: str, model: Path, root: Path | None) -> bool:
    """A per-path glob against a model file. Globs hold ``/``-separated paths relative to the
    config's folder (``*`` crosses folders, as in ruff's per-file-ignores); a glob without a
    ``/`` also matches the file name alone, so ``*_legacy.onnx`` matches at any depth."""
    resolved = model.resolve()
    candidates = [resolved.name]
    # a model outside the config's tree can match by its file name only
    if root is not None and resolved.is_relative_to(root):
        candidates.append(resolved.relative_to(root).as_posix())
    if "/" not in glob:
        return any(fnmatchcase(c, glob) for c in candidates)
    return any(fnmatchcase(c, glob) for c in candidates[1:])


class BaselineError(Exception):
    """A baseline file that cannot be read; ``str()`` is one line naming the file."""


@dataclass(frozen=True)
class Baseline:
    """Fingerprints of accepted findings. Matched by identity, never by position."""

    fingerprints: frozenset[str] = frozenset()

    @classmethod
    def read(cls, path: Path) -> Baseline:
        try:
            text = read_text_file(path)
            with parse_guard():
                data = json.loads(text)
        except UnreadableFile as exc:
            raise BaselineError(f"{path}: cannot read baseline: {exc}") from None
        except ValueError as exc:  # JSONDecodeError, or int()'s digit limit
            raise BaselineError(f"{path}: baseline is not JSON: {exc}") from None
        entries = data.get("findings") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("baseline_version") != BASELINE_VERSION
            or not isinstance(entries, list)
            or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str)
                       for e in entries)
        ):
            raise BaselineError(f"{path}: not an archlint baseline (version {BASELINE_VERSION}; "
                                "write one with --write-baseline)")
        return cls(frozenset(e["fingerprint"] for e in entries))

    @staticmethod
    def render(findings: Sequence[Finding]) -> str:
        """A baseline file: sorted, with enough context to review it in a diff."""
        entries = sorted(
            (
                {
                    "fingerprint": f.fingerprint(),
                    "code": f.code,
                    "model": f.location.model,
                    "node": f.location.node_label(),
                    "message": f.message,
                }
                for f in findings
            ),
            key=lambda e: (str(e["model"]), str(e["code"]), str(e["node"]), str(e["fingerprint"])),
        )
        unique = list({e["fingerprint"]: e for e in entries}.values())
        doc = {"baseline_version": BASELINE_VERSION, "archlint_version": __version__,
               "findings": unique}
        return json_text(doc)


@dataclass(frozen=True)
class FilterResult:
    """The findings left after suppressions and the baseline, and how many each removed."""

    findings: tuple[Finding, ...]
    suppressed: int = 0
    baselined: int = 0


@dataclass(frozen=True)
class Suppressions:
    """The filtering step's settings; picklable, so parallel workers get their own copy."""

    per_path_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    per_node_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    root: Path | None = None
    baseline: Baseline | None = None

    @classmethod
    def from_config(cls, config: Config, baseline: Baseline | None = None) -> Suppressions:
        return cls(config.per_path_ignores, config.per_node_ignores, config.root, baseline)

    def apply(
        self, ctx: RuleContext, findings: Sequence[Finding], report_unused: bool
    ) -> FilterResult:
        path_codes = tuple(
            code for glob, codes in self.per_path_ignores.items()
            if path_matches(glob, ctx.model.path, self.root) for code in codes
        )
        from_metadata = metadata_codes(ctx.model.metadata)
        used: set[str] = set()
        kept: list[Finding] = []
        suppressed = 0
        for finding in findings:
            if self._suppressed(finding, path_codes, from_metadata, used):
                suppressed += 1
            else:
                kept.append(finding)
        if report_unused and not _matches_code(UnusedSuppression.code, path_codes):
            # an entry may name AL010 itself ("AL010", "AL0"): it then silences the reports
            silencers = [c for c in from_metadata if _matches_code(UnusedSuppression.code, [c])]
            stale = [c for c in from_metadata if c not in used and c not in silencers]
            if silencers:
                suppressed += len(stale)
            else:
                kept.extend(_unused(ctx, code) for code in stale)
        baselined = 0
        if self.baseline is not None:
            before = len(kept)
            kept = [f for f in kept if f.fingerprint() not in self.baseline.fingerprints]
            baselined = before - len(kept)
        return FilterResult(tuple(kept), suppressed, baselined)

    def _suppressed(self, finding: Finding, path_codes: tuple[str, ...],
                    from_metadata: tuple[str, ...], used: set[str]) -> bool:
        # metadata hits are recorded even when another ignore also applies: the entry is
        # still doing its job for whoever reads the model without our config
        hits = [code for code in from_metadata if _matches_code(finding.code, [code])]
        used.update(hits)
        if hits or _matches_code(finding.code, path_codes):
            return True
        node = finding.location.node
        return node is not None and any(
            fnmatchcase(node, glob) and _matches_code(finding.code, codes)
            for glob, codes in self.per_node_ignores.items()
        )


def _unused(ctx: RuleContext, code: str) -> Finding:
    return Finding(
        code=UnusedSuppression.code,
        name=UnusedSuppression.name,
        severity=UnusedSuppression.severity,
        message=f"metadata_props {METADATA_KEY!r} suppresses {code}, but this model has no "
        f"{code} finding to suppress",
        location=Location(model=ctx.model.display_path),
        expected=f"{METADATA_KEY} without {code}",
        actual=f"{METADATA_KEY} = {ctx.model.metadata.get(METADATA_KEY, '')}",
        help=f"Remove {code} from the {METADATA_KEY!r} metadata entry (a stale suppression "
        "would hide the next real defect).",
    )
