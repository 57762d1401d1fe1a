"""``archlint run``: real inference with onnxruntime, each model in its own child process."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from archlint import app
from archlint.cli.options import (
    app_errors,
    config_option,
    emit,
    fail_on_options,
    output_options,
    paths_argument,
    refuse_overwriting_models,
)
from archlint.render_names import safe_text
from archlint.report import ModelReport
from archlint.reporters import REPORTERS
from archlint.reporters.text import format_finding, summary_line
from archlint.runtime.settings import DEFAULT_SETTINGS

__all__ = ["render_details", "run_command"]


def render_details(models: Sequence[ModelReport]) -> str:
    """The facts per model (dims, inputs, shapes, placement, timing, notes) for text output."""
    from archlint.runtime.providers import short_name

    lines: list[str] = []
    for model in models:
        facts = model.runtime
        if model.error is not None or facts is None:
            continue
        on = ", ".join(f"{short_name(p)} ({p})" for p in facts.providers)
        # dims are bound only once the providers are known to exist: none means nothing ran
        lines.append(f"{model.path}: onnxruntime on {on}" + ("" if facts.dims else ": not run"))
        if facts.dims:
            lines.append(f"    dims: {facts.dims}")
        lines.extend(f"    input {spec}" for spec in facts.inputs)
        lines.extend(f"    output {line}" for line in facts.outputs)
        lines.extend(f"    sweep: {line}" for line in facts.sweep)
        lines.extend(f"    placement: {line}" for line in facts.placement)
        if facts.timing:
            lines.append(f"    timing: {facts.timing}")
        lines.extend(f"    note: {note}" for note in facts.notes)
    # input/output names and notes quoting them: one escaped line each
    return "".join(safe_text(line) + "\n" for line in lines)


@click.command(name="run")
@paths_argument()
@click.option("--provider", "-p", "providers", multiple=True, metavar="NAME",
              help="Execution provider, by short name (cpu, cuda, tensorrt, rocm, openvino, dml, "
              "coreml) or full name; repeat in priority order. Default: cpu.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE",
              help="Bind a symbolic dimension (batch=4, seq=32), or an input's axis by "
              "INPUT:AXIS (input:1=512, for a dim without a name); batch and seq also bind "
              "every recurrent layer's batch and sequence symbols.")
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE",
              help="Feed an input: a number or list (sr=16000, ids=[1, 2]) or a .npy file "
              "(x=x.npy). Its shape fixes its dims.")
@click.option("--inputs", "inputs_file", metavar="FILE.npz",
              help="Feed the inputs an .npz holds, by name (--input overrides one).")
@click.option("--sweep/--no-sweep", default=None,
              help="Run again with each group of dynamic dims at a second size (batch 3, seq "
              "7) and report a size at which the model fails. [default: config, else on]")
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
@config_option
@click.option("--runs", type=int, default=DEFAULT_SETTINGS.runs, show_default=True,
              help="Timed runs after the first, at most (the report gives their median); they stop "
              "after 1 s of them, and a first run of 1 s or more is the only one.")
@click.option("--no-reference", is_flag=True,
              help="Skip the onnx.reference comparison of recurrent nodes.")
@click.option("--profiles", metavar="DIR",
              help="Folder of target profiles (*.toml) replacing the built-in ones of the same "
              "name when placement is compared with the prediction (docs/targets.md).")
@output_options(["text", "json"],
                help="Output format (json: the report schema of docs/json-output.md).")
@fail_on_options(default="error")
def run_command(
    paths: tuple[str, ...], providers: tuple[str, ...], dims: tuple[str, ...],
    inputs: tuple[str, ...], inputs_file: str | None, sweep: bool | None,
    compare: str | None, compare_model: str | None, rtol: float | None, atol: float | None,
    timeout: float | None, seed: int | None, config_path: Path | None, runs: int,
    no_reference: bool, profiles: str | None, output_format: str, output: Path | None,
    fail_on: str, exit_zero: bool,
) -> None:
    """Run ONNX models in onnxruntime on random inputs, each in its own child process."""
    refuse_overwriting_models(output, paths)
    options = app.RunOptions(
        providers=providers, dims=dims, compare=compare, compare_model=compare_model,
        rtol=rtol, atol=atol, timeout=timeout, seed=seed, runs=runs,
        reference=not no_reference, profiles=profiles, inputs=inputs, inputs_file=inputs_file,
        sweep=sweep)
    with app_errors():
        report, _ = app.run(list(paths), config_path=config_path, options=options)
    if output_format == "text":
        blocks = [render_details(report.models)]
        blocks.extend(format_finding(f) + "\n" for f in report.findings)
        blocks.append(summary_line(report) + "\n")
        text = "".join(blocks)
    else:
        text = REPORTERS[output_format](report)
    emit(text, output)
    for model in report.errors:
        click.echo(safe_text(f"archlint: error: {model.path}: {model.error}"), err=True)
    sys.exit(app.exit_code(report, fail_on, exit_zero))
