"""`archlint params`: per-layer parameter counts and parameter budgets for CI.

Exit codes: 0 counted (and every budget passed), 1 a budget failed, 2 usage error or an
unreadable model (one line on stderr naming the file and the reason).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from archlint import app
from archlint.app import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE
from archlint.cli.options import (
    UsageFailure,
    app_errors,
    config_option,
    emit,
    output_options,
    refuse_overwriting_models,
)
from archlint.params import CONVENTIONS_TEXT, Convention, parse_count
from archlint.params_columns import MACS_TEXT
from archlint.render_names import safe_text
from archlint.reporters.params_report import PARAMS_FORMATS, render
from archlint.runtime.settings import SettingsError, parse_dims

__all__ = ["params_command"]


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
@output_options(sorted(PARAMS_FORMATS),
                help="text (aligned table), markdown (pull-request comment), csv or json.")
@click.option("--summary", is_flag=True, help="Only the per-model totals.")
@click.option("--max-params", callback=_count_option, metavar="N",
              help="Fail (exit 1) when a model has more than N.")
@click.option("--max-layer-params", callback=_count_option, metavar="N",
              help="Fail when any one layer has more than N.")
@click.option("--layer-limit", "layer_limit", multiple=True, metavar="GLOB=N",
              help="Fail when a layer whose node name matches GLOB has more than N "
              "(repeatable), e.g. --layer-limit '/rnn/*=300k'.")
@click.option("--expect-params", callback=_count_option, metavar="N",
              help="Fail unless each model has exactly N (catches dropped/duplicated layers).")
@config_option
@click.option("--convention", type=click.Choice([c.value for c in Convention]),
              default=None, help="Which count the budgets and --expect-params compare. "
              "[default: config, else onnx]")
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE",
              help="Bind a symbolic dimension for the MACs column (seq=100, batch=8); seq and "
              "batch also bind every recurrent layer's sequence and batch symbols.")
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
    dims: tuple[str, ...],
    explain: bool,
) -> None:
    """Count parameters per layer (ONNX, PyTorch and Keras conventions); check budgets."""
    if explain:
        click.echo(CONVENTIONS_TEXT + "\n" + MACS_TEXT, nl=False)
        if not paths:
            return
        click.echo()
    if not paths:
        raise UsageFailure("params: give at least one model or folder (or --explain)")
    refuse_overwriting_models(output, paths)
    try:
        limits = app.parse_layer_limits(layer_limit)
        sizes = parse_dims(dims)
    except (ValueError, SettingsError) as exc:
        raise UsageFailure(str(exc)) from exc
    with app_errors():
        report = app.params(
            list(paths), config_path=config_path, max_params=max_params,
            max_layer_params=max_layer_params, layer_limits=limits,
            expect_params=expect_params, convention=convention, dims=sizes)
    emit(render(report, output_format, summary), output)
    for model in report.errors:
        click.echo(safe_text(f"archlint: error: {model.path}: {model.error}"), err=True)
    if report.errors:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if report.failures else EXIT_CLEAN)
