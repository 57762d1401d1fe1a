"""The application layer: the use cases every front end calls (lint, params, run).

The CLI, the pytest plugin and the Python API (``archlint.lint``) all go through here, so the
sequence config -> settings -> rule selection -> lint -> the one filter (suppressions, severity
overrides, baseline) -> fail-on is written once. Errors a user can fix are :class:`AppError`
(one line); this module never imports click or pytest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archlint.api import Finding, Severity
from archlint.config import Config, ConfigError, lint_settings, load_config
from archlint.discovery import DEFAULT_EXCLUDES, Discovery
from archlint.engine import Linter, no_cyclic_gc
from archlint.exit_codes import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from archlint.graph import indexed
from archlint.layers import build_layers, unseen_recurrent
from archlint.loader import INVALID_UTF8, LoadError, discover_models, load_model, load_proto
from archlint.registry import RegistryError, RuleSet, load_rules, select_rules, unknown_prefixes
from archlint.report import ModelReport, Report
from archlint.runtime.settings import RuntimeSettings, SettingsError, parse_dims, parse_inputs
from archlint.suppress import Baseline, BaselineError, Suppressions

if TYPE_CHECKING:
    from onnx import ModelProto

    from archlint.drawing.pictures import ModelPictures
    from archlint.drawing.stack import Drawing
    from archlint.fixes import FixResult
    from archlint.params import Convention, ModelParams, ParamsReport

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "AppError",
    "LintPlan",
    "RunOptions",
    "Setting",
    "count_paths",
    "discover",
    "discovery",
    "draw",
    "effective_settings",
    "exit_code",
    "failing",
    "fix",
    "lint",
    "lint_proto",
    "not_run",
    "params",
    "parse_layer_limits",
    "pictures",
    "plan_lint",
    "read_config",
    "rules",
    "run",
    "runtime_settings",
]


class AppError(Exception):
    """Something the user can fix (a config key, an unknown code, a missing file): one line."""


# --- shared steps ----------------------------------------------------------------------------


def rules() -> RuleSet:
    """Every installed rule (core, built-in pack and plugins)."""
    try:
        return load_rules()
    except RegistryError as exc:
        raise AppError(str(exc)) from exc


def read_config(paths: Sequence[str | Path], config_path: str | Path | None = None) -> Config:
    """The config governing ``paths`` (searched upwards), or ``config_path``."""
    try:
        return load_config(list(paths), config_path)
    except ConfigError as exc:
        raise AppError(str(exc)) from exc


def discovery(
    config: Config,
    *,
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    respect_gitignore: bool | None = None,
) -> Discovery:
    """How folders are walked: options over the config over the defaults, key by key
    (``extend-exclude`` from both adds up, as in ruff)."""
    base = config.exclude if config.exclude is not None else DEFAULT_EXCLUDES
    git = respect_gitignore if respect_gitignore is not None else config.respect_gitignore
    return Discovery(
        exclude=tuple(exclude) if exclude else base,
        extend_exclude=(*config.extend_exclude, *extend_exclude),
        respect_gitignore=git if git is not None else True,
        root=config.root,  # patterns with "/" are relative to the config's folder, else cwd
    )


def discover(paths: Sequence[str], walk: Discovery | None = None) -> list[tuple[str, Path]]:
    """(display path, path) of every model named or found under ``paths`` (none: ``.``);
    LoadError if a path is missing or a folder holds no model. The one place models are
    discovered."""
    return list(discover_models(list(paths) or ["."], walk))


def not_run(linter: Linter) -> tuple[tuple[str, str], ...]:
    """(code, why) of every selected rule this lint does not run."""
    skipped = []
    for rule in linter.rule_classes:
        if rule.runtime and linter.runtime is None:
            skipped.append((rule.code, "runtime rule: the model was not run (lint --runtime, "
                            "or archlint run)"))
        missing = sorted(key for key in rule.requires_options if not linter.options.get(key))
        if missing:
            skipped.append((rule.code, f"needs {', '.join(missing)} (--target NAME, or "
                            "targets in the config)"))
    return tuple(skipped)


def failing(findings: Sequence[Finding], fail_on: str) -> bool:
    """Whether any finding reaches ``fail_on`` (error, warning, info; never: none does)."""
    if fail_on == "never":
        return False
    threshold = Severity.parse(fail_on).rank
    return any(f.severity.rank >= threshold for f in findings)


def exit_code(report: Report, fail_on: str, exit_zero: bool = False) -> int:
    """0 clean, 1 a finding reaches fail-on, 2 a model could not be read."""
    if report.errors:
        return EXIT_USAGE
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if failing(report.findings, fail_on) else EXIT_CLEAN


# --- lint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintPlan:
    """A validated lint: the linter (rules, options, the one filter) and its fail-on."""

    linter: Linter
    fail_on: str
    config: Config

    def fails(self, report: Report | ModelReport) -> bool:
        return failing(report.findings, self.fail_on)


def plan_lint(
    config: Config,
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    fail_on: str | None = None,
    targets: Sequence[str] = (),
    baseline: Path | None = None,
    runtime: bool | RuntimeSettings = False,
    ruleset: RuleSet | None = None,
) -> LintPlan:
    """Lay the options over the config, check every code and target, build the linter.

    ``runtime`` True runs each model in onnxruntime with the config's ``[runtime]`` settings
    (a RuntimeSettings gives them explicitly); its findings pass the same filter.
    """
    ruleset = ruleset or rules()
    settings = lint_settings(config, select=_codes(select), ignore=_codes(ignore),
                             extend_select=_codes(extend_select), fail_on=fail_on)
    _check_codes(ruleset, config, settings.select, settings.ignore, list(settings.severity))
    selected = select_rules(ruleset.rules, settings.select, settings.ignore)
    accepted = None
    if baseline is not None:
        try:
            accepted = Baseline.read(baseline)
        except BaselineError as exc:
            raise AppError(str(exc)) from exc
    runtime_with: RuntimeSettings | None = None
    if isinstance(runtime, RuntimeSettings):
        runtime_with = runtime
    elif runtime:
        runtime_with = runtime_settings(config)
    if runtime_with is not None:
        _preflight(runtime_with)
    linter = Linter(selected, settings.severity,
                    suppressions=Suppressions.from_config(config, accepted),
                    options=_target_options(tuple(targets) or config.targets),
                    runtime=runtime_with)
    return LintPlan(linter, settings.fail_on, config)


def lint(
    paths: Sequence[str],
    *,
    config: Config | None = None,
    config_path: str | Path | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    fail_on: str | None = None,
    targets: Sequence[str] = (),
    baseline: Path | None = None,
    runtime: bool | RuntimeSettings = False,
    jobs: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_model: Callable[[ModelReport], None] | None = None,
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    respect_gitignore: bool | None = None,
) -> tuple[Report, LintPlan]:
    """Lint every model under ``paths`` (none: the working directory) with ``config``, else
    the config that governs them (``config_path``, else searched upwards); options as in
    :func:`plan_lint`, folders walked as :func:`discovery` says. An unreadable model is an
    entry with its error, not a raise."""
    paths = list(paths) or ["."]
    config = config or read_config(paths, config_path)
    plan = plan_lint(config, select=select, ignore=ignore,
                     extend_select=extend_select, fail_on=fail_on, targets=targets,
                     baseline=baseline, runtime=runtime)
    walk = discovery(config, exclude=exclude, extend_exclude=extend_exclude,
                     respect_gitignore=respect_gitignore)
    skipped = not_run(plan.linter)
    try:
        targets_found = discover(paths, walk)
    except LoadError as exc:
        report = Report((ModelReport(exc.path, error=exc.reason),), plan.linter.rule_classes,
                        not_run=skipped)
        return report, plan
    if on_start is not None:
        on_start(len(targets_found))
    report = plan.linter.lint_targets(targets_found, jobs=jobs, on_model=on_model)
    return dataclasses.replace(report, not_run=skipped), plan


def lint_proto(
    proto: ModelProto,
    name: str,
    *,
    config: Config | None = None,
    config_path: str | Path | None = None,
    **options: Any,
) -> tuple[Report, LintPlan]:
    """Lint a model held in memory, as if it were the file ``name`` (relative to the working
    directory): the config is found from there and per-path ignores match it. Nothing is
    written to disk for a static lint."""
    path = Path(name).absolute()
    plan = plan_lint(config or read_config([path.parent], config_path), **options)
    started = time.perf_counter()
    with no_cyclic_gc():
        try:
            model = load_proto(proto, name, path)
        except LoadError as exc:
            entry = ModelReport(name, error=exc.reason)
        else:
            entry = plan.linter.lint_model(model)
    return Report((entry,), plan.linter.rule_classes, time.perf_counter() - started,
                  not_run=not_run(plan.linter)), plan


def _codes(values: Sequence[str]) -> list[str]:
    """Codes as typed: comma-separated, repeatable, any case."""
    return [part.strip().upper() for value in values for part in value.split(",") if part.strip()]


def _check_codes(ruleset: RuleSet, config: Config, select: Sequence[str], ignore: Sequence[str],
                 severity: Sequence[str]) -> None:
    """A typo in a code must not silently select nothing; name where the code came from."""
    inexact = [code for code in severity if ruleset.by_code(code) is None]
    if inexact:  # severity overrides name whole codes, never prefixes
        raise AppError(f"{config.path}: severity.{inexact[0]}: not a rule code "
                       "(see `archlint rules`)")
    unknown = unknown_prefixes(ruleset.rules, [*select, *ignore])
    if not unknown:
        return
    where = f" (in {config.path})" if config.path and any(
        code in (*(config.select or ()), *config.ignore, *config.extend_select)
        for code in unknown
    ) else ""
    raise AppError(f"unknown rule code or prefix: {', '.join(unknown)}{where} "
                   "(see `archlint rules`)")


def _target_options(targets: tuple[str, ...]) -> dict[str, object]:
    """Lint options for the deployment targets; an unknown name lists the known ones."""
    if not targets:
        return {}
    from archlint.targets import TARGETS_OPTION, UnknownTargetError, resolve_targets

    try:
        profiles = resolve_targets(targets)
    except UnknownTargetError as exc:
        raise AppError(str(exc)) from exc
    return {TARGETS_OPTION: tuple(p.name for p in profiles)}


# --- run (the runtime check) -----------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """``archlint run``'s options; None (or empty) keeps the config's value, else the default."""

    providers: tuple[str, ...] = ()
    dims: tuple[str, ...] = ()  # NAME=VALUE
    compare: str | None = None
    compare_model: str | None = None
    rtol: float | None = None
    atol: float | None = None
    timeout: float | None = None
    seed: int | None = None
    runs: int | None = None
    reference: bool = True
    profiles: str | None = None
    inputs: tuple[str, ...] = ()  # NAME=VALUE or NAME=FILE.npy
    inputs_file: str | None = None  # an .npz of inputs
    sweep: bool | None = None


def runtime_settings(config: Config, options: RunOptions | None = None) -> RuntimeSettings:
    """``[runtime]`` of the config (validated by RuntimeSettings when the config was read)
    with the command line laid over it, key by key."""
    settings = config.runtime.settings()
    if options is None:
        return settings
    given = {key: value for key, value in (
        ("providers", options.providers or None), ("rtol", options.rtol),
        ("atol", options.atol), ("timeout", options.timeout), ("seed", options.seed),
        ("runs", options.runs), ("compare", options.compare),
        ("compare_model", options.compare_model), ("profiles", options.profiles),
        ("inputs_file", options.inputs_file), ("sweep", options.sweep),
    ) if value is not None}
    try:
        command_line = parse_dims(options.dims)
        return settings.replace(**given, reference=options.reference,
                                dims={**settings.dims, **command_line},
                                dims_from_config=settings.dims_from_config - set(command_line),
                                inputs={**settings.inputs, **parse_inputs(options.inputs)})
    except SettingsError as exc:
        raise AppError(str(exc)) from exc


def _preflight(settings: RuntimeSettings) -> None:
    """Everything that makes a runtime check impossible, said once before any model runs."""
    from archlint.runtime.check import RuntimeUnavailable, available_providers
    from archlint.runtime.providers import ProviderError, resolve_provider

    try:
        for name in (*settings.providers, *([settings.compare] if settings.compare else [])):
            resolve_provider(name)
        available_providers()
    except (ProviderError, RuntimeUnavailable) as exc:
        raise AppError(str(exc)) from exc
    if settings.compare_model and not Path(settings.compare_model).is_file():
        raise AppError(f"{settings.compare_model}: --compare-model: no such file")
    if settings.profiles is not None:
        from archlint.targets.profile import ProfileError, load_profiles_with

        try:  # a broken profile folder is a usage error, before any model runs
            load_profiles_with(settings.profiles)
        except ProfileError as exc:
            raise AppError(str(exc)) from exc


def run(
    paths: Sequence[str],
    *,
    config_path: str | Path | None = None,
    options: RunOptions | None = None,
    fail_on: str | None = None,
) -> tuple[Report, LintPlan]:
    """``archlint run``: every runtime rule over every model, through the same filter."""
    config = read_config(paths, config_path)
    settings = runtime_settings(config, options)
    ruleset = rules()
    runtime_codes = [r.code for r in ruleset.rules if r.runtime]
    plan = plan_lint(config, select=runtime_codes, ignore=(), fail_on=fail_on,
                     runtime=settings, ruleset=ruleset)
    full = plan.linter  # the config's extend-select must not bring static rules into a run
    only_runtime = Linter([r for r in full.rule_classes if r.runtime], full.severity_overrides,
                          full.options, full.suppressions, runtime=settings)
    plan = LintPlan(only_runtime, plan.fail_on, plan.config)
    try:
        targets = discover(paths, discovery(config))
    except LoadError as exc:
        raise AppError(str(exc)) from exc
    return plan.linter.lint_targets(targets), plan


# --- params ----------------------------------------------------------------------------------


def count_paths(
    paths: Sequence[str], walk: Discovery | None = None, dims: Mapping[str, int] | None = None
) -> tuple[ModelParams, ...]:
    """Count every model named or found under the paths; unreadable ones carry an error.
    ``dims`` binds symbolic sizes (``seq``, ``batch``) for the MACs column."""
    from archlint.params import ModelParams

    try:
        targets = discover(paths, walk)
    except LoadError as exc:
        return (ModelParams(exc.path, error=exc.reason),)
    results = []
    for shown, path in targets:
        with no_cyclic_gc():
            results.append(_count_one(path, shown, dims))
    return tuple(results)


def _count_one(path: Path, shown: str, dims: Mapping[str, int] | None = None) -> ModelParams:
    from archlint.params import ModelParams, count_model
    from archlint.params_columns import annotate_model

    try:
        # shapes inferred (on the weightless skeleton) for the output-shape and MACs columns
        model = load_model(path, shown)
        model, graph = indexed(model)
        layers = build_layers(graph, model.exporter)
        counted = count_model(shown, graph, layers, opset_imports=model.proto.opset_import,
                              main_initializers=model.proto.graph.initializer)
        unseen = unseen_recurrent(graph, layers)
        return annotate_model(dataclasses.replace(counted, unseen=unseen), graph, layers, dims)
    except LoadError as exc:
        return ModelParams(shown, error=exc.reason)
    except UnicodeDecodeError:
        return ModelParams(shown, error=INVALID_UTF8)


def parse_layer_limits(values: Sequence[str]) -> dict[str, int]:
    """``['enc*=1M', '/rnn/LSTM=300000']`` -> {glob: max}. ValueError on a malformed entry."""
    from archlint.params import parse_count

    limits: dict[str, int] = {}
    for value in values:
        glob, sep, count = value.rpartition("=")
        if not sep or not glob.strip():
            raise ValueError(f"--layer-limit expects GLOB=N, got {value!r}")
        limits[glob.strip()] = parse_count(count)
    return limits


def params(
    paths: Sequence[str],
    *,
    config: Config | None = None,
    config_path: str | Path | None = None,
    max_params: int | None = None,
    max_layer_params: int | None = None,
    layer_limits: Mapping[str, int] | None = None,
    expect_params: int | None = None,
    convention: Convention | str | None = None,
    dims: Mapping[str, int] | None = None,
) -> ParamsReport:
    """Count the models and check the budgets; each argument left None takes the config's
    ``[params]`` value (the command line wins key by key). ``dims`` binds symbolic sizes for
    the MACs of one pass."""
    from archlint.params import Convention, ParamsReport, check_budgets, unmatched_limits

    config = config or read_config(paths, config_path)
    budgets = config.params
    chosen = convention if convention is not None else budgets.convention or "onnx"
    try:
        conv = chosen if isinstance(chosen, Convention) else Convention.parse(chosen)
    except ValueError as exc:
        raise AppError(str(exc)) from exc
    limits = {**budgets.layer_limits, **dict(layer_limits or {})}
    max_params = max_params if max_params is not None else budgets.max_params
    max_layer_params = (max_layer_params if max_layer_params is not None
                        else budgets.max_layer_params)
    expect_params = expect_params if expect_params is not None else budgets.expect_params
    models = count_paths(paths, discovery(config), dims)
    failures = tuple(
        failure
        for model in models if model.error is None
        for failure in check_budgets(
            model, max_params=max_params, max_layer_params=max_layer_params,
            layer_limits=limits, expect_params=expect_params, convention=conv,
        )
    )
    budget_table: dict[str, object] = {
        key: value for key, value in (
            ("max-params", max_params), ("max-layer-params", max_layer_params),
            ("layer-limits", limits or None), ("expect-params", expect_params),
        ) if value is not None
    }
    readable = [m for m in models if m.error is None]
    notes = tuple(f"layer limit {glob!r} matches no layer"
                  for glob in unmatched_limits(readable, limits))
    return ParamsReport(models, conv, budget_table, failures, notes, dims=dict(dims or {}))



# --- fix -------------------------------------------------------------------------------------


def fix(
    model: str | Path | ModelProto,
    *,
    output: str | Path | None = None,
    name: str | None = None,
    config: Config | None = None,
    config_path: str | Path | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    unsafe: bool = False,
    in_place: bool = False,
    check_runtime: bool = True,
    dims: Mapping[str, int] | None = None,
) -> FixResult:
    """``archlint fix``: mend a copy of the model with the fixes its rules declare, lint the
    copy again, run both in onnxruntime, and write the copy to ``output`` only when every
    check held (docs/fix.md). The input is never written unless ``output`` is the input and
    ``in_place`` is set; the write goes through a temporary file and a rename."""
    from archlint import fixes as fixing

    source: Path | None = None
    if isinstance(model, str | Path):
        source = Path(model)
        shown = name or str(model)
        try:
            proto = load_model(source, shown, infer_shapes=False, read_small=False).proto
        except LoadError as exc:
            raise AppError(f"{exc.path}: {exc.reason}") from exc
    else:
        proto, shown = model, name or "model.onnx"
    where = source if source is not None else Path(shown).absolute()
    target = Path(output) if output is not None else None
    if target is not None and source is not None and _same_file(target, source) and not in_place:
        raise AppError(f"{target}: -o is the input model; pass --in-place to overwrite it")
    if target is not None and not target.absolute().parent.is_dir():
        raise AppError(f"{target}: no such folder for the fixed model")
    # every rule of the config lints (a fix must not bring a finding of any rule); only the
    # selected ones fix
    plan = plan_lint(config or read_config([where.parent], config_path))
    _check_codes(rules(), plan.config, _codes(select), _codes(ignore), [])
    fixers = {rule.code for rule in select_rules(plan.linter.rule_classes,
                                                 _codes(select) or ["ALL"], _codes(ignore))}

    def load(candidate: ModelProto) -> Any:
        return load_proto(candidate, shown, where)

    with no_cyclic_gc():
        try:
            fixed, before, passes = fixing.fix_passes(plan.linter, load, proto, unsafe, fixers)
            _, after = fixing.lint_context(plan.linter, load(fixed))
        except LoadError as exc:
            raise AppError(f"{exc.path}: {exc.reason}") from exc
    applied = tuple(a for p in passes for a in p.applied)
    remaining, new = fixing.verify(applied, before, after)
    problems = [f"{f.code} is still reported at {f.location.node_label()} after its fix"
                for f in remaining]
    problems += [f"the fix brought a new finding: {f.code} at {f.location.node_label()}: "
                 f"{f.message}" for f in new]
    result = fixing.FixResult(shown, fixed, applied, passes[-1].skipped if passes else (),
                              before, after, remaining, new,
                              output=str(target) if target is not None else None)
    if not applied:
        return dataclasses.replace(result, problems=tuple(problems))
    external = _external_locations(fixed)
    staged: Path | None = None
    copied: list[Path] = []
    try:
        if target is not None:
            copied = _copy_external_data(external, where.parent, target.parent)
            staged = _stage(fixed, target)
        comparison, note = None, None
        if not check_runtime:
            note = "not run (runtime check turned off)"
        else:
            comparison, note = _compare(proto, fixed, source, staged, external, dims,
                                        plan.linter.options)
        if comparison is not None:
            problems += _runtime_problems(comparison, applied)
        result = dataclasses.replace(result, comparison=comparison, runtime_note=note,
                                     problems=tuple(problems))
        if staged is not None and target is not None and result.verified:
            staged.replace(target)
            staged = None
            result = dataclasses.replace(result, written=True)
        return result
    finally:
        if staged is not None:  # unverified or interrupted: no half model, no stray data
            staged.unlink(missing_ok=True)
            for path in copied:
                path.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and a.samefile(b))
    except OSError:
        return False


def _external_locations(proto: ModelProto) -> tuple[str, ...]:
    """The external-data files the model refers to (never read here)."""
    from onnx import TensorProto

    from archlint.loader import iter_graphs

    found: list[str] = []
    for _, graph in iter_graphs(proto.graph):
        for tensor in graph.initializer:
            if tensor.data_location == TensorProto.EXTERNAL:
                location = next((e.value for e in tensor.external_data if e.key == "location"),
                                None)
                if location and location not in found:
                    found.append(location)
    return tuple(found)


def _copy_external_data(locations: Sequence[str], source_dir: Path, target_dir: Path
                        ) -> list[Path]:
    """Put the external data beside the output (streamed file copies: never in memory)."""
    import shutil

    if not locations or source_dir.resolve() == target_dir.resolve():
        return []
    copied: list[Path] = []
    for location in locations:
        src, dst = source_dir / location, target_dir / location
        if not src.resolve().is_relative_to(source_dir.resolve()):
            raise AppError(f"{location}: external data outside the model's folder (AL002); "
                           "not copied")
        if dst.exists():
            raise AppError(f"{dst}: exists; will not overwrite external data beside the output")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        copied.append(dst)
    return copied


def _stage(proto: ModelProto, target: Path) -> Path:
    """The model written to a temporary file beside ``target`` (renamed once verified)."""
    import os
    import tempfile

    if target.name.endswith(".txt"):
        from onnx import printer

        data = printer.to_text(proto).encode()
    else:
        data = proto.SerializeToString()
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.absolute().parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    return Path(name)


def _compare(original: ModelProto, fixed: ModelProto, source: Path | None, staged: Path | None,
             external: Sequence[str], dims: Mapping[str, int] | None,
             options: Mapping[str, object]) -> tuple[Any, str | None]:
    from archlint.runtime.fixcheck import compare_fixed, runtime_available

    if not runtime_available():
        return None, "not run: onnxruntime is not installed (pip install 'archlint[runtime]')"
    if external and (source is None or staged is None):
        return None, "not run: the model has external data and nothing was written to compare"
    from archlint.engine import analyse

    ctx = analyse(load_proto(original, "original.onnx", source), options)
    return compare_fixed(source if external and source else original,
                         staged if external and staged else fixed,
                         ctx.graph, ctx.layers, dims), None


def _runtime_problems(comparison: Any, applied: Sequence[Any]) -> list[str]:
    from archlint.api import Safety

    if comparison.original_error is not None:
        return []  # nothing to keep equal; a fixed model that still fails is reported, not judged
    if comparison.fixed_error is not None:
        return [f"the fixed model fails in onnxruntime where the original ran: "
                f"{comparison.fixed_error}"]
    if all(a.safety is Safety.SAFE for a in applied) and comparison.changed:
        return [f"safe fixes changed output {name} in onnxruntime" for name in comparison.changed]
    return []


# --- show-settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One effective setting of a lint and where its value came from."""

    key: str
    value: object
    source: str  # "command line", the config file's path, "default", or a combination


