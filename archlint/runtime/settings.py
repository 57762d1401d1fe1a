"""RuntimeSettings: everything a runtime check is told, frozen.

The fields providers, dims, rtol, atol, timeout and seed mirror the ``[tool.archlint.runtime]``
configuration section, so a config loader can build one with ``RuntimeSettings.from_mapping``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SETTINGS", "RuntimeSettings", "SettingsError", "parse_dims", "parse_inputs"]


# A week: longer is a typo (or 1e300, which overflows the clock arithmetic of a timeout).
MAX_TIMEOUT_S = 7 * 24 * 3600.0
# A dimension onnxruntime can hold (int64) and numpy can be asked about without overflow;
# whether the inputs fit in memory is checked when they are drawn (runtime/inputs.py).
MAX_DIM = 2**31 - 1


class SettingsError(ValueError):
    """A runtime setting with a wrong value; ``str()`` is one line for the user."""


@dataclass(frozen=True)
class RuntimeSettings:
    """How to run a model.

    ``providers`` are short names (cpu, cuda, tensorrt, rocm, openvino, dml, coreml) or full
    onnxruntime names, in priority order. ``dims`` binds symbolic dimensions (``batch``,
    ``seq`` also name every dimension in that role). ``rtol``/``atol`` are the tolerances of
    every numeric comparison (``|a - b| <= atol + rtol * |b|``). ``timeout`` is seconds for the
    whole child process of one model. ``runs`` is how many timed runs follow the first, at
    most: they stop after a second of them, and a first run of a second or more is the
    only one (archlint/runtime/worker.py's TIMED_RUNS_BUDGET_S).
    ``profiles`` is a folder of target profile files (``*.toml``) that replace the built-in
    profiles of the same name when the observed placement is compared with the prediction.
    ``sweep`` runs the model again with each group of tied dims the user did not fix at a
    second size (batch 2 -> 3, seq 5 -> 7, others v -> v + 2), one group at a time.
    ``inputs`` gives inputs' values (a literal or a ``.npy`` path) and ``inputs_file`` an
    ``.npz`` of them: given values are fed as they are and fix the dims of their shapes.
    """

    providers: tuple[str, ...] = ("cpu",)
    dims: Mapping[str, int] = field(default_factory=dict)
    rtol: float = 1e-3
    atol: float = 1e-3
    timeout: float = 120.0
    seed: int = 0
    compare: str | None = None
    compare_model: str | None = None
    runs: int = 5
    reference: bool = True
    profiles: str | None = None
    sweep: bool = True
    # input name -> a literal ("16000", "[1, 2]") or a .npy path; and an .npz of many
    inputs: Mapping[str, str] = field(default_factory=dict)
    inputs_file: str | None = None
    # the dims that the config file gave (not the command line): how a binding labels them
    dims_from_config: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.providers:
            raise SettingsError("providers: name at least one execution provider")
        if any(v < 0 for v in self.dims.values()):
            raise SettingsError("dims: a dimension cannot be negative")
        if any(v > MAX_DIM for v in self.dims.values()):
            raise SettingsError(f"dims: a dimension cannot exceed {MAX_DIM:,}")
        for key in ("rtol", "atol"):  # NaN would make every comparison pass
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise SettingsError(f"{key} must be a finite number >= 0, got {value!r}")
        if not math.isfinite(self.timeout) or not 0 < self.timeout <= MAX_TIMEOUT_S:
            raise SettingsError(f"timeout must be > 0 and at most {MAX_TIMEOUT_S:g} seconds, "
                                f"got {self.timeout!r}")
        if self.runs < 1:
            raise SettingsError("runs must be >= 1")
        # A plain dict inside a frozen dataclass could still be mutated by a caller.
        object.__setattr__(self, "dims", dict(sorted(self.dims.items())))
        object.__setattr__(self, "inputs", dict(self.inputs))

    def replace(self, **changes: object) -> RuntimeSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> RuntimeSettings:
        """Build from a config table (``[tool.archlint.runtime]``); unknown keys are errors."""
        known = {f.name for f in dataclasses.fields(cls)} - {"dims_from_config"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown runtime setting(s): {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(known))})")
        kwargs: dict[str, object] = {}
        for key, value in values.items():
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)  # type: ignore[arg-type]


def _coerce(key: str, value: object) -> object:
    if key == "providers":
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise SettingsError("providers must be a list of provider names")
    if key == "dims":
        if isinstance(value, Mapping):
            return parse_dims(f"{k}={v}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return parse_dims(str(v) for v in value)
        raise SettingsError("dims must be a table such as {batch = 4, seq = 32}")
    if key in ("rtol", "atol", "timeout"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{key} must be a number, got {value!r}")
        return float(value)
    if key in ("seed", "runs"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{key} must be an integer, got {value!r}")
        return value
    if key == "inputs":
        if isinstance(value, Mapping):
            return {str(k): v if isinstance(v, str) else repr(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return parse_inputs(str(v) for v in value)
        raise SettingsError("inputs must be a table such as {sr = 16000}")
    if key in ("reference", "sweep"):
        if not isinstance(value, bool):
            raise SettingsError(f"{key} must be true or false, got {value!r}")
        return value
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{key} must be a string")
    return value


def parse_dims(items: Iterable[str]) -> dict[str, int]:
    """``["batch=4", "seq=32"]`` -> ``{"batch": 4, "seq": 32}``; one-line errors."""
    dims: dict[str, int] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SettingsError(f"--dim {item!r}: expected NAME=VALUE, such as batch=4")
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingsError(f"--dim {item!r}: {raw.strip()!r} is not an integer") from None
        if value < 0:
            raise SettingsError(f"--dim {item!r}: a dimension cannot be negative")
        if value > MAX_DIM:
            raise SettingsError(f"--dim {item!r}: a dimension cannot exceed {MAX_DIM:,}")
        dims[name] = value
    return dims


def parse_inputs(items: Iterable[str]) -> dict[str, str]:
    """``["sr=16000", "x=x.npy"]`` -> ``{"sr": "16000", "x": "x.npy"}``; one-line errors."""
    inputs: dict[str, str] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip() or not raw.strip():
            raise SettingsError(f"--input {item!r}: expected NAME=VALUE or NAME=FILE.npy, "
                                "such as sr=16000")
        inputs[name.strip()] = raw.strip()
    return inputs


DEFAULT_SETTINGS = RuntimeSettings()
