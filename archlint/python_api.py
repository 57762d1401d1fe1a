"""The Python API for scripts and notebooks: ``archlint.lint`` and ``archlint.params``.

Thin, like the CLI: it calls the same use cases (:mod:`archlint.app`), so a script finds exactly
what ``archlint lint`` finds with the same config (docs/python-api.md).
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

from archlint import app
from archlint.config import Config
from archlint.params import Convention, ParamsReport

if TYPE_CHECKING:
    from archlint.fixes import FixResult
    from archlint.report import Report
    from archlint.runtime.settings import RuntimeSettings

__all__ = ["ParamsResult", "fix", "lint", "params"]

PathLike = str | os.PathLike[str]
ModelInput = PathLike | onnx.ModelProto | Sequence[PathLike]


def _paths(model: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(model, str | os.PathLike):
        return [os.fspath(model)]
    return [os.fspath(m) for m in model]


def _config(config: Config | PathLike | None, search_from: Sequence[str | Path]) -> Config:
    if isinstance(config, Config):
        return config
    return app.read_config(search_from, os.fspath(config) if config is not None else None)


def lint(
    model: ModelInput,
    config: Config | PathLike | None = None,
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    targets: Sequence[str] = (),
    fail_on: str | None = None,
    baseline: PathLike | None = None,
    runtime: bool | RuntimeSettings = False,
    name: str | None = None,
    jobs: int = 1,
) -> Report:
    """Lint a model file, folder, list of them, or an ``onnx.ModelProto`` in memory.

    ``config`` is a config file (archlint.toml or pyproject.toml) or a ``Config``; None finds
    it as ``archlint lint`` does, upwards from the models (for a ModelProto: from ``name``,
    which also names it in findings, default ``model.onnx`` in the working directory).
    ``select``/``ignore``/``targets``/``fail_on`` are laid over the config as on the command
    line. ``runtime=True`` also runs each model in onnxruntime (needs ``archlint[runtime]``).
    Usage errors (a bad config key, an unknown code) raise ``archlint.app.AppError``.
    """
    options: dict[str, Any] = {
        "select": select, "ignore": ignore, "extend_select": extend_select, "targets": targets,
        "fail_on": fail_on, "runtime": runtime,
        "baseline": Path(baseline) if baseline is not None else None,
    }
    if isinstance(model, onnx.ModelProto):
        shown = name or "model.onnx"
        found = _config(config, [Path(shown).absolute().parent])
        report, _ = app.lint_proto(model, shown, config=found, **options)
        return report
    paths = _paths(model)
    report, _ = app.lint(paths, config=_config(config, paths), jobs=jobs, **options)
    return report


def fix(
    model: PathLike | onnx.ModelProto,
    output: PathLike | None = None,
    *,
    config: Config | PathLike | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    unsafe_fixes: bool = False,
    in_place: bool = False,
    runtime: bool = True,
    dims: Mapping[str, int] | None = None,
    name: str | None = None,
) -> FixResult:
    """Fix a copy of a model file or ``onnx.ModelProto`` as ``archlint fix`` does.

    Returns a :class:`~archlint.fixes.FixResult`: ``model`` (the fixed ModelProto; the input is
    never modified), ``applied`` (code, node, safety, description per fix), the findings
    before and after, the onnxruntime comparison and ``problems`` (empty when every check
    held). ``output`` writes the fixed model there when verified (through a temporary file);
    ``unsafe_fixes`` allows the fixes that change outputs (docs/fix.md).
    """
    if isinstance(model, onnx.ModelProto):
        shown = name or "model.onnx"
        found = _config(config, [Path(shown).absolute().parent])
        source: str | onnx.ModelProto = model
    else:
        shown = name or os.fspath(model)
        found = _config(config, [Path(os.fspath(model)).absolute().parent])
        source = os.fspath(model)
    return app.fix(source, output=os.fspath(output) if output is not None else None,
                   name=shown, config=found, select=select, ignore=ignore,
                   unsafe=unsafe_fixes, in_place=in_place, check_runtime=runtime, dims=dims)


@dataclass(frozen=True)
class ParamsResult(ParamsReport):
    """A ParamsReport that converts to a dict / JSON and shows as a table in a notebook."""

    def to_dict(self, summary: bool = False) -> dict[str, Any]:
        from archlint.reporters.params_report import to_dict

        return to_dict(self, summary)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def _repr_markdown_(self) -> str:
        from archlint.reporters.params_report import render_markdown

        return render_markdown(self)


def params(
    model: PathLike | Sequence[PathLike],
    config: Config | PathLike | None = None,
    *,
    max_params: int | None = None,
    max_layer_params: int | None = None,
    layer_limits: Mapping[str, int] | None = None,
    expect_params: int | None = None,
    convention: Convention | str | None = None,
    dims: Mapping[str, int] | None = None,
) -> ParamsResult:
    """Count parameters per layer (and check budgets) as ``archlint params`` does; budgets
    left None come from the config's ``[params]`` table. ``dims`` (``{"seq": 100, "batch":
    8}``) gives each row's ``macs`` for one pass at those sizes."""
    paths = _paths(model)
    report = app.params(paths, config=_config(config, paths), max_params=max_params,
                        max_layer_params=max_layer_params, layer_limits=layer_limits,
                        expect_params=expect_params, convention=convention, dims=dims)
    return ParamsResult(**{f.name: getattr(report, f.name) for f in fields(ParamsReport)})


class _CallableModule(types.ModuleType):
    """``archlint.params`` is both the counting module and the documented function: importing
    a submodule sets the package attribute to the module, so the module itself is made
    callable (it calls :func:`params`) rather than renaming a module other code imports."""

    def __call__(self, *args: Any, **kwargs: Any) -> ParamsResult:
        return params(*args, **kwargs)


sys.modules["archlint.params"].__class__ = _CallableModule
