"""Deployment target profiles: data files (archlint/targets/profiles/*.toml) as frozen records.

Each profile describes one runtime (onnxruntime CPU, onnxruntime CUDA, the onnx-tensorrt
parser, OpenVINO's ONNX frontend) for a stated version range, with the source each entry was
read from. A profile is validated when it is loaded: unknown keys, fields, operators, kinds or
message placeholders are refused with the file and entry named, so a typo cannot silently turn
a check off.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archlint.contrib_ops import CONTRIB_OPS
from archlint.recurrent import INPUT_SLOTS, RECURRENT_OPS, RecurrentLayer
from archlint.targets.conditions import Condition, ConditionError, evaluate, parse_condition
from archlint.targets.fields import FIELDS, field_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "KINDS",
    "Entry",
    "EntryMatch",
    "Profile",
    "ProfileError",
    "UnknownTargetError",
    "known_targets",
    "load_profiles",
    "load_profiles_with",
    "parse_profile",
    "resolve_targets",
]

# refused: the runtime raises (session creation, Run, parse); miscomputed: it runs and is wrong;
# fallback: it runs on another device than asked; differs: it runs, with a documented difference.
KINDS = ("refused", "miscomputed", "fallback", "differs")
_PROFILE_KEYS = frozenset({"name", "runtime", "provider", "versions", "source", "fallback",
                           "fallback_cost", "summary"})
_ENTRY_KEYS = frozenset({"id", "kind", "ops", "when", "reason", "stage", "message",
                         "message_by_op", "source", "versions", "attribute", "input", "expected",
                         "help"})
_ATTRIBUTES = frozenset({"activation_alpha", "activation_beta", "activations", "clip",
                         "direction", "hidden_size", "input_forget", "layout",
                         "linear_before_reset"})
_INPUTS = frozenset(slot for slots in INPUT_SLOTS.values() for slot in slots)
# What an entry's ``ops`` may name: the ONNX ops, and contrib ops by qualified name.
_OPS = RECURRENT_OPS | frozenset(op.qualified for op in CONTRIB_OPS.values())
_REQUIRED_ENTRY_KEYS = ("id", "kind", "ops", "when", "reason", "stage", "source", "expected",
                        "help")


class ProfileError(ValueError):
    """A profile file is malformed; the message names the file and the entry."""


class UnknownTargetError(ValueError):
    """A target name that no profile describes."""

    def __init__(self, unknown: Iterable[str], known: Iterable[str]) -> None:
        self.unknown = tuple(unknown)
        self.known = tuple(known)
        names = ", ".join(repr(n) for n in self.unknown)
        noun = "target" if len(self.unknown) == 1 else "targets"
        super().__init__(f"unknown {noun} {names} (known targets: {', '.join(self.known)})")


@dataclass(frozen=True)
class Entry:
    """One thing a runtime does with a recurrent node, and the conditions under which it does."""

    id: str
    profile: str
    kind: str
    ops: frozenset[str]
    when: Condition
    reason: str
    stage: str
    message: str | None
    message_by_op: Mapping[str, str]
    source: str
    versions: str
    attribute: str | None
    input: str | None
    expected: str
    help: str

    def match(self, layer: RecurrentLayer) -> EntryMatch | None:
        if layer.node_op not in self.ops:  # LSTM, or com.microsoft.DynamicQuantizeLSTM
            return None
        evidence = evaluate(self.when, layer)
        return None if evidence is None else EntryMatch(self, layer, evidence)

    def runtime_message(self, layer: RecurrentLayer) -> str | None:
        """The runtime's own words for this node, placeholders filled from the layer's fields."""
        template = self.message_by_op.get(layer.node_op, self.message)
        if template is None:
            return None
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        return template.format(**{name: field_value(layer, name) for name in names})


@dataclass(frozen=True)
class EntryMatch:
    """An entry that holds for a layer, with the conditions that made it hold."""

    entry: Entry
    layer: RecurrentLayer
    evidence: tuple[str, ...]

    @property
    def found(self) -> str:
        """The layer's values for the fields the entry tested, e.g. ``layout=1``."""
        return ", ".join(dict.fromkeys(self.evidence)) or "-"

    @property
    def runtime_message(self) -> str | None:
        return self.entry.runtime_message(self.layer)


