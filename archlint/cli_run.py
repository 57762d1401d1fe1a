"""``archlint run``: real inference with onnxruntime, and the ``--runtime`` part of ``lint``.

Thin, like cli.py: parse options into RuntimeSettings, call archlint.runtime, render. Helpers
from archlint.cli are imported inside functions because cli.py imports this module at its end.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from archlint.api import Rule
from archlint.engine import ModelReport, Report
from archlint.runtime.settings import DEFAULT_SETTINGS, RuntimeSettings, SettingsError, parse_dims

if TYPE_CHECKING:
    from archlint.config import Config
    from archlint.runtime.check import RuntimeResult

__all__ = ["add_runtime_findings", "run_command", "run_models", "runtime_settings_from_config"]


def _fail(message: str) -> click.ClickException:
    from archlint.cli import UsageFailure

    return UsageFailure(message)


def run_models(
    paths: Sequence[str], settings: RuntimeSettings, rules: Sequence[type[Rule]]
) -> tuple[Report, list[RuntimeResult]]:
    """Every model named or found under ``paths`` through the runtime check, each in its own
    child process. Returns the findings as a Report and the per-model RuntimeResults."""
    import time

    from archlint.loader import LoadError, discover_models
    from archlint.runtime.check import (
        RuntimeUnavailable,
        available_providers,
        check_model,
    )
    from archlint.runtime.providers import ProviderError, resolve_provider

    started = time.perf_counter()
    try:
        for name in (*settings.providers, *([settings.compare] if settings.compare else [])):
            resolve_provider(name)
        available = available_providers()
        targets = list(discover_models(paths))
    except (ProviderError, RuntimeUnavailable) as exc:
        raise _fail(str(exc)) from exc
    except LoadError as exc:
        raise _fail(str(exc)) from exc
    if settings.compare_model and not Path(settings.compare_model).is_file():
        raise _fail(f"{settings.compare_model}: --compare-model: no such file")
    if settings.profiles is not None:
        from archlint.targets.profile import ProfileError, load_profiles_with

        try:  # a broken profile folder is a usage error, before any model runs
            load_profiles_with(settings.profiles)
        except ProfileError as exc:
            raise _fail(str(exc)) from exc
    selected = {r.code: r for r in rules if r.runtime}
    results = []
    reports = []
    for shown, path in targets:
        result = check_model(path, shown, settings, selected, available)
        results.append(result)
        reports.append(ModelReport(result.path, result.findings, result.error,
                                   result.recurrent_layers, result.nodes, result.elapsed_s))
    report = Report(tuple(reports), tuple(rules), time.perf_counter() - started)
    return report, results


def runtime_settings_from_config(config: Config) -> RuntimeSettings:
    """``[tool.archlint.runtime]`` as RuntimeSettings; keys it does not set keep the defaults."""
    table = config.runtime
    values: dict[str, object] = {
        key: value for key, value in (
            ("providers", table.providers), ("dims", table.dims), ("rtol", table.rtol),
            ("atol", table.atol), ("timeout", table.timeout), ("seed", table.seed),
            ("profiles", str(table.profiles) if table.profiles else None),
        ) if value not in (None, (), {})
    }
    try:
        return RuntimeSettings.from_mapping(values)
    except SettingsError as exc:
        raise _fail(f"{config.path}: runtime: {exc}") from exc


def add_runtime_findings(report: Report, rules: Sequence[type[Rule]],
                         settings: RuntimeSettings = DEFAULT_SETTINGS) -> Report:
    """``lint --runtime``: the static report plus each readable model's runtime findings."""
    readable = [m.path for m in report.models if m.error is None]
    if not readable or not any(r.runtime for r in rules):
        return report
    runtime, _ = run_models(readable, settings, rules)
    extra = {m.path: m for m in runtime.models}
    models = []
    for model in report.models:
        found = extra.get(model.path)
        if found is not None:
            known = {f.fingerprint() for f in model.findings}
            fresh = tuple(f for f in found.findings if f.fingerprint() not in known)
            model = dataclasses.replace(
                model, findings=model.findings + fresh,
                error=model.error or found.error, elapsed_s=model.elapsed_s + found.elapsed_s)
        models.append(model)
    return dataclasses.replace(report, models=tuple(models),
                               elapsed_s=report.elapsed_s + runtime.elapsed_s)


