"""``archlint lint``: static checks (and, with --runtime, the runtime check) of ONNX models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from archlint import app
from archlint.app import EXIT_CLEAN, EXIT_USAGE
from archlint.cli.options import (
    app_errors,
    color_option,
    config_option,
    discovery_options,
    emit,
    fail_on_options,
    output_options,
    painter,
    paths_argument,
    refuse_overwriting_models,
)
from archlint.cli.progress import ProgressLine
from archlint.render_names import safe_text
from archlint.reporters import MACHINE_FORMATS, REPORTERS, RICH_FORMATS, text
from archlint.reporters.text import summary_line
from archlint.suppress import Baseline

__all__ = ["lint_command"]


@click.command(name="lint")
@paths_argument(required=False)
@click.option("--select", "select", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to enable (comma-separated, repeatable). Default: ALL.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to disable; the more specific of select/ignore wins.")
@output_options(sorted(REPORTERS))
@click.option("--extend-select", "extend_select", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to enable on top of the selection.")
@fail_on_options(default=None)
@click.option("--target", "targets", multiple=True, metavar="NAME",
              help="Deployment target to check against (repeatable): onnxruntime-cpu, "
              "onnxruntime-cuda, tensorrt, openvino. See docs/targets.md.")
@config_option
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Report only findings whose fingerprint is not in this baseline file.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Record today's findings in FILE (exit 0); later runs use --baseline FILE.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Lint models in N parallel processes (output order is unchanged).")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar and no summary line on stderr.")
@click.option("--runtime", is_flag=True,
              help="Also run each model in onnxruntime (CPU, defaults of `archlint run`); "
              "its findings pass the same suppressions, severities and baseline.")
@discovery_options
@color_option
@click.option("--statistics", is_flag=True,
              help="Instead of the findings, the number of findings per rule.")
@click.option("--show-settings", is_flag=True,
              help="Print the effective settings, and where each came from, then exit.")
def lint_command(
    paths: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    output_format: str,
    output: Path | None,
    extend_select: tuple[str, ...],
    fail_on: str | None,
    exit_zero: bool,
    config_path: Path | None,
    baseline: Path | None,
    write_baseline: Path | None,
    jobs: int,
    quiet: bool,
    targets: tuple[str, ...],
    runtime: bool,
    exclude: tuple[str, ...],
    extend_exclude: tuple[str, ...],
    respect_gitignore: bool | None,
    color: str,
    statistics: bool,
    show_settings: bool,
) -> None:
    """Lint ONNX models (files, or folders searched for *.onnx; none given: the current
    folder, without virtual environments, build folders and git-ignored files)."""
    refuse_overwriting_models(output, paths)
    refuse_overwriting_models(write_baseline, paths, "--write-baseline")
    excludes = exclude or None  # none given: the config's, else the defaults
    if show_settings:
        with app_errors():
            settings = app.effective_settings(
                list(paths), config_path=config_path, select=select, ignore=ignore,
                extend_select=extend_select, fail_on=fail_on, targets=targets, exclude=excludes,
                extend_exclude=extend_exclude, respect_gitignore=respect_gitignore)
        emit(render_settings(settings), output)
        sys.exit(EXIT_CLEAN)
    with app_errors(), ProgressLine(enabled=not quiet and sys.stderr.isatty()) as progress:
        report, plan = app.lint(
            list(paths), config_path=config_path, select=select, ignore=ignore,
            extend_select=extend_select, fail_on=fail_on, targets=targets,
            baseline=baseline if write_baseline is None else None, runtime=runtime,
            jobs=jobs, on_start=progress.start, on_model=progress.advance, exclude=excludes,
            extend_exclude=extend_exclude, respect_gitignore=respect_gitignore)
    if statistics:
        emit(text.statistics(report), output)
    elif output_format == "text":
        paint = painter(color if output is None else "never")
        emit(text.render(report, paint), output)
    elif output_format in RICH_FORMATS:
        shown = [model.path for model in report.models]
        emit(RICH_FORMATS[output_format](report, app.pictures(shown, report)), output)
    else:
        emit(REPORTERS[output_format](report), output)
    if output_format in MACHINE_FORMATS and not quiet and not statistics:
        click.echo(summary_line(report), err=True)
    for model in report.errors:
        click.echo(safe_text(f"archlint: error: {model.path}: {model.error}"), err=True)
    if write_baseline is not None:
        emit(Baseline.render(report.findings), write_baseline)
        click.echo(safe_text(f"archlint: wrote {len(report.findings)} findings to baseline "
                             f"{write_baseline}"), err=True)
        sys.exit(EXIT_USAGE if report.errors else EXIT_CLEAN)
    sys.exit(app.exit_code(report, plan.fail_on, exit_zero))


def render_settings(settings: tuple[app.Setting, ...]) -> str:
    """``key = value  # source``, values as TOML-ish JSON so lists and tables read plainly."""
    width = max(len(s.key) for s in settings)
    return "".join(f"{s.key:<{width}} = {json.dumps(s.value)}  # {s.source}\n"
                   for s in settings)
