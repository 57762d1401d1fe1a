"""The public surface for rules and plugins: Rule, Finding, Location, Severity, RuleContext.

A third-party rule pack is a package that exposes Rule subclasses through the ``archlint.rules``
entry-point group, exactly as the built-in pack ``archlint_rules`` does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    from archlint.fixes import ModelEditor
    from archlint.graph import ModelGraph, NodeInfo
    from archlint.loader import LoadedModel
    from archlint.recurrent import RecurrentLayer
    from archlint.runtime.result import RuntimeRun

__all__ = [
    "Finding",
    "Fix",
    "LayerRule",
    "Location",
    "Rule",
    "RuleContext",
    "RuleDefinitionError",
    "RuntimeRule",
    "Safety",
    "Severity",
]


T = TypeVar("T")


class Severity(enum.Enum):
    """How bad a finding is. Ordered: INFO < WARNING < ERROR."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {choices})") from None


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Location:
    """Where a finding is. ONNX has no line numbers, so a location is a path through the model.

    ``graph`` is the graph path (``main``, or ``main/loop_0.body`` inside a subgraph); ``node`` is
    the node's name as written (possibly empty or duplicated), so ``node_index`` (its position in
    its graph) and ``op_type`` are kept too. ``input``/``output`` name the operator slot
    (``W``, ``initial_h``...) and ``tensor`` the tensor bound to it; ``attribute`` names an
    attribute.
    """

    model: str
    graph: str = "main"
    node: str | None = None
    node_index: int | None = None
    op_type: str | None = None
    input: str | None = None
    output: str | None = None
    tensor: str | None = None
    attribute: str | None = None

    def node_label(self) -> str | None:
        """The node as a user finds it: its name, or ``<LSTM #3>`` when it has none."""
        if self.node:
            return self.node
        if self.node_index is not None:
            return f"<{self.op_type or 'node'} #{self.node_index}>"
        return None

    def slot_label(self) -> str | None:
        slot = self.input or self.output
        if slot is None:
            return f"attribute {self.attribute}" if self.attribute else None
        kind = "input" if self.input else "output"
        if self.tensor and self.tensor != slot:
            return f"{kind} {slot} ({self.tensor!r})"
        return f"{kind} {slot}"


@dataclass(frozen=True)
class Finding:
    """One defect, found by a rule (source ``archlint``) or by a real runtime (``onnxruntime``)."""

    code: str
    name: str
    severity: Severity
    message: str
    location: Location
    expected: str | None = None
    actual: str | None = None
    help: str | None = None
    source: str = "archlint"

    def fingerprint(self) -> str:
        """Identity of this finding across runs, independent of node order and unrelated edits.

        Built from the rule, the model's file name, the node's identity (its name; op type and
        the tensors it touches when unnamed), the slot or attribute, and the checked values.
        Node indices are left out on purpose: inserting a node elsewhere must not make an old
        finding look new.
        """
        loc = self.location
        node_identity = loc.node or (f"{loc.op_type}:{loc.tensor}" if loc.op_type else "")
        parts = [
            self.code,
            PurePath(loc.model).name,
            _strip_indices(loc.graph),
            node_identity,
            loc.input or loc.output or "",
            loc.attribute or "",
            self.expected or "",
            self.actual or "",
        ]
        # surrogateescape: an undecodable file name hashes as its bytes
        data = "\x1f".join(parts).encode("utf-8", "surrogateescape")
        import hashlib  # after the first finding, a dictionary lookup

        return hashlib.sha256(data).hexdigest()[:32]


_INDEX_IN_GRAPH_PATH = re.compile(r"#\d+")


def _strip_indices(graph_path: str) -> str:
    return _INDEX_IN_GRAPH_PATH.sub("", graph_path)


class Safety(enum.Enum):
    """How far a fix can be trusted (ruff's applicability, in two levels).

    SAFE: the fixed model computes what the graph's own weights and shapes say was intended,
    and gives the same outputs wherever the original ran. UNSAFE: a repair of a silent bug that
    changes computed values (as intended); applied only with ``--unsafe-fixes``.
    """

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Fix:
    """A repair a rule offers for one of its findings: what it does, how safe it is, and the
    edits themselves (``apply``, run on the model editor's copy only when the fix is chosen)."""

    description: str
    safety: Safety
    apply: Callable[[], object] = field(repr=False, compare=False)


