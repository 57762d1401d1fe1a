"""``[tool.archlint]`` in pyproject.toml, or archlint.toml: found, parsed, validated.

The config is found like ruff finds its own: from the models' folder upwards, the first folder
holding an ``archlint.toml`` (any content) or a ``pyproject.toml`` with a ``[tool.archlint]``
table wins; ``--config FILE`` skips the search. Paths inside the config (per-path-ignores) are
relative to the config file's folder, so a lint behaves the same from any subfolder.

Every key is validated here, once: an unknown key or a bad value is a :class:`ConfigError`
whose text is one line naming the file and the key. Values left out are ``None`` (or empty),
meaning "the command's own default", so command-line options can be layered on top
(:func:`lint_settings`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from archlint.api import Severity
from archlint.runtime.settings import RuntimeSettings, SettingsError
from archlint.small_files import MAX_TEXT_FILE_BYTES, UnreadableFile, parse_guard, read_text_file

__all__ = [
    "CONFIG_FILES",
    "FAIL_ON_CHOICES",
    "Config",
    "ConfigError",
    "LintSettings",
    "ParamsConfig",
    "RuntimeConfig",
    "find_config",
    "lint_settings",
    "load_config",
    "parse_config",
]

CONFIG_FILES = ("archlint.toml", "pyproject.toml")  # in this order within one folder
FAIL_ON_CHOICES = ("error", "warning", "info", "never")
# Each section's values are the owner's: the known targets are the profiles'
# (archlint/targets/profiles), the conventions are archlint.params' (imported only by a config
# with a [params] table: a lint needs no parameter counting), and [runtime] is validated by
# RuntimeSettings, so a config that parses always gives a usable setting.


class ConfigError(Exception):
    """A config that cannot be used. ``str()`` is one line: file, key, what is wrong."""

    def __init__(self, path: Path | str, key: str | None, reason: str) -> None:
        where = f"{path}: " + (f"{key}: " if key else "")
        super().__init__(where + reason)
        self.path = str(path)
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class ParamsConfig:
    """``[tool.archlint.params]``: parameter budgets for ``archlint params`` and AL4xx rules."""

    max_params: int | None = None
    max_layer_params: int | None = None
    layer_limits: dict[str, int] = field(default_factory=dict)  # node-name glob -> max params
    expect_params: int | None = None
    convention: str | None = None  # "onnx" | "pytorch" | "keras"


@dataclass(frozen=True)
class RuntimeConfig:
    """``[tool.archlint.runtime]``: defaults for the runtime check (onnxruntime sessions)."""

    providers: tuple[str, ...] = ()
    dims: dict[str, int] = field(default_factory=dict)  # symbolic dim name -> size
    rtol: float | None = None
    atol: float | None = None
    timeout: float | None = None  # seconds
    seed: int | None = None
    profiles: Path | None = None  # a folder of target profiles replacing the built-in ones
    sweep: bool | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> literal or .npy path
    inputs_file: Path | None = None  # an .npz, relative to the config's folder

    def settings(self) -> RuntimeSettings:
        """These values over the runtime check's defaults (validated when the config was)."""
        values: dict[str, object] = {
            key: value for key, value in (
                ("providers", self.providers), ("dims", self.dims), ("rtol", self.rtol),
                ("atol", self.atol), ("timeout", self.timeout), ("seed", self.seed),
                ("profiles", str(self.profiles) if self.profiles else None),
                ("sweep", self.sweep), ("inputs", self.inputs),
                ("inputs_file", str(self.inputs_file) if self.inputs_file else None),
            ) if value not in (None, (), {})
        }
        settings = RuntimeSettings.from_mapping(values)
        return settings.replace(dims_from_config=frozenset(settings.dims)) if self.dims \
            else settings