def effective_settings(
    paths: Sequence[str],
    *,
    config_path: str | Path | None = None,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    fail_on: str | None = None,
    targets: Sequence[str] = (),
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    respect_gitignore: bool | None = None,
) -> tuple[Setting, ...]:
    """What a lint of ``paths`` with these options would run with, key by key, with the
    source of each value (``archlint lint --show-settings``); the same merge as :func:`lint`."""
    paths = list(paths) or ["."]
    config = read_config(paths, config_path)
    settings = lint_settings(config, select=_codes(select), ignore=_codes(ignore),
                             extend_select=_codes(extend_select), fail_on=fail_on)
    walk = discovery(config, exclude=exclude, extend_exclude=extend_exclude,
                     respect_gitignore=respect_gitignore)
    file = str(config.path) if config.path else "no config file"

    def source(cli: object, conf: object) -> str:
        if cli not in (None, (), []) and conf not in (None, (), [], {}):
            return f"command line + {file}"
        if cli not in (None, (), []):
            return "command line"
        return file if conf not in (None, (), [], {}) else "default"

    return (
        Setting("config", file, "--config" if config_path else "searched upwards from paths"),
        Setting("paths", paths, "command line" if paths != ["."] else "default"),
        Setting("select", list(settings.select),
                source(select or extend_select, (config.select or ()) + config.extend_select)),
        Setting("ignore", list(settings.ignore), source(ignore, config.ignore)),
        Setting("fail-on", settings.fail_on, source(fail_on, config.fail_on)),
        Setting("severity", {k: v.value for k, v in settings.severity.items()},
                source(None, config.severity)),
        Setting("targets", list(targets or config.targets), source(targets, config.targets)),
        Setting("exclude", list(walk.exclude), source(exclude, config.exclude)),
        Setting("extend-exclude", list(walk.extend_exclude),
                source(extend_exclude, config.extend_exclude)),
        Setting("respect-gitignore", walk.respect_gitignore,
                source(respect_gitignore, config.respect_gitignore)),
        Setting("per-path-ignores", {k: list(v) for k, v in config.per_path_ignores.items()},
                source(None, config.per_path_ignores)),
        Setting("per-node-ignores", {k: list(v) for k, v in config.per_node_ignores.items()},
                source(None, config.per_node_ignores)),
    )


