"""``archlint fix``: mend the provable defects in a copy of a model (docs/fix.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from archlint import app
from archlint.app import EXIT_CLEAN, EXIT_FINDINGS
from archlint.cli.options import UsageFailure, app_errors, config_option
from archlint.fixes import FixResult

__all__ = ["fix_command"]


@click.command(name="fix")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the fixed model here (.onnx, or .onnx.txt for ONNX text).")
@click.option("--diff", "diff_only", is_flag=True,
              help="Only describe the fixes and their proof; write nothing.")
@click.option("--select", "select", multiple=True, metavar="CODES",
              help="Rule codes or prefixes whose fixes to apply (as in lint).")
@click.option("--ignore", "ignore", multiple=True, metavar="CODES",
              help="Rule codes or prefixes whose fixes not to apply.")
@click.option("--unsafe-fixes", "unsafe", is_flag=True,
              help="Also apply fixes that change computed values (docs/fix.md).")
@click.option("--in-place", is_flag=True, help="Allow -o to be the input model itself.")
@click.option("--no-runtime", is_flag=True,
              help="Do not run the original and the fixed model in onnxruntime.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE",
              help="Size of a symbolic input dimension for the runtime comparison.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Report format.")
@config_option
def fix_command(model: Path, output: Path | None, diff_only: bool, select: tuple[str, ...],
                ignore: tuple[str, ...], unsafe: bool, in_place: bool, no_runtime: bool,
                dims: tuple[str, ...], output_format: str, config_path: Path | None) -> None:
    """Fix MODEL's findings whose rules declare a fix, into a copy (-o FILE)."""
    if output is None and not diff_only:
        raise UsageFailure("give -o FILE for the fixed model, or --diff to only describe")
    from archlint.runtime.settings import SettingsError, parse_dims

    try:
        sizes = parse_dims(dims)
    except SettingsError as exc:
        raise UsageFailure(str(exc)) from exc
    with app_errors():
        result = app.fix(model, output=None if diff_only else output, select=select,
                         ignore=ignore, unsafe=unsafe, in_place=in_place,
                         check_runtime=not no_runtime, config_path=config_path, dims=sizes)
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render(result, diff_only), nl=False)
    sys.exit(EXIT_CLEAN if result.verified else EXIT_FINDINGS)


def render(result: FixResult, diff_only: bool) -> str:
    """The fix report as text: each fix, what was skipped, the re-lint and the runtime proof."""
    verb = "to apply" if diff_only else "applied"
    lines = [f"{result.path}: {len(result.applied)} fix(es) {verb}"
             + (" (described only, nothing written)" if diff_only else "")]
    for fix in result.applied:
        lines.append(f"  {fix.code} {fix.safety.value:6} {fix.graph}/{fix.node}: "
                     f"{fix.description}")
    for skip in result.skipped:
        lines.append(f"  skipped {skip.code} {skip.graph}/{skip.node}: {skip.description} "
                     f"({skip.reason})")
    lines.append(f"re-lint: {len(result.before)} finding(s) before, {len(result.after)} after")
    for finding in result.after:
        lines.append(f"  left: {finding.code} at {finding.location.node_label()}: "
                     f"{finding.message}")
    if result.comparison is not None:
        lines.extend(result.comparison.lines())
    elif result.runtime_note:
        lines.append(f"onnxruntime: {result.runtime_note}")
    lines.extend(f"problem: {p}" for p in result.problems)
    if result.written:
        lines.append(f"wrote {result.output}")
    elif result.output is not None and result.applied:
        lines.append(f"not written: {result.output} (the checks above failed)")
    elif result.output is not None:
        lines.append(f"nothing to fix: {result.output} not written")
    return "\n".join(lines) + "\n"