@dataclass(frozen=True)
class Config:
    """The whole ``[tool.archlint]`` table. ``path`` is None when no config file was found."""

    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    fail_on: str | None = None
    severity: dict[str, Severity] = field(default_factory=dict)
    per_path_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    per_node_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    params: ParamsConfig = field(default_factory=ParamsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    exclude: tuple[str, ...] | None = None  # None: archlint.discovery.DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool | None = None

    @property
    def root(self) -> Path | None:
        """The folder per-path-ignores globs are relative to (the config file's folder)."""
        return self.path.parent if self.path is not None else None


# --- finding and reading ---------------------------------------------------------------------


def find_config(paths: Sequence[str | Path]) -> Path | None:
    """The config governing these paths: searched upwards from their deepest common folder."""
    if not paths:
        start = Path.cwd()
    else:
        folders = [_folder_of(_resolved(Path(p))) for p in paths]
        start = _common_folder(folders)
    for folder in (start, *start.parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or _has_archlint_table(candidate)):
                return candidate
    return None


def _resolved(path: Path) -> Path:
    """The real path; a symlink loop (which the loader reports) stays as written, absolute."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))  # noqa: PTH100 (resolve() is what failed)


def _folder_of(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _common_folder(folders: Sequence[Path]) -> Path:
    common = folders[0]
    for folder in folders[1:]:
        while common != folder and common not in folder.parents:
            common = common.parent
    return common


def _has_archlint_table(pyproject: Path) -> bool:
    try:
        data = _read_toml(pyproject)
    except ConfigError:
        # A broken pyproject.toml that is not ours is not our business; one that may hold
        # [tool.archlint] is: linting with defaults would silently drop its settings.
        if _mentions_archlint(pyproject):
            raise
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "archlint" in tool


def _mentions_archlint(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"archlint" in handle.read(MAX_TEXT_FILE_BYTES)
    except OSError:
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; a FIFO, a device, a binary or huge file, invalid UTF-8, invalid TOML,
    nesting deeper than Python recurses or an integer of 100,000 digits: one ConfigError."""
    if sys.version_info >= (3, 11):  # imported here: most lints find no config file
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        text = read_text_file(path)
        with parse_guard():
            data: dict[str, Any] = tomllib.loads(text)
            return data
    except UnreadableFile as exc:
        raise ConfigError(path, None, str(exc)) from None
    except ValueError as exc:  # TOMLDecodeError, or int()'s digit limit
        raise ConfigError(path, None, f"invalid TOML: {str(exc).splitlines()[0][:200]}") from None


def load_config(paths: Sequence[str | Path], explicit: str | Path | None = None) -> Config:
    """The validated config for linting ``paths``; ``explicit`` (``--config``) skips the search.

    No config file found gives the defaults, ``Config()``.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.exists():
            raise ConfigError(path, None, "config file not found")
    else:
        found = find_config(paths)
        if found is None:
            return Config()
        path = found
    path = path.resolve()
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("archlint") if isinstance(tool, dict) else None
        if table is None:
            if explicit is not None:
                raise ConfigError(path, None, "has no [tool.archlint] table")
            return Config(path=path)
        prefix = "tool.archlint"
    else:
        table, prefix = data, ""
    if not isinstance(table, dict):
        raise ConfigError(path, prefix, "must be a table")
    return parse_config(table, path, prefix)


# --- validation -------------------------------------------------------------------------------

T = TypeVar("T")

_TOP_KEYS = frozenset({
    "select", "ignore", "extend-select", "fail-on", "severity", "per-path-ignores",
    "per-node-ignores", "targets", "params", "runtime", "exclude", "extend-exclude",
    "respect-gitignore",
})
_PARAMS_KEYS = frozenset({
    "max-params", "max-layer-params", "layer-limits", "expect-params", "convention",
})
_RUNTIME_KEYS = frozenset({"providers", "dims", "rtol", "atol", "timeout", "seed", "profiles",
                           "sweep", "inputs", "inputs-file"})


class _Reader:
    """Typed access to one table, every error naming the file and the dotted key."""

    def __init__(self, table: Mapping[str, Any], path: Path, prefix: str,
                 known: frozenset[str]) -> None:
        self.table, self.path, self.prefix = table, path, prefix
        for key in table:
            if key not in known:
                hint = ""
                if key.replace("_", "-") in known:
                    hint = f" (did you mean '{key.replace('_', '-')}'?)"
                raise ConfigError(path, self.key(key), f"unknown key{hint}; known keys: "
                                  + ", ".join(sorted(known)))

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.path, self.key(name), reason)

    def get(self, name: str, check: Callable[[str, Any], T]) -> T | None:
        if name not in self.table:
            return None
        return check(name, self.table[name])

    # checks: (key, raw value) -> typed value, or ConfigError

    def codes(self, name: str, value: Any) -> tuple[str, ...]:
        items = self.strings(name, value)
        bad = [code for code in items if not _is_code_prefix(code)]
        if bad:
            raise self.fail(name, f"{bad[0]!r} is not a rule code or prefix (like 'AL2' or "
                            "'AL201', or 'ALL')")
        return tuple(code.upper() for code in items)

    def strings(self, name: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list) or not all(
            isinstance(v, str) for v in value
        ):
            raise self.fail(name, f"must be a list of strings, got {_show(value)}")
        return tuple(value)

    def choice(self, choices: Sequence[str]) -> Callable[[str, Any], str]:
        def check(name: str, value: Any) -> str:
            if not isinstance(value, str) or value.lower() not in choices:
                raise self.fail(name, f"must be one of {', '.join(choices)}; got {_show(value)}")
            return value.lower()

        return check

    def integer(self, minimum: int = 0) -> Callable[[str, Any], int]:
        def check(name: str, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise self.fail(name, f"must be an integer >= {minimum}, got {_show(value)}")
            return value

        return check

    def int_table(self, name: str, label: Callable[[str], str]) -> dict[str, int]:
        """A table of integers >= 1 (``dims``, ``layer-limits``); each key named in errors."""
        raw = self.get(name, self.table_of) or {}
        return {key: self.integer(1)(f"{name}.{label(key)}", value) for key, value in raw.items()}

    def boolean(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {_show(value)}")
        return value

    def number(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(name, f"must be a number >= 0, got {_show(value)}")
        return float(value)

    def table_of(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table, got {_show(value)}")
        return value


def _show(value: Any) -> str:
    kind = {str: "string", bool: "boolean", int: "integer", float: "number", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if not isinstance(value, dict) else "a table"


def _is_code_prefix(code: str) -> bool:
    upper = code.upper()
    return upper == "ALL" or (upper[:1].isalpha() and upper.isalnum() and len(upper) <= 12)


def parse_config(table: Mapping[str, Any], path: Path, prefix: str = "tool.archlint") -> Config:
    """Validate a ``[tool.archlint]`` table (already parsed TOML) into a :class:`Config`."""
    top = _Reader(table, path, prefix, _TOP_KEYS)
    severity: dict[str, Severity] = {}
    for code, value in (top.get("severity", top.table_of) or {}).items():
        key = f"severity.{code}"
        if not _is_code_prefix(code) or code.upper() == "ALL":
            raise top.fail(key, "is not a rule code")
        if not isinstance(value, str) or value.lower() not in {s.value for s in Severity}:
            raise top.fail(key, f"must be one of error, warning, info; got {_show(value)}")
        severity[code.upper()] = Severity.parse(value)
    targets = top.get("targets", top.strings) or ()
    if targets:
        from archlint.targets.profile import known_targets

        known = known_targets()
        for target in targets:
            if target not in known:
                raise top.fail("targets",
                               f"unknown target {target!r}; known: {', '.join(known)}")
    return Config(
        path=path,
        select=top.get("select", top.codes),
        ignore=top.get("ignore", top.codes) or (),
        extend_select=top.get("extend-select", top.codes) or (),
        fail_on=top.get("fail-on", top.choice(FAIL_ON_CHOICES)),
        severity=severity,
        per_path_ignores=_glob_table(top, "per-path-ignores"),
        per_node_ignores=_glob_table(top, "per-node-ignores"),
        targets=tuple(targets),
        exclude=top.get("exclude", top.strings),
        extend_exclude=top.get("extend-exclude", top.strings) or (),
        respect_gitignore=top.get("respect-gitignore", top.boolean),
        params=_parse_params(top),
        runtime=_parse_runtime(top),
    )


def _glob_table(top: _Reader, name: str) -> dict[str, tuple[str, ...]]:
    raw = top.get(name, top.table_of) or {}
    return {glob: top.codes(f"{name}.{glob!r}", codes) for glob, codes in raw.items()}


def _parse_params(top: _Reader) -> ParamsConfig:
    raw = top.get("params", top.table_of)
    if raw is None:
        return ParamsConfig()
    from archlint.params_types import Convention

    r = _Reader(raw, top.path, top.key("params"), _PARAMS_KEYS)
    limits = r.int_table("layer-limits", repr)
    return ParamsConfig(
        max_params=r.get("max-params", r.integer(1)),
        max_layer_params=r.get("max-layer-params", r.integer(1)),
        layer_limits=limits,
        expect_params=r.get("expect-params", r.integer(0)),
        convention=r.get("convention", r.choice(tuple(c.value for c in Convention))),
    )


def _parse_runtime(top: _Reader) -> RuntimeConfig:
    raw = top.get("runtime", top.table_of)
    if raw is None:
        return RuntimeConfig()
    r = _Reader(raw, top.path, top.key("runtime"), _RUNTIME_KEYS)
    dims = r.int_table("dims", str)
    timeout = r.get("timeout", r.number)
    if timeout is not None and timeout <= 0:
        raise r.fail("timeout", f"must be a number of seconds > 0, got {timeout!r}")
    runtime = RuntimeConfig(
        providers=r.get("providers", r.strings) or (),
        dims=dims,
        rtol=r.get("rtol", r.number),
        atol=r.get("atol", r.number),
        timeout=timeout,
        seed=r.get("seed", r.integer(0)),
        profiles=_profiles_folder(r),
        sweep=r.get("sweep", _boolean(r)),
        inputs=r.get("inputs", _input_values(r)) or {},
        inputs_file=r.get("inputs-file", _relative_file(r)),
    )
    try:  # the owner's own checks, once, here: a parsed config always runs
        runtime.settings()
    except SettingsError as exc:
        raise ConfigError(top.path, top.key("runtime"), str(exc)) from exc
    return runtime


def _boolean(r: _Reader) -> Callable[[str, Any], bool]:
    def check(name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise r.fail(name, f"must be true or false, got {_show(value)}")
        return value

    return check


def _input_values(r: _Reader) -> Callable[[str, Any], dict[str, str]]:
    """``runtime.inputs = {sr = 16000, x = "x.npy"}``: a literal or a .npy path (relative to
    the config's folder) per input."""
    def check(name: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise r.fail(name, f"must be a table such as {{sr = 16000}}, got {_show(value)}")
        found: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str) and item.lower().endswith(".npy"):
                found[key] = str(r.path.parent / item)
            elif isinstance(item, bool) or not isinstance(item, int | float | list):
                raise r.fail(f"{name}.{key}", "must be a number, a list of numbers or a .npy "
                             f"path, got {_show(item)}")
            else:
                found[key] = repr(item)
        return found

    return check


def _relative_file(r: _Reader) -> Callable[[str, Any], Path]:
    def check(name: str, value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise r.fail(name, f"must be a file path (a string), got {_show(value)}")
        return r.path.parent / value

    return check


def _profiles_folder(r: _Reader) -> Path | None:
    """``runtime.profiles``: a folder, relative to the config file's folder."""
    def check(name: str, value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise r.fail(name, f"must be a folder path (a string), got {_show(value)}")
        return r.path.parent / value

    return r.get("profiles", check)


# --- command line on top of the config -------------------------------------------------------


@dataclass(frozen=True)
class LintSettings:
    """What ``archlint lint`` runs with, after command-line options are laid over the config."""

    select: tuple[str, ...]
    ignore: tuple[str, ...]
    fail_on: str
    severity: dict[str, Severity]
    config: Config


def lint_settings(
    config: Config,
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    fail_on: str | None = None,
) -> LintSettings:
    """Merge options into the config, as ruff does: ``--select`` replaces the config's select,
    ``--ignore`` and ``--extend-select`` add to the config's, ``--fail-on`` replaces."""
    chosen = tuple(select) or config.select or ("ALL",)
    return LintSettings(
        select=chosen + config.extend_select + tuple(extend_select),
        ignore=config.ignore + tuple(ignore),
        fail_on=fail_on or config.fail_on or "error",
        severity=dict(config.severity),
        config=config,
    )
