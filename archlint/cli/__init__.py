"""Command line: a package of thin commands (parse -> call archlint.app -> render -> exit).

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or unreadable input.
Nothing under ``archlint/`` imports this package except ``archlint.__main__``.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Sequence

import click

from archlint._version import __version__
from archlint.cli.lazy_group import LazyCommand, LazyGroup
from archlint.cli.process_exit import exit_now
from archlint.exit_codes import EXIT_USAGE
from archlint.onnx_protos import prefer_standalone
from archlint.process_end import end_after_command

__all__ = ["COMMANDS", "cli", "main"]

# Each command is imported when it runs (archlint/cli/lazy_group.py): `archlint --version`
# imports no engine, and `archlint lint` nothing of params, fix, graph or run.
COMMANDS = {
    "lint": LazyCommand(
        "archlint.cli.lint:lint_command",
        "Lint ONNX models (files, or folders searched for *.onnx; none given: the current "
        "folder, without virtual environments, build folders and git-ignored files).",
        reads_models=True, hands_over=True),
    "rules": LazyCommand(
        "archlint.cli.rules:rules_command",
        "List every rule: code, name, default severity, summary, origin."),
    "explain": LazyCommand(
        "archlint.cli.rules:explain_command",
        "Show a rule's documentation: what it does, why it matters, an example."),
    "params": LazyCommand(
        "archlint.cli.params:params_command",
        "Count parameters per layer (ONNX, PyTorch and Keras conventions); check budgets.",
        reads_models=True),
    "run": LazyCommand(
        "archlint.cli.run:run_command",
        "Run ONNX models in onnxruntime on random inputs, each in its own child process.",
        reads_models=True),
    "fix": LazyCommand(
        "archlint.cli.fix:fix_command",
        "Fix MODEL's findings whose rules declare a fix, into a copy (-o FILE).",
        reads_models=True),
    "graph": LazyCommand(
        "archlint.cli.graph:graph_command",
        "Draw the recurrent layers of MODEL and the layout ops around them, findings marked.",
        reads_models=True),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archlint")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """archlint: catch broken LSTM/GRU/RNN layers in ONNX models before they ship."""
    ctx.obj = {"debug": debug}
    _resume_collector()  # click calls this once the command's module is imported


# The console script pauses the cyclic collector while it imports (main, below). What a start
# imports (onnx, numpy, click, the command's modules: some 300k objects) lives as long as the
# process; the collector would walk it again and again as it grows (about 80 collections,
# 20 ms of a 1-layer lint) and free nothing.
_collector_paused = False


def _pause_collector() -> None:
    global _collector_paused
    if gc.isenabled():
        gc.disable()
        _collector_paused = True


def _resume_collector() -> None:
    """The imports are done: they leave the collector's care for good (gc.freeze), and it
    runs again for what the command makes."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM (a CI cancel, `kill`) unwinds like Ctrl-C does: the children are killed and the
    # temporary folders removed on the way out (the default action would skip both)
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: click, plus a last line of defence against tracebacks.

    Given ``argv`` (tests, scripts) it ends in SystemExit, as any click program does. Without
    it the command line is the process's own (the console script, ``python -m archlint``), and
    the process ends as soon as the command is done (archlint/cli/process_exit.py), and onnx's
    message classes are loaded without the onnx package (archlint/onnx_protos.py).
    """
    if argv is not None:
        _run(list(argv))
        return
    end_after_command()
    prefer_standalone()
    _pause_collector()
    try:
        _run(sys.argv[1:])
    except SystemExit as exc:
        exit_now(exc.code)


def _run(args: list[str]) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="archlint", standalone_mode=False)
    except SystemExit:
        raise
    except click.exceptions.Abort:
        click.echo("archlint: error: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        from archlint.render_names import safe_text  # error paths only: --version stays light

        # click's own errors (no such option, bad choice) in archlint's one error style
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(f"{exc.ctx.get_usage()}\nTry '{exc.ctx.command_path} --help'.",
                       err=True)
        # the message can quote a path the user passed (--baseline naming a folder): escaped
        click.echo(safe_text(f"archlint: error: {exc.format_message()}"), err=True)
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except Exception as exc:  # never a traceback for users, unless they ask for one
        from archlint.render_names import safe_text

        if debug:
            import traceback

            traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        click.echo(safe_text(f"archlint: error: internal error: {message} (rerun with --debug)"),
                   err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)