def render_details(results: Sequence[RuntimeResult]) -> str:
    """The facts per model (dims, inputs, shapes, placement, timing, notes) for text output."""
    from archlint.runtime.providers import short_name

    lines: list[str] = []
    for result in results:
        if result.error is not None:
            continue
        on = ", ".join(f"{short_name(p)} ({p})" for p in result.providers)
        # dims are bound only once the providers are known to exist: none means nothing ran
        lines.append(f"{result.path}: onnxruntime on {on}" + ("" if result.dims else ": not run"))
        if result.dims:
            lines.append(f"    dims: {result.dims}")
        lines.extend(f"    input {spec.describe()}" for spec in result.inputs)
        lines.extend(f"    output {line}" for line in result.outputs)
        lines.extend(f"    placement: {line}" for line in result.placement)
        if result.timing:
            lines.append(f"    timing: {result.timing}")
        lines.extend(f"    note: {note}" for note in result.notes)
    return "\n".join(lines) + ("\n" if lines else "")


@click.command(name="run")
@click.argument("paths", nargs=-1, required=True)
@click.option("--provider", "-p", "providers", multiple=True, metavar="NAME",
              help="Execution provider, by short name (cpu, cuda, tensorrt, rocm, openvino, dml, "
              "coreml) or full name; repeat in priority order. Default: cpu.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE",
              help="Bind a symbolic dimension (batch=4, seq=32); batch and seq also bind every "
              "recurrent layer's batch and sequence symbols.")
@click.option("--compare", metavar="PROVIDER", help="Also run on PROVIDER and compare outputs.")
@click.option("--compare-model", metavar="OTHER.onnx",
              help="Also run OTHER.onnx (e.g. the fp32 original) on the same inputs and compare.")
@click.option("--rtol", type=float,
              help=f"Relative tolerance of every numeric comparison. [default: config, else "
              f"{DEFAULT_SETTINGS.rtol}]")
@click.option("--atol", type=float,
              help=f"Absolute tolerance of every numeric comparison. [default: config, else "
              f"{DEFAULT_SETTINGS.atol}]")
@click.option("--timeout", type=float,
              help=f"Seconds for the child process of one model. [default: config, else "
              f"{DEFAULT_SETTINGS.timeout:g}]")
@click.option("--seed", type=int,
              help=f"Seed of the random inputs. [default: config, else {DEFAULT_SETTINGS.seed}]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (archlint.toml or pyproject.toml) instead of searching upwards.")
@click.option("--runs", type=int, default=DEFAULT_SETTINGS.runs, show_default=True,
              help="Timed runs after the first (the report gives their median).")
@click.option("--no-reference", is_flag=True,
              help="Skip the onnx.reference comparison of recurrent nodes.")
@click.option("--profiles", metavar="DIR",
              help="Folder of target profiles (*.toml) replacing the built-in ones of the same "
              "name when placement is compared with the prediction (AL512; docs/targets.md).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="Output format (json: the report schema of docs/json-output.md).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]),
              default="error", show_default=True,
              help="Lowest severity that makes the exit code 1.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
def run_command(
    paths: tuple[str, ...], providers: tuple[str, ...], dims: tuple[str, ...],
    compare: str | None, compare_model: str | None, rtol: float | None, atol: float | None,
    timeout: float | None, seed: int | None, config_path: Path | None, runs: int,
    no_reference: bool, profiles: str | None, output_format: str, output: Path | None,
    fail_on: str, exit_zero: bool,
) -> None:
    """Run ONNX models in onnxruntime on random inputs, each in its own child process."""
    from archlint.cli import _emit, _exit_code, _rules_or_fail
    from archlint.config import ConfigError, load_config
    from archlint.reporters import REPORTERS
    from archlint.reporters.text import format_finding, summary_line

    try:
        base = runtime_settings_from_config(load_config(list(paths), config_path))
    except ConfigError as exc:
        raise _fail(str(exc)) from exc

    def given(value: object, default: object) -> object:
        return default if value is None else value

    try:
        settings = base.replace(
            providers=providers or base.providers, dims={**base.dims, **parse_dims(dims)},
            rtol=given(rtol, base.rtol), atol=given(atol, base.atol),
            timeout=given(timeout, base.timeout), seed=given(seed, base.seed), compare=compare,
            compare_model=compare_model, runs=runs, reference=not no_reference,
            profiles=profiles or base.profiles,
        )
    except SettingsError as exc:
        raise _fail(str(exc)) from exc
    rules = [r for r in _rules_or_fail().rules if r.runtime]
    report, results = run_models(list(paths), settings, rules)
    if output_format == "text":
        blocks = [render_details(results)]
        blocks.extend(format_finding(f) + "\n" for f in report.findings)
        blocks.append(summary_line(report) + "\n")
        text = "".join(blocks)
    else:
        text = REPORTERS[output_format](report)
    _emit(text, output)
    for model in report.errors:
        click.echo(f"archlint: error: {model.path}: {model.error}", err=True)
    sys.exit(_exit_code(report, fail_on, exit_zero))
