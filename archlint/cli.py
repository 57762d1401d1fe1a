"""Command line: thin. Parse options, call the engine, pick a reporter.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or unreadable input.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from archlint import __version__
from archlint.api import Severity
from archlint.config import Config, ConfigError, lint_settings, load_config
from archlint.engine import Linter, Report
from archlint.progress import ProgressLine
from archlint.registry import RegistryError, RuleSet, load_rules, select_rules, unknown_prefixes
from archlint.reporters import MACHINE_FORMATS, REPORTERS
from archlint.reporters.text import summary_line
from archlint.suppress import Baseline, BaselineError, Suppressions

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FAIL_ON_CHOICES = ("error", "warning", "info", "never")


class UsageFailure(click.ClickException):
    """A one-line error that exits 2."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"archlint: error: {self.format_message()}", err=True)


def _split_codes(values: Sequence[str]) -> list[str]:
    return [part.strip().upper() for value in values for part in value.split(",") if part.strip()]


def _rules_or_fail() -> RuleSet:
    try:
        return load_rules()
    except RegistryError as exc:
        raise UsageFailure(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archlint")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """archlint: catch broken LSTM/GRU/RNN layers in ONNX models before they ship."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--select", "select", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to enable (comma-separated, repeatable). Default: ALL.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to disable; the more specific of select/ignore wins.")
@click.option("--format", "output_format", type=click.Choice(sorted(REPORTERS)), default="text",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--extend-select", "extend_select", multiple=True, metavar="CODES",
              help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default=None,
              help="Lowest severity that makes the exit code 1. [default: error]")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--target", "targets", multiple=True, metavar="NAME",
              help="Deployment target to check against (repeatable): onnxruntime-cpu, "
              "onnxruntime-cuda, tensorrt, openvino. See docs/targets.md.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (archlint.toml or pyproject.toml) instead of searching upwards.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Report only findings whose fingerprint is not in this baseline file.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Record today's findings in FILE (exit 0); later runs use --baseline FILE.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Lint models in N parallel processes (output order is unchanged).")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar and no summary line on stderr.")
@click.option("--runtime", is_flag=True,
              help="Also run each model in onnxruntime (CPU, defaults of `archlint run`).")
def lint(
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
) -> None:
    """Lint ONNX models (files, or folders searched for *.onnx)."""
    ruleset = _rules_or_fail()
    try:
        config = load_config(list(paths), config_path)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from exc
    settings = lint_settings(config, select=_split_codes(select), ignore=_split_codes(ignore),
                             extend_select=_split_codes(extend_select), fail_on=fail_on)
    _check_codes(ruleset, config, settings.select, settings.ignore,
                 list(settings.severity))
    rules = select_rules(ruleset.rules, settings.select, settings.ignore)
    accepted = None
    if baseline is not None and write_baseline is None:
        try:
            accepted = Baseline.read(baseline)
        except BaselineError as exc:
            raise UsageFailure(str(exc)) from exc
    linter = Linter(rules, settings.severity,
                    suppressions=Suppressions.from_config(config, accepted),
                    options=_target_options(targets or config.targets))
    with ProgressLine(paths, enabled=not quiet and sys.stderr.isatty()) as progress:
        report = linter.lint_paths(list(paths), jobs=jobs, on_model=progress.advance)
    if runtime:
        from archlint.cli_run import add_runtime_findings, runtime_settings_from_config

        report = add_runtime_findings(report, rules, runtime_settings_from_config(config))
    _emit(REPORTERS[output_format](report), output)
    if output_format in MACHINE_FORMATS and not quiet:
        click.echo(summary_line(report), err=True)
    for model in report.errors:
        click.echo(f"archlint: error: {model.path}: {model.error}", err=True)
    if write_baseline is not None:
        _emit(Baseline.render(report.findings), write_baseline)
        click.echo(f"archlint: wrote {len(report.findings)} findings to baseline "
                   f"{write_baseline}", err=True)
        sys.exit(EXIT_USAGE if report.errors else EXIT_CLEAN)
    sys.exit(_exit_code(report, settings.fail_on, exit_zero))


def _check_codes(ruleset: RuleSet, config: Config, select: Sequence[str], ignore: Sequence[str],
                 severity: Sequence[str]) -> None:
    """A typo in a code must not silently select nothing; name where the code came from."""
    inexact = [code for code in severity if ruleset.by_code(code) is None]
    if inexact:  # severity overrides name whole codes, never prefixes
        raise UsageFailure(f"{config.path}: severity.{inexact[0]}: not a rule code "
                           "(see `archlint rules`)")
    unknown = unknown_prefixes(ruleset.rules, [*select, *ignore])
    if not unknown:
        return
    where = f" (in {config.path})" if config.path and any(
        code in (*(config.select or ()), *config.ignore, *config.extend_select)
        for code in unknown
    ) else ""
    raise UsageFailure(f"unknown rule code or prefix: {', '.join(unknown)}{where} "
                       "(see `archlint rules`)")


def _target_options(targets: tuple[str, ...]) -> dict[str, object]:
    """Lint options for --target; an unknown name is a usage error listing the known ones."""
    if not targets:
        return {}
    from archlint.targets import TARGETS_OPTION, UnknownTargetError, resolve_targets

    try:
        profiles = resolve_targets(targets)
    except UnknownTargetError as exc:
        raise UsageFailure(str(exc)) from exc
    return {TARGETS_OPTION: tuple(p.name for p in profiles)}


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageFailure(f"{output}: cannot write report: {exc.strerror or exc}") from exc


def _exit_code(report: Report, fail_on: str, exit_zero: bool) -> int:
    if report.errors:
        return EXIT_USAGE
    if exit_zero or fail_on == "never":
        return EXIT_CLEAN
    threshold = Severity.parse(fail_on).rank
    failing = any(f.severity.rank >= threshold for f in report.findings)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


@cli.command(name="rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule: code, name, default severity, summary, origin."""
    ruleset = _rules_or_fail()
    rows = [(r.code, r.name, r.severity.value, ruleset.origin[r.code], r.summary)
            for r in ruleset.rules]
    if output_format == "json":
        import json

        keys = ("code", "name", "severity", "origin", "summary")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        click.echo("  ".join(cells) + "  " + row[4])


@cli.command()
@click.argument("code")
def explain(code: str) -> None:
    """Show a rule's documentation: what it does, why it matters, an example."""
    ruleset = _rules_or_fail()
    rule = ruleset.by_code(code)
    if rule is None:
        raise UsageFailure(f"unknown rule code {code!r} (see `archlint rules`)")
    click.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n")
    click.echo(rule.documentation())


from archlint.cli_params import params_command  # noqa: E402  (it imports this module's helpers)

cli.add_command(params_command)

from archlint.cli_run import run_command  # noqa: E402  (cli_run imports helpers defined above)

cli.add_command(run_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: click, plus a last line of defence against tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="archlint", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # never a traceback for users, unless they ask for one
        if debug:
            traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        click.echo(f"archlint: error: internal error: {message} (rerun with --debug)", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
