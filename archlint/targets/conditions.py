"""A minimal condition language over the fields of archlint/targets/fields.py.

In a profile (TOML), ``when`` is a list of conditions that must all hold. A condition is

* a leaf: ``{ field = "layout", op = "ne", value = 0 }``, or ``ref = "<other field>"`` in place
  of ``value`` to compare two fields;
* ``{ any = [ ... ] }``, ``{ all = [ ... ] }`` or ``{ not = { ... } }``.

Operators: ``eq ne lt le gt ge`` (compare), ``in not_in`` (the value is in / not in a list),
``present absent`` (the field is known / unknown), ``contains`` (a list field holds the value),
``any_not_in`` (some element of a list field is not in the value list), ``not_prefix_of`` (a
list field is not the start of the value list). A comparison against an
unknown field never holds (a linter must not guess), so ``not`` is the only way to say
"not proven": ``{ not = { field = "sequence_lens_min", op = "gt", value = 0 } }``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archlint.recurrent import RecurrentLayer
from archlint.targets.fields import FIELDS, FieldValue, field_value

__all__ = ["All", "Any_", "Condition", "ConditionError", "Leaf", "Not", "evaluate",
           "leaves_of", "parse_condition", "render"]

COMPARE_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
LIST_OPS = frozenset({"in", "not_in", "any_not_in", "not_prefix_of"})
UNARY_OPS = frozenset({"present", "absent"})
OPS = COMPARE_OPS | LIST_OPS | UNARY_OPS | {"contains"}


class ConditionError(ValueError):
    """A condition in a profile is malformed (unknown field, operator or value type)."""


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any = None
    ref: str | None = None

    def describe(self, layer: RecurrentLayer) -> str:
        """The field as the layer has it, for the ``found`` part of a finding."""
        value = field_value(layer, self.field)
        if value is None:
            return f"{self.field} {FIELDS[self.field].missing}"
        if self.op == "contains":
            return f"{self.field} include {self.value}"
        return f"{self.field}={_show(value)}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Leaf | All | Any_ | Not


def _show(value: FieldValue) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def parse_condition(raw: object, where: str) -> Condition:
    """Build a condition from its TOML form, refusing anything the evaluator cannot run."""
    if isinstance(raw, list):
        return All(tuple(parse_condition(item, where) for item in raw))
    if not isinstance(raw, Mapping):
        raise ConditionError(f"{where}: a condition must be a table, got {raw!r}")
    keys = set(raw)
    for combinator in ("all", "any"):
        if keys == {combinator}:
            items = raw[combinator]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}: '{combinator}' needs a non-empty list")
            parsed = tuple(parse_condition(item, where) for item in items)
            return All(parsed) if combinator == "all" else Any_(parsed)
    if keys == {"not"}:
        return Not(parse_condition(raw["not"], where))
    return _parse_leaf(raw, where)


def _parse_leaf(raw: Mapping[str, object], where: str) -> Leaf:
    extra = set(raw) - {"field", "op", "value", "ref"}
    if extra:
        raise ConditionError(f"{where}: unknown condition key(s) {', '.join(sorted(extra))}")
    name, op = raw.get("field"), raw.get("op")
    if not isinstance(name, str) or name not in FIELDS:
        raise ConditionError(f"{where}: unknown field {name!r} (known: {', '.join(FIELDS)})")
    if not isinstance(op, str) or op not in OPS:
        raise ConditionError(f"{where}: unknown op {op!r} (known: {', '.join(sorted(OPS))})")
    has_value, ref = "value" in raw, raw.get("ref")
    if op in UNARY_OPS:
        if has_value or ref is not None:
            raise ConditionError(f"{where}: op '{op}' takes no value")
        return Leaf(name, op)
    if ref is not None:
        if op not in COMPARE_OPS | {"not_prefix_of"} or not isinstance(ref, str) \
                or ref not in FIELDS:
            raise ConditionError(f"{where}: 'ref' must name a field and go with a comparison")
        return Leaf(name, op, ref=ref)
    if not has_value:
        raise ConditionError(f"{where}: op '{op}' needs a value")
    value = raw["value"]
    kind = FIELDS[name].kind
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{where}: op '{op}' needs a non-empty list value")
        return Leaf(name, op, tuple(value))
    if op == "contains" and kind not in ("strs", "floats"):
        raise ConditionError(f"{where}: 'contains' needs a list field, {name} is {kind}")
    if op in ("lt", "le", "gt", "ge") and kind not in ("int", "float"):
        raise ConditionError(f"{where}: '{op}' needs a number field, {name} is {kind}")
    if kind in ("int", "float") and (isinstance(value, bool) or
                                     not isinstance(value, int | float)):
        raise ConditionError(f"{where}: {name} is a number, got {value!r}")
    return Leaf(name, op, value)


def evaluate(condition: Condition, layer: RecurrentLayer) -> tuple[str, ...] | None:
    """What made the condition hold, as ``field=value`` texts for a finding; None if it fails."""
    if isinstance(condition, Leaf):
        return (condition.describe(layer),) if _leaf_holds(condition, layer) else None
    if isinstance(condition, All):
        found: list[str] = []
        for item in condition.items:
            leaves = evaluate(item, layer)
            if leaves is None:
                return None
            found.extend(leaves)
        return tuple(found)
    if isinstance(condition, Any_):
        matched = [leaves for item in condition.items
                   if (leaves := evaluate(item, layer)) is not None]
        return tuple(leaf for leaves in matched for leaf in leaves) if matched else None
    if evaluate(condition.item, layer) is not None:
        return None
    return tuple(leaf.describe(layer) for leaf in leaves_of(condition.item))


def _leaf_holds(leaf: Leaf, layer: RecurrentLayer) -> bool:
    value = field_value(layer, leaf.field)
    if leaf.op == "present":
        return value is not None
    if leaf.op == "absent":
        return value is None
    if value is None:
        return False
    other: Any = field_value(layer, leaf.ref) if leaf.ref is not None else leaf.value
    if other is None:
        return False
    if leaf.op in COMPARE_OPS:
        return _compare(leaf.op, value, other)
    if leaf.op == "in":
        return value in other
    if leaf.op == "not_in":
        return value not in other
    if leaf.op == "contains":
        return isinstance(value, tuple) and other in value
    if leaf.op == "not_prefix_of":
        return isinstance(value, tuple) and tuple(other[: len(value)]) != value
    # any_not_in
    return isinstance(value, tuple) and any(item not in other for item in value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    try:
        if op == "lt":
            return bool(left < right)
        if op == "le":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:  # a field of an unexpected type: cannot check
        return False


_SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def render(condition: Condition) -> str:
    """A condition as one line of text, for the documentation."""
    if isinstance(condition, Leaf):
        if condition.op in UNARY_OPS:
            return f"{condition.field} {condition.op}"
        right = condition.ref if condition.ref is not None else _render_value(condition.value)
        return f"{condition.field} {_SYMBOLS.get(condition.op, condition.op)} {right}"
    if isinstance(condition, All):
        return " and ".join(_wrap(item) for item in condition.items)
    if isinstance(condition, Any_):
        return " or ".join(_wrap(item) for item in condition.items)
    return f"not ({render(condition.item)})"


def _wrap(condition: Condition) -> str:
    text = render(condition)
    return f"({text})" if isinstance(condition, All | Any_) and len(condition.items) > 1 else text


def _render_value(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def leaves_of(condition: Condition) -> Sequence[Leaf]:
    if isinstance(condition, Leaf):
        return (condition,)
    if isinstance(condition, All | Any_):
        return tuple(leaf for item in condition.items for leaf in leaves_of(item))
    return leaves_of(condition.item)