# --- pictures (archlint graph, and the HTML / Markdown lint reports) --------------------------


def draw(
    path: str,
    *,
    around_node: str | None = None,
    radius: int = 2,
    with_findings: bool = True,
    config_path: str | Path | None = None,
) -> Drawing:
    """The recurrent part of one model (or the neighbourhood of one node), with the findings
    of a lint under the governing config marked on the nodes they name."""
    from archlint.drawing.stack import around, recurrent_stack

    targets = discover([path])
    if len(targets) != 1:
        raise AppError(f"{path}: graph draws one model; found {len(targets)}")
    shown, model_path = targets[0]
    found: tuple[Finding, ...] = ()
    if with_findings:
        report, _ = lint([str(model_path)], config_path=config_path)
        found = report.findings
    try:
        model = load_model(model_path, shown)
    except LoadError as exc:
        raise AppError(str(exc)) from exc
    model, graph = indexed(model)
    layers = build_layers(graph, model.exporter)
    if around_node is None:
        return recurrent_stack(graph, layers, found, f"{shown}: recurrent layers")
    try:
        return around(graph, layers, around_node, radius, found)
    except KeyError:
        raise AppError(f"{shown}: no node named {around_node!r}") from None


def pictures(paths: Sequence[str], report: Report) -> dict[str, ModelPictures]:
    """Per readable model of ``report`` (by display path): its parameter rows and pictures."""
    from archlint.drawing.pictures import model_pictures
    from archlint.params import count_model
    from archlint.params_columns import annotate_model

    wanted = {m.path: m for m in report.models if m.error is None}
    out: dict[str, ModelPictures] = {}
    try:
        targets = discover(paths)
    except LoadError:
        return out
    for shown, path in targets:
        entry = wanted.get(shown)
        if entry is None:
            continue
        try:
            model = load_model(path, shown)
        except LoadError:
            continue
        model, graph = indexed(model)
        layers = build_layers(graph, model.exporter)
        counted = annotate_model(
            count_model(shown, graph, layers, opset_imports=model.proto.opset_import,
                        main_initializers=model.proto.graph.initializer),
            graph, layers)
        out[shown] = model_pictures(graph, layers, counted, entry.findings)
    return out
