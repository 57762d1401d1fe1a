"""Fixes: the model editor rules write their repairs with, and the passes that apply them.

A fix is declared by the rule that owns it (:meth:`archlint.api.Rule.fix`, ruff's model). This
module never knows a rule: it hands each fixable finding and a :class:`ModelEditor` over a
*copy* of the model to the rule, keeps the fixes the safety level allows (one per node per
pass), applies them, lints the copy again and repeats until nothing more is fixable. Files are
the application layer's business (archlint/app.py): nothing here reads or writes a path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import GraphProto, ModelProto, NodeProto, numpy_helper

from archlint.api import Finding, Fix, Location, Rule, RuleContext, Safety
from archlint.loader import iter_graphs

if TYPE_CHECKING:
    from archlint.engine import Linter
    from archlint.loader import LoadedModel

__all__ = ["AppliedFix", "FixPass", "ModelEditor", "SkippedFix", "copy_model", "fix_passes"]

MAX_PASSES = 8  # a fix that makes another fixable finding is taken in the next pass


def copy_model(proto: ModelProto) -> ModelProto:
    """A deep copy: fixes edit this, never the model they were given."""
    copy = ModelProto()
    copy.CopyFrom(proto)
    return copy


class ModelEditor:
    """Edits on a copy of one model, addressed the way findings address nodes.

    ``context`` is the (read-only) analysis of the model the findings came from, for a rule
    that needs more than the finding says. Node lookups go by graph path and index, checked
    against the node's name and op, so a stale location never edits the wrong node.
    """

    def __init__(self, model: ModelProto, context: RuleContext) -> None:
        self.model = model
        self.context = context
        self._graphs: dict[str, GraphProto] = dict(iter_graphs(model.graph))
        self._names = {name for _, graph in self._graphs.items() for name in _names_in(graph)}

    def node(self, location: Location) -> NodeProto | None:
        """The copy's node at ``location``, or None (function bodies are not editable)."""
        graph = self._graphs.get(location.graph)
        index = location.node_index
        if graph is None or index is None or not 0 <= index < len(graph.node):
            return None
        node: NodeProto = graph.node[index]
        if node.name != (location.node or "") or node.op_type != location.op_type:
            return None
        return node

    def graph_of(self, node: NodeProto) -> GraphProto:
        for graph in self._graphs.values():
            if any(n is node for n in graph.node):
                return graph
        raise ValueError(f"node {node.name!r} is not in this model")

    def fresh_name(self, base: str) -> str:
        """A tensor or node name no other tensor uses."""
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def set_attribute(self, node: NodeProto, name: str, value: Any) -> None:
        self.remove_attribute(node, name)
        node.attribute.append(onnx.helper.make_attribute(name, value))

    def remove_attribute(self, node: NodeProto, name: str) -> None:
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept)

    def add_constant(self, node: NodeProto, value: np.ndarray[Any, Any], base: str) -> str:
        """A new initializer in ``node``'s graph; its name."""
        name = self.fresh_name(base)
        self.graph_of(node).initializer.append(numpy_helper.from_array(value, name))
        return name

    def set_constant_input(self, node: NodeProto, index: int, value: np.ndarray[Any, Any],
                           base: str) -> str:
        """Feed input ``index`` of ``node`` from a new initializer; the old constant stays for
        any other node that reads it."""
        name = self.add_constant(node, value, base)
        old, node.input[index] = node.input[index], name
        self._drop_if_unread(old)
        return name

    def _drop_if_unread(self, name: str) -> None:
        """Remove an initializer nothing reads any more (onnxruntime warns about it)."""
        for graph in self._graphs.values():
            if any(name in n.input for n in graph.node) or any(o.name == name
                                                               for o in graph.output):
                return
        for graph in self._graphs.values():
            for tensor in graph.initializer:
                if tensor.name == name:
                    graph.initializer.remove(tensor)
                    return
            for node in graph.node:
                if node.op_type == "Constant" and list(node.output) == [name]:
                    graph.node.remove(node)
                    return

    def add_node_before(self, node: NodeProto, op_type: str, inputs: list[str],
                        attributes: dict[str, Any], name: str) -> str:
        """A new node placed just before ``node`` (so after everything it reads); the name of
        its one output."""
        graph = self.graph_of(node)
        out = self.fresh_name(f"{name}_out")
        new = onnx.helper.make_node(op_type, inputs, [out], name=self.fresh_name(name),
                                    **attributes)
        position = next(k for k, n in enumerate(graph.node) if n is node)
        graph.node.insert(position, new)
        return out

    def set_declared_symbol(self, tensor: str, axis: int, symbol: str) -> None:
        """Declare axis ``axis`` of ``tensor`` (graph output or value_info) as ``symbol``."""
        for graph in self._graphs.values():
            for info in (*graph.output, *graph.value_info):
                if info.name != tensor or not info.type.HasField("tensor_type"):
                    continue
                dims = info.type.tensor_type.shape.dim
                if 0 <= axis < len(dims):
                    dims[axis].dim_param = symbol

    def set_declared_dim(self, tensor: str, axis: int, old: int, new: int) -> None:
        """Where ``tensor``'s declared type (graph output or value_info) says ``old`` on
        ``axis`` (negative counts from the end), say ``new``."""
        for graph in self._graphs.values():
            for info in (*graph.output, *graph.value_info):
                if info.name != tensor or not info.type.HasField("tensor_type"):
                    continue
                dims = info.type.tensor_type.shape.dim
                if -len(dims) <= axis < len(dims) and dims[axis].HasField("dim_value") \
                        and dims[axis].dim_value == old:
                    dims[axis].dim_value = new

    def insert_before(self, node: NodeProto, index: int, op_type: str,
                      attributes: dict[str, Any], name: str) -> NodeProto:
        """Put ``op_type`` between input ``index`` of ``node`` and that input's producer."""
        graph = self.graph_of(node)
        out = self.fresh_name(f"{node.input[index]}_{name}")
        new = onnx.helper.make_node(op_type, [node.input[index]], [out],
                                    name=self.fresh_name(name), **attributes)
        position = next(k for k, n in enumerate(graph.node) if n is node)
        graph.node.insert(position, new)
        node.input[index] = out
        return new