@dataclass(frozen=True)
class Profile:
    """One deployment target: which provider it asks for, what it refuses or moves elsewhere."""

    name: str
    runtime: str
    provider: str
    versions: str
    source: str
    summary: str
    fallback: str | None  # the target that runs what this one hands off (fallback entries)
    fallback_cost: str | None
    entries: tuple[Entry, ...]

    def matches(self, layer: RecurrentLayer, kinds: Iterable[str] = KINDS) -> list[EntryMatch]:
        wanted = set(kinds)
        return [m for e in self.entries if e.kind in wanted and (m := e.match(layer)) is not None]


def _str(raw: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}: '{key}' must be a non-empty string")
    return value


def _check_placeholders(template: str, where: str) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ProfileError(f"{where}: bad message template: {exc}") from None
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise ProfileError(f"{where}: message placeholder(s) {', '.join(unknown)} are not fields")


def _parse_entry(raw: object, profile: Mapping[str, Any], where: str) -> Entry:
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: an entry must be a table")
    where = f"{where} {raw.get('id', '?')!s}"
    extra = set(raw) - _ENTRY_KEYS
    if extra:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    missing = [k for k in _REQUIRED_ENTRY_KEYS if k not in raw]
    if missing:
        raise ProfileError(f"{where}: missing key(s) {', '.join(missing)}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "fallback" and not profile.get("fallback"):
        raise ProfileError(f"{where}: a fallback entry needs the profile's 'fallback' target")
    ops = raw["ops"]
    if not isinstance(ops, list) or not ops or not set(ops) <= _OPS:
        contrib = ", ".join(sorted(op.qualified for op in CONTRIB_OPS.values()))
        raise ProfileError(f"{where}: ops must list some of LSTM, GRU, RNN (or a contrib op: "
                           f"{contrib})")
    try:
        when = parse_condition(raw["when"], where)
    except ConditionError as exc:
        raise ProfileError(str(exc)) from None
    message = _str(raw, "message", where, required=False)
    by_op = raw.get("message_by_op", {})
    if not isinstance(by_op, Mapping) or not all(
        k in _OPS and isinstance(v, str) for k, v in by_op.items()
    ):
        raise ProfileError(f"{where}: message_by_op maps ops (LSTM/GRU/RNN, contrib ops) to "
                           "strings")
    for template in [message, *by_op.values()]:
        if template is not None:
            _check_placeholders(template, where)
    if raw.get("attribute", "layout") not in _ATTRIBUTES:
        raise ProfileError(f"{where}: attribute {raw['attribute']!r} is not a recurrent attribute")
    if raw.get("input", "X") not in _INPUTS:
        raise ProfileError(f"{where}: input {raw['input']!r} is not a recurrent input slot")
    if kind == "refused" and message is None and not by_op:
        raise ProfileError(f"{where}: a refused entry must quote the runtime's message")
    return Entry(
        id=str(_str(raw, "id", where)),
        profile=str(profile["name"]),
        kind=kind,
        ops=frozenset(ops),
        when=when,
        reason=str(_str(raw, "reason", where)),
        stage=str(_str(raw, "stage", where)),
        message=message,
        message_by_op=MappingProxyType(dict(by_op)),
        source=str(_str(raw, "source", where)),
        versions=_str(raw, "versions", where, required=False) or str(profile["versions"]),
        attribute=_str(raw, "attribute", where, required=False),
        input=_str(raw, "input", where, required=False),
        expected=str(_str(raw, "expected", where)),
        help=str(_str(raw, "help", where)),
    )


def parse_profile(text: str, filename: str) -> Profile:
    """Parse and validate one profile file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{filename}: not valid TOML: {exc}") from None
    head = data.get("profile")
    if not isinstance(head, Mapping):
        raise ProfileError(f"{filename}: needs a [profile] table")
    extra = (set(data) - {"profile", "entry"}) | (set(head) - _PROFILE_KEYS)
    if extra:
        raise ProfileError(f"{filename}: unknown key(s) {', '.join(sorted(extra))}")
    for key in ("name", "runtime", "provider", "versions", "source", "summary"):
        _str(head, key, f"{filename} [profile]")
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ProfileError(f"{filename}: needs at least one [[entry]]")
    entries = tuple(_parse_entry(raw, head, f"{filename} entry") for raw in raw_entries)
    return Profile(
        name=head["name"],
        runtime=head["runtime"],
        provider=head["provider"],
        versions=head["versions"],
        source=head["source"],
        summary=head["summary"],
        fallback=_str(head, "fallback", filename, required=False),
        fallback_cost=_str(head, "fallback_cost", filename, required=False),
        entries=entries,
    )


def validate_profiles(profiles: Iterable[Profile]) -> Mapping[str, Profile]:
    """Check what no single file can: unique names and ids, fallbacks that exist, no cycles."""
    by_name: dict[str, Profile] = {}
    ids: set[str] = set()
    for profile in profiles:
        if profile.name in by_name:
            raise ProfileError(f"two profiles are named {profile.name!r}")
        by_name[profile.name] = profile
        for entry in profile.entries:
            if entry.id in ids:
                raise ProfileError(f"entry id {entry.id!r} is used twice")
            ids.add(entry.id)
    for profile in by_name.values():
        seen = [profile.name]
        step = profile.fallback
        while step is not None:
            if step not in by_name:
                raise ProfileError(f"{profile.name}: fallback target {step!r} has no profile")
            if step in seen:
                raise ProfileError(f"{profile.name}: fallback cycle {' -> '.join([*seen, step])}")
            seen.append(step)
            step = by_name[step].fallback
    return MappingProxyType(dict(sorted(by_name.items())))


@lru_cache(maxsize=1)
def load_profiles() -> Mapping[str, Profile]:
    """Every profile shipped in archlint/targets/profiles, by target name (read once)."""
    folder = resources.files("archlint.targets").joinpath("profiles")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")),
                   key=lambda f: f.name)
    return validate_profiles(parse_profile(f.read_text(encoding="utf-8"), f"profiles/{f.name}")
                             for f in files)


def load_profiles_with(folder: str | Path | None) -> Mapping[str, Profile]:
    """The built-in profiles, where each ``*.toml`` in ``folder`` replaces the built-in profile
    of the same name (or adds a target). The files are validated like the built-in ones; a
    ProfileError names the file and the entry. ``None`` gives the built-in profiles."""
    builtin = load_profiles()
    if folder is None:
        return builtin
    path = Path(folder)
    if not path.is_dir():
        raise ProfileError(f"{folder}: profiles: not a folder")
    files = sorted(path.glob("*.toml"))
    if not files:
        raise ProfileError(f"{folder}: profiles: no *.toml profile file in the folder")
    own: dict[str, tuple[Profile, Path]] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{file}: cannot read: {exc}") from None
        profile = parse_profile(text, str(file))
        if profile.name in own:
            raise ProfileError(f"{file}: profile {profile.name!r} is also defined in "
                               f"{own[profile.name][1]}")
        own[profile.name] = (profile, file)
    kept = [p for p in builtin.values() if p.name not in own]
    ids = {e.id: p.name for p in kept for e in p.entries}
    for profile, file in own.values():
        for entry in profile.entries:
            if ids.setdefault(entry.id, profile.name) != profile.name:
                raise ProfileError(f"{file} entry {entry.id}: the id is also used by profile "
                                   f"{ids[entry.id]!r}")
    try:
        return validate_profiles([*kept, *(p for p, _ in own.values())])
    except ProfileError as exc:
        raise ProfileError(f"{folder}: {exc}") from None


def known_targets() -> tuple[str, ...]:
    return tuple(load_profiles())


def resolve_targets(names: Iterable[str]) -> tuple[Profile, ...]:
    """Profiles for the given names, in order, without repeats; UnknownTargetError otherwise."""
    profiles = load_profiles()
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in profiles]
    if unknown:
        raise UnknownTargetError(unknown, profiles)
    return tuple(profiles[n] for n in wanted)
