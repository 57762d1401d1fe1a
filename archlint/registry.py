"""Entry points -> rule classes; selection by code or prefix.

Every rule pack, the built-in ``archlint_rules`` included, is found through the
``archlint.rules`` entry-point group. An entry point may name a package or module (every Rule
subclass defined in it and its submodules is collected), a single Rule subclass, or a callable
returning an iterable of Rule subclasses.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

from archlint.api import Rule
from archlint.core_rules import CORE_RULES

ENTRY_POINT_GROUP = "archlint.rules"

__all__ = ["ENTRY_POINT_GROUP", "RegistryError", "RuleSet", "load_rules", "select_rules"]


class RegistryError(Exception):
    """A plugin that cannot be loaded, or two rules sharing a code."""


@dataclass(frozen=True)
class RuleSet:
    """The rules found (core and every plugin), by code, and which entry point gave each."""

    rules: tuple[type[Rule], ...]
    origin: dict[str, str]  # code -> entry point name ("builtin", or the plugin's)

    def by_code(self, code: str) -> type[Rule] | None:
        return next((r for r in self.rules if r.code == code.upper()), None)


def load_rules() -> RuleSet:
    found: dict[str, type[Rule]] = {rule.code: rule for rule in CORE_RULES}
    origin: dict[str, str] = {rule.code: "core" for rule in CORE_RULES}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            target = ep.load()
        except Exception as exc:
            raise RegistryError(
                f"rule plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        for rule in _rules_from(target):
            existing = found.get(rule.code)
            if existing is not None and existing is not rule:
                raise RegistryError(
                    f"rule code {rule.code} is defined twice: by {origin[rule.code]!r} "
                    f"({existing.__module__}) and by {ep.name!r} ({rule.__module__})"
                )
            found[rule.code] = rule
            origin[rule.code] = ep.name
    ordered = tuple(sorted(found.values(), key=lambda r: r.code))
    return RuleSet(ordered, origin)


def _rules_from(target: object) -> Iterable[type[Rule]]:
    if isinstance(target, ModuleType):
        return _rules_in_module(target)
    if inspect.isclass(target) and issubclass(target, Rule):
        return [target]
    if callable(target):
        produced = target()
        return [r for r in produced if inspect.isclass(r) and issubclass(r, Rule)]
    raise RegistryError(f"entry point target {target!r} is not a module, Rule or callable")


def _rules_in_module(module: ModuleType) -> list[type[Rule]]:
    modules = [module]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, prefix=module.__name__ + "."):
            modules.append(importlib.import_module(info.name))
    rules: list[type[Rule]] = []
    for mod in modules:
        for obj in list(vars(mod).values()):  # not inspect.getmembers: it sorts and getattrs
            if isinstance(obj, type) and issubclass(obj, Rule) and "code" in obj.__dict__ \
                    and obj.__module__ == mod.__name__:
                rules.append(obj)
    return rules


def select_rules(
    rules: Sequence[type[Rule]],
    select: Sequence[str] = ("ALL",),
    ignore: Sequence[str] = (),
) -> tuple[type[Rule], ...]:
    """Keep rules by code prefix. As in ruff, the more specific prefix wins (``--select AL2
    --ignore AL201`` keeps AL202); on a tie, ignore wins."""

    def longest(prefixes: Sequence[str], code: str) -> int:
        lengths = [
            0 if p.upper() == "ALL" else len(p) for p in prefixes
            if p.upper() == "ALL" or code.startswith(p.upper())
        ]
        return max(lengths, default=-1)

    kept = []
    for rule in rules:
        chosen, dropped = longest(select, rule.code), longest(ignore, rule.code)
        if chosen >= 0 and chosen > dropped:
            kept.append(rule)
    return tuple(kept)


def unknown_prefixes(rules: Sequence[type[Rule]], prefixes: Sequence[str]) -> list[str]:
    """Prefixes that match no rule (a typo in --select should not silently select nothing)."""
    return [
        p for p in prefixes
        if p.upper() != "ALL" and not any(r.code.startswith(p.upper()) for r in rules)
    ]