def _names_in(graph: GraphProto) -> Iterator[str]:
    yield from (v.name for v in graph.input)
    yield from (v.name for v in graph.output)
    yield from (t.name for t in graph.initializer)
    for node in graph.node:
        yield node.name
        yield from node.input
        yield from node.output


@dataclass(frozen=True)
class AppliedFix:
    """One fix applied: which rule, where, how safe, what it did."""

    code: str
    graph: str
    node: str
    safety: Safety
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "graph": self.graph, "node": self.node,
                "safety": self.safety.value, "description": self.description}


@dataclass(frozen=True)
class SkippedFix:
    """A fix offered but not applied (unsafe without --unsafe-fixes)."""

    code: str
    graph: str
    node: str
    safety: Safety
    description: str
    reason: str


@dataclass(frozen=True)
class FixPass:
    """What one pass over the copy did."""

    applied: tuple[AppliedFix, ...]
    skipped: tuple[SkippedFix, ...]


def lint_context(linter: Linter, model: LoadedModel) -> tuple[RuleContext, tuple[Finding, ...]]:
    """The analysis of ``model`` and the findings that pass the one filter."""
    from archlint.engine import analyse

    ctx = analyse(model, linter.options)
    found = linter.run_rules(ctx)
    return ctx, tuple(linter.suppressions.apply(ctx, found, report_unused=False).findings)


def _node_label(location: Location) -> str:
    return location.node_label() or "(model)"


def plan_pass(rules: Iterable[Rule], findings: Sequence[Finding], editor: ModelEditor,
              unsafe: bool) -> tuple[list[tuple[Finding, Fix]], list[SkippedFix]]:
    """The fixes to apply now: the rules' own, allowed by the safety level, one per node."""
    by_code = {rule.code: rule for rule in rules}
    chosen: list[tuple[Finding, Fix]] = []
    skipped: list[SkippedFix] = []
    claimed: set[tuple[str, int | None]] = set()
    for finding in findings:
        rule = by_code.get(finding.code)
        if rule is None or not rule.has_fix():
            continue
        fix = rule.fix(finding, editor)
        if fix is None:
            continue
        loc = finding.location
        if fix.safety is Safety.UNSAFE and not unsafe:
            skipped.append(SkippedFix(finding.code, loc.graph, _node_label(loc), fix.safety,
                                      fix.description, "unsafe: needs --unsafe-fixes"))
            continue
        key = (loc.graph, loc.node_index)
        if key in claimed:
            continue  # the next pass sees the node as this pass leaves it
        claimed.add(key)
        chosen.append((finding, fix))
    return chosen, skipped