class RuleDefinitionError(TypeError):
    """A Rule subclass lacks its code, name, severity, summary or documentation sections."""


_CODE_PATTERN = re.compile(r"^[A-Z]{1,8}\d{3,4}$")
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DOC_SECTIONS = ("## What it does", "## Why is this bad?", "## Example")


class Rule:
    """Base class of every rule. Subclasses set the metadata and implement :meth:`check`.

    The class docstring is the rule's documentation: a summary paragraph, then the sections
    ``## What it does``, ``## Why is this bad?`` and ``## Example``. A subclass that defines
    ``code`` without them is refused when the class is created, so a rule cannot ship undocumented.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    # True for rules whose findings come from running the model (archlint run, lint --runtime)
    runtime: ClassVar[bool] = False
    # A rule that overrides fix() says how safe its fixes are (docs, `archlint rules`)
    fix_safety: ClassVar[Safety | None] = None
    # lint options the rule does nothing without (AL6xx: "targets"); reporters say it did not run
    requires_options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # an abstract intermediate base such as LayerRule
        _validate_rule_class(cls)

    @classmethod
    def documentation(cls) -> str:
        """The rule's docs as Markdown, from its docstring."""
        import inspect

        return inspect.cleandoc(cls.__doc__ or "")

    def check(self, ctx: RuleContext) -> Iterable[Finding]:
        raise NotImplementedError

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """A repair for one of this rule's findings, or None when none is provable.

        ``editor`` holds a copy of the model (never the input) and the context the finding came
        from (``editor.context``); the returned Fix's ``apply`` edits that copy. A rule without
        a fix keeps this default.
        """
        return None

    @classmethod
    def has_fix(cls) -> bool:
        """Whether the rule offers fixes (it overrides :meth:`fix`)."""
        return cls.fix is not Rule.fix

    @classmethod
    def fix_documentation(cls) -> str | None:
        """What the fix does, from its docstring; None for a rule without one."""
        import inspect

        if not cls.has_fix():
            return None
        return inspect.cleandoc(cls.fix.__doc__ or "")


