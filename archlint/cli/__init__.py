"""Command line: a package of thin commands (parse -> call archlint.app -> render -> exit).

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or unreadable input.
Nothing under ``archlint/`` imports this package except ``archlint.__main__``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from archlint._version import __version__
from archlint.app import EXIT_USAGE
from archlint.cli.graph import graph_command
from archlint.cli.lint import lint_command
from archlint.cli.params import params_command
from archlint.cli.rules import explain_command, rules_command
from archlint.cli.run import run_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archlint")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """archlint: catch broken LSTM/GRU/RNN layers in ONNX models before they ship."""
    ctx.obj = {"debug": debug}


for _command in (lint_command, rules_command, explain_command, params_command, run_command,
                 graph_command):
    cli.add_command(_command)


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