def fix_passes(linter: Linter, load: Any, proto: ModelProto, unsafe: bool,
               codes: Collection[str] | None = None,
               ) -> tuple[ModelProto, tuple[Finding, ...], list[FixPass]]:
    """Fix a copy of ``proto`` until no allowed fix is left (at most MAX_PASSES passes); only
    the rules in ``codes`` fix (all when None), every rule of the linter lints.

    ``load(proto) -> LoadedModel`` analyses a model as the lint of the input did (same display
    path and folder). Returns the fixed copy, the findings of the input and every pass.
    """
    current = copy_model(proto)
    ctx, original = lint_context(linter, load(current))
    findings = original
    passes: list[FixPass] = []
    for _ in range(MAX_PASSES):
        editor = ModelEditor(current, ctx)
        fixers = [r for r in linter.rules if codes is None or r.code in codes]
        chosen, skipped = plan_pass(fixers, findings, editor, unsafe)
        applied = []
        for finding, fix in chosen:
            fix.apply()
            loc = finding.location
            applied.append(AppliedFix(finding.code, loc.graph, _node_label(loc), fix.safety,
                                      fix.description))
        passes.append(FixPass(tuple(applied), tuple(skipped)))
        if not applied:
            break
        ctx, findings = lint_context(linter, load(current))
    return current, original, passes


@dataclass(frozen=True)
class FixResult:
    """What ``archlint fix`` did to one model, and the proof.

    ``model`` is the fixed copy (the input is never edited). ``before``/``after`` are the
    findings of the input and of the copy; ``remaining`` are findings of a fixed rule still
    at the node it fixed, ``new`` those the input did not have; ``comparison`` is the
    onnxruntime run of both (None when onnxruntime is missing, ``runtime_note`` says why).
    ``problems`` is empty when every check held; ``written`` whether ``output`` was written.
    """

    path: str
    model: ModelProto
    applied: tuple[AppliedFix, ...]
    skipped: tuple[SkippedFix, ...]
    before: tuple[Finding, ...]
    after: tuple[Finding, ...]
    remaining: tuple[Finding, ...] = ()
    new: tuple[Finding, ...] = ()
    comparison: Any = None  # archlint.runtime.fixcheck.FixComparison (imported lazily)
    runtime_note: str | None = None
    problems: tuple[str, ...] = ()
    output: str | None = None
    written: bool = False

    @property
    def verified(self) -> bool:
        return not self.problems

    @property
    def unfixed(self) -> tuple[Finding, ...]:
        """Findings of the fixed copy (what is left to do by hand)."""
        return self.after

    def to_dict(self) -> dict[str, Any]:
        """The fix report as JSON-ready data (``archlint fix --format json``)."""
        def where(f: Finding) -> dict[str, Any]:
            return {"code": f.code, "graph": f.location.graph, "node": f.location.node_label(),
                    "message": f.message}

        comparison = None
        if self.comparison is not None:
            comparison = {
                "dims": dict(self.comparison.dims),
                "original_error": self.comparison.original_error,
                "fixed_error": self.comparison.fixed_error,
                "outputs": [{"name": o.name, "changed": o.changed,
                             "max_abs": o.difference.max_abs, "max_rel": o.difference.max_rel,
                             "mismatched": o.difference.mismatched,
                             "total": o.difference.total} for o in self.comparison.outputs],
            }
        return {
            "model": self.path, "output": self.output, "written": self.written,
            "verified": self.verified,
            "applied": [a.to_dict() for a in self.applied],
            "skipped": [{**AppliedFix(s.code, s.graph, s.node, s.safety,
                                      s.description).to_dict(), "reason": s.reason}
                        for s in self.skipped],
            "findings_before": [where(f) for f in self.before],
            "findings_after": [where(f) for f in self.after],
            "onnxruntime": comparison, "onnxruntime_note": self.runtime_note,
            "problems": list(self.problems),
        }


def finding_key(finding: Finding) -> tuple[str, str, str, str, str]:
    """A finding's place, without the values a fix elsewhere may change."""
    loc = finding.location
    return (finding.code, loc.graph, loc.node or f"#{loc.node_index}",
            loc.input or loc.output or "", loc.attribute or "")


def verify(applied: Sequence[AppliedFix], before: Sequence[Finding],
           after: Sequence[Finding]) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """(remaining, new): a fixed code still at its node; a finding the input did not have."""
    fixed_at = {(a.code, a.graph, a.node) for a in applied}
    remaining = tuple(f for f in after if (f.code, f.location.graph,
                                           _node_label(f.location)) in fixed_at)
    known = {finding_key(f) for f in before}
    new = tuple(f for f in after if finding_key(f) not in known and f not in remaining)
    return remaining, new
