"""Option groups shared by the commands, declared once, and the few helpers every command uses.

A group is a decorator adding its options to a command (Polygraphy's ``tools/args``):
``@config_option``, ``@output_options(formats)``, ``@fail_on_options(default)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from archlint.app import EXIT_USAGE, AppError
from archlint.config import FAIL_ON_CHOICES
from archlint.render_names import safe_text

__all__ = [
    "UsageFailure",
    "app_errors",
    "color_option",
    "config_option",
    "discovery_options",
    "emit",
    "fail_on_options",
    "output_options",
    "painter",
    "paths_argument",
    "refuse_overwriting_models",
]

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    """A one-line error that exits 2."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        # the message often names a file or a key the user (or an attacker) chose
        click.echo(safe_text(f"archlint: error: {self.format_message()}"), err=True)


@contextmanager
def app_errors() -> Iterator[None]:
    """The application layer's errors as the CLI's one-line usage failures."""
    try:
        yield
    except AppError as exc:
        raise UsageFailure(str(exc)) from exc


def _apply(f: F, decorators: Sequence[Callable[[F], F]]) -> F:
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def paths_argument(required: bool = True) -> Callable[[F], F]:
    return click.argument("paths", nargs=-1, required=required)


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (archlint.toml or pyproject.toml) instead of searching upwards.")(f)


def discovery_options(f: F) -> F:
    """How folders are walked (archlint/discovery.py): excludes and git's ignores."""
    return _apply(f, [
        click.option("--exclude", "exclude", multiple=True, metavar="PATTERN",
                     help="Files or folders to skip while walking folders (repeatable); "
                     "replaces the defaults (.venv, venv, site-packages, .git, node_modules, "
                     "build, dist, ...) and the config's exclude."),
        click.option("--extend-exclude", "extend_exclude", multiple=True, metavar="PATTERN",
                     help="Patterns to skip on top of the excludes (repeatable)."),
        click.option("--respect-gitignore/--no-respect-gitignore", "respect_gitignore",
                     default=None, help="Leave out files git ignores. [default: config, "
                     "else yes]"),
    ])


def color_option(f: F) -> F:
    return click.option(
        "--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto",
        show_default=True,
        help="Colour the text output; auto: on a terminal, unless NO_COLOR is set.")(f)


_COLOURS = {"error": "red", "warning": "yellow", "info": "cyan", "code": "magenta"}


def painter(color: str, stream: object = None) -> Callable[[str, str], str]:
    """paint(text, role) for the text reporter: ANSI colour when ``color`` says so (auto: the
    stream is a terminal and NO_COLOR, https://no-color.org, is unset or empty)."""
    stream = stream if stream is not None else sys.stdout
    on = color == "always" or (
        color == "auto" and not os.environ.get("NO_COLOR")
        and bool(getattr(stream, "isatty", lambda: False)())
    )
    if not on:
        return lambda text, role: text

    def paint(text: str, role: str) -> str:
        if role == "path":
            return click.style(text, bold=True)
        if role == "dim":
            return click.style(text, dim=True)
        return click.style(text, fg=_COLOURS.get(role), bold=True if role == "error" else None)

    return paint


def output_options(formats: Sequence[str], help: str = "Output format.") -> Callable[[F], F]:
    def group(f: F) -> F:
        return _apply(f, [
            click.option("--format", "output_format", type=click.Choice(list(formats)),
                         default="text", show_default=True, help=help),
            click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                         help="Write the report to FILE instead of standard output."),
        ])

    return group


def fail_on_options(default: str | None) -> Callable[[F], F]:
    """``--fail-on`` and ``--exit-zero``; None as default means "the config's, else error"."""
    shown = " [default: config, else error]" if default is None else ""

    def group(f: F) -> F:
        return _apply(f, [
            click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default=default,
                         show_default=default is not None,
                         help="Lowest severity that makes the exit code 1." + shown),
            click.option("--exit-zero", is_flag=True,
                         help="Exit 0 even when there are findings."),
        ])

    return group


def refuse_overwriting_models(output: Path | None, paths: Sequence[str],
                              option: str = "--output") -> None:
    """archlint never writes to a model it reads: ``--output`` naming one of the models (or a
    model file under a folder being linted) is a usage error, before anything runs."""
    if output is None:
        return
    target = Path(os.path.abspath(output))  # noqa: PTH100 (a symlink loop must not raise)
    for raw in paths:
        path = Path(raw)
        try:
            same = target.exists() and path.is_file() and target.samefile(path)
        except OSError:
            same = False
        inside = path.is_dir() and target.name.lower().endswith(".onnx") and (
            Path(os.path.abspath(path)) in target.parents)  # noqa: PTH100
        if same or inside:
            raise UsageFailure(f"{output}: {option} would overwrite a model being read ({raw})")


def emit(text: str, output: Path | None) -> None:
    """The report to standard output, or to ``--output FILE``."""
    if output is None:
        click.echo(text, nl=False, color=True)  # colour only when painted (--color decides)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageFailure(f"{output}: cannot write report: {exc.strerror or exc}") from exc
