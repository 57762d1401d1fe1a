"""`archlint params`: per-layer parameter counts and parameter budgets for CI.

Exit codes: 0 counted (and every budget passed), 1 a budget failed, 2 usage error or an
unreadable model (one line on stderr naming the file and the reason).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from archlint.engine import no_cyclic_gc
from archlint.graph import build_graph
from archlint.loader import INVALID_UTF8, LoadError, discover_models, load_model
from archlint.params import (
    CONVENTIONS_TEXT,
    Convention,
    ModelParams,
    ParamsReport,
    check_budgets,
    count_model,
    parse_count,
    unmatched_limits,
)
from archlint.recurrent import build_layers
from archlint.reporters.params_report import PARAMS_FORMATS, render

__all__ = ["count_paths", "params_command", "parse_layer_limits", "run_params"]


def count_paths(paths: Sequence[str]) -> tuple[ModelParams, ...]:
    """Count every model named or found under the paths; unreadable ones carry an error."""
    try:
        targets = list(discover_models(paths))
    except LoadError as exc:
        return (ModelParams(exc.path, error=exc.reason),)
    results = []
    for shown, path in targets:
        with no_cyclic_gc():
            results.append(_count_one(path, shown))
    return tuple(results)


def _count_one(path: Path, shown: str) -> ModelParams:
    try:
        model = load_model(path, shown, infer_shapes=False)
        graph = build_graph(model)
        return count_model(shown, graph, build_layers(graph, model.producer),
                           opset_imports=model.proto.opset_import)
    except LoadError as exc:
        return ModelParams(shown, error=exc.reason)
    except UnicodeDecodeError:
        return ModelParams(shown, error=INVALID_UTF8)


def parse_layer_limits(values: Sequence[str]) -> dict[str, int]:
    """``['enc*=1M', '/rnn/LSTM=300000']`` -> {glob: max}. ValueError on a malformed entry."""
    limits: dict[str, int] = {}
    for value in values:
        glob, sep, count = value.rpartition("=")
        if not sep or not glob.strip():
            raise ValueError(f"--layer-limit expects GLOB=N, got {value!r}")
        limits[glob.strip()] = parse_count(count)
    return limits


def run_params(
    paths: Sequence[str],
    *,
    max_params: int | None = None,
    max_layer_params: int | None = None,
    layer_limits: Mapping[str, int] | None = None,
    expect_params: int | None = None,
    convention: Convention = Convention.ONNX,
) -> ParamsReport:
    """Count the models and check the budgets: the whole command, without printing."""
    models = count_paths(paths)
    limits = dict(layer_limits or {})
    failures = tuple(
        failure
        for model in models if model.error is None
        for failure in check_budgets(
            model, max_params=max_params, max_layer_params=max_layer_params,
            layer_limits=limits, expect_params=expect_params, convention=convention,
        )
    )
    budgets: dict[str, object] = {
        key: value for key, value in (
            ("max-params", max_params), ("max-layer-params", max_layer_params),
            ("layer-limits", limits or None), ("expect-params", expect_params),
        ) if value is not None
    }
    readable = [m for m in models if m.error is None]
    notes = tuple(f"layer limit {glob!r} matches no layer"
                  for glob in unmatched_limits(readable, limits))
    return ParamsReport(models, convention, budgets, failures, notes)


def _count_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Click callback: ``1576960``, ``1_576_960``, ``1.5M`` -> int (a callback rather than a
    ParamType, whose generic signature differs across the click versions we allow)."""
    if value is None:
        return None
    try:
        return parse_count(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command(name="params")
@click.argument("paths", nargs=-1)
@click.option("--format", "output_format", type=click.Choice(sorted(PARAMS_FORMATS)),
              default="text", show_default=True,
              help="text (aligned table), markdown (pull-request comment), csv or json.")
@click.option("--summary", is_flag=True, help="Only the per-model totals.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--max-params", callback=_count_option, metavar="N",
              help="Fail (exit 1) when a model has more than N.")
@click.option("--max-layer-params", callback=_count_option, metavar="N",
              help="Fail when any one layer has more than N.")
@click.option("--layer-limit", "layer_limit", multiple=True, metavar="GLOB=N",
              help="Fail when a layer whose node name matches GLOB has more than N "
              "(repeatable), e.g. --layer-limit '/rnn/*=300k'.")
@click.option("--expect-params", callback=_count_option, metavar="N",
              help="Fail unless each model has exactly N (catches dropped/duplicated layers).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (archlint.toml or pyproject.toml) instead of searching upwards; "
              "[tool.archlint.params] gives the budgets the options above do not.")
@click.option("--convention", type=click.Choice([c.value for c in Convention]),
              default=None, help="Which count the budgets and --expect-params compare. "
              "[default: config, else onnx]")
@click.option("--explain", is_flag=True,
              help="Explain the ONNX, PyTorch and Keras counting conventions and exit.")
def params_command(
    paths: tuple[str, ...],
    output_format: str,
    summary: bool,
    output: Path | None,
    max_params: int | None,
    max_layer_params: int | None,
    layer_limit: tuple[str, ...],
    expect_params: int | None,
    config_path: Path | None,
    convention: str | None,
    explain: bool,
) -> None:
    """Count parameters per layer (ONNX, PyTorch and Keras conventions); check budgets."""
    # Imported here: archlint.cli registers this command at its end, so a module-level import
    # would be circular whenever this module is imported first.
    from archlint.cli import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, UsageFailure, _emit

    if explain:
        click.echo(CONVENTIONS_TEXT, nl=False)
        if not paths:
            return
        click.echo()
    if not paths:
        raise UsageFailure("params: give at least one model or folder (or --explain)")
    from archlint.config import ConfigError, load_config

    try:
        budgets = load_config(list(paths), config_path).params
        limits = {**budgets.layer_limits, **parse_layer_limits(layer_limit)}
    except (ConfigError, ValueError) as exc:
        raise UsageFailure(str(exc)) from exc
    # The command line wins over the config file, key by key.
    report = run_params(
        list(paths),
        max_params=max_params if max_params is not None else budgets.max_params,
        max_layer_params=max_layer_params if max_layer_params is not None
        else budgets.max_layer_params,
        layer_limits=limits,
        expect_params=expect_params if expect_params is not None else budgets.expect_params,
        convention=Convention.parse(convention or budgets.convention or "onnx"),
    )
    _emit(render(report, output_format, summary), output)
    for model in report.errors:
        click.echo(f"archlint: error: {model.path}: {model.error}", err=True)
    if report.errors:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if report.failures else EXIT_CLEAN)