def _validate_rule_class(cls: type[Rule]) -> None:
    where = f"{cls.__module__}.{cls.__qualname__}"
    code = cls.__dict__.get("code")
    if not isinstance(code, str) or not _CODE_PATTERN.match(code):
        raise RuleDefinitionError(f"{where}: code must look like 'AL201', got {code!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise RuleDefinitionError(f"{where}: name must be a kebab-case slug, got {name!r}")
    if not isinstance(getattr(cls, "severity", None), Severity):
        raise RuleDefinitionError(f"{where}: severity must be a Severity")
    summary = getattr(cls, "summary", None)
    if not isinstance(summary, str) or not summary.strip():
        raise RuleDefinitionError(f"{where}: summary must be a non-empty string")
    doc = cls.__doc__ or ""
    missing = [section for section in DOC_SECTIONS if section not in doc]
    if missing:
        raise RuleDefinitionError(f"{where}: docstring lacks section(s) {', '.join(missing)}")
    if cls.check is Rule.check and getattr(cls, "check_layer", None) is None:
        raise RuleDefinitionError(f"{where}: implements neither check() nor check_layer()")
    if cls.has_fix() and not isinstance(getattr(cls, "fix_safety", None), Safety):
        raise RuleDefinitionError(f"{where}: a rule with fix() sets fix_safety")
    if issubclass(cls, RuntimeRule) and cls.check_run is RuntimeRule.check_run:
        raise RuleDefinitionError(f"{where}: a runtime rule implements check_run()")


class LayerRule(Rule):
    """A rule that looks at one recurrent layer (LSTM, GRU or RNN node) at a time."""

    ops: ClassVar[frozenset[str]] = frozenset({"LSTM", "GRU", "RNN"})
    # True when check_layer reads only the layer's own facts (its RecurrentLayer.signature:
    # attributes, which slots are bound, their dtypes and shapes) and facts of the whole model
    # (ctx.model's opset and producer, ctx.options): never the graph around the layer, nor a
    # tensor's value, nor a name except to word a finding. Then the layers of one signature
    # are checked through the first of them: when it comes out clean, so do they (a model
    # that repeats one cell 20,000 times is checked once per rule); when it has findings,
    # every layer of the signature is checked for its own. tests/test_layer_only_rules.py
    # holds every such rule to it on every fixture.
    layer_only: ClassVar[bool] = False

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not self.layer_only:
            for layer in ctx.layers:
                if layer.op_type in self.ops:
                    yield from self.check_layer(layer, ctx)
            return
        for group in _signature_groups(ctx):
            first = group[0]
            if first.op_type not in self.ops:
                continue
            found = list(self.check_layer(first, ctx))
            if not found:
                continue  # the group's other layers would come out clean too
            yield from found
            for layer in group[1:]:  # each gets its own findings, with its own names
                yield from self.check_layer(layer, ctx)

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterable[Finding]:
        raise NotImplementedError


def _signature_groups(ctx: RuleContext) -> list[list[RecurrentLayer]]:
    """The layers grouped by signature, in model order (the engine sorts findings anyway);
    found once per model for every layer-only rule, which then costs one check per group
    that comes out clean rather than one per layer."""
    def group() -> list[list[RecurrentLayer]]:
        groups: dict[Hashable, list[RecurrentLayer]] = {}
        for layer in ctx.layers:
            groups.setdefault(layer.signature, []).append(layer)
        return list(groups.values())

    return ctx.memo("api.signature_groups", group)


class RuntimeRule(Rule):
    """A rule checked by running the model in onnxruntime (``archlint run``, ``lint --runtime``).

    Its ``check`` finds nothing statically. The engine runs each model once in a child process
    (``archlint.runtime``) and hands the typed result, a
    :class:`~archlint.runtime.result.RuntimeRun` (how the child ended, the job's status and
    onnxruntime's message, outputs, placement, timings, comparisons), to every selected
    runtime rule's :meth:`check_run`; its findings get ``source="onnxruntime"`` and pass the
    same suppressions, severity overrides and baseline as static ones. A plugin adds a runtime
    check by subclassing this, like any rule.
    """

    runtime: ClassVar[bool] = True

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterable[Finding]:
        raise NotImplementedError


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may read. Rules never re-parse protobuf: they read these views.

    ``layers`` are the layers that are an LSTM/GRU/RNN op (native or contrib): their slots and
    attributes are what the spec describes, and every layer rule reads them. ``recognised``
    holds the layers found as a Loop cell, an unrolled chain or a single step (archlint/cells/):
    they have no op slots, so the op rules skip them by construction; a rule that understands
    them reads this tuple explicitly (AL025).
    """

    model: LoadedModel
    graph: ModelGraph
    layers: tuple[RecurrentLayer, ...]
    options: dict[str, object] = field(default_factory=dict)
    recognised: tuple[RecurrentLayer, ...] = ()
    _memo: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """A value derived from this model, computed once and shared by every rule (an index
        of recurrent outputs, the layer stacks): per-layer rules that rebuilt it would turn a
        linear walk into a quadratic one on models with thousands of layers."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    def finding(
        self,
        rule: Rule | type[Rule],
        where: RecurrentLayer | NodeInfo | None,
        message: str,
        *,
        expected: object = None,
        actual: object = None,
        help: str | None = None,
        input: str | None = None,
        output: str | None = None,
        tensor: str | None = None,
        attribute: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """Build a finding located at a layer or node (or at the model when ``where`` is None)."""
        from archlint.recurrent import RecurrentLayer

        node: NodeInfo | None = where.node if isinstance(where, RecurrentLayer) else where
        location = Location(
            model=self.model.display_path,
            graph=node.graph if node is not None else "main",
            node=node.name if node is not None else None,
            node_index=node.index if node is not None else None,
            op_type=node.op_type if node is not None else None,
            input=input,
            output=output,
            tensor=tensor if tensor is not None else _slot_tensor(node, input, output),
            attribute=attribute,
        )
        return Finding(
            code=rule.code,
            name=rule.name,
            severity=severity or rule.severity,
            message=message,
            location=location,
            expected=None if expected is None else str(expected),
            actual=None if actual is None else str(actual),
            help=help,
        )


def _slot_tensor(node: NodeInfo | None, input: str | None, output: str | None) -> str | None:
    if node is None:
        return None
    if input is not None:
        return node.input_tensor(input)
    if output is not None:
        return node.output_tensor(output)
    return None
