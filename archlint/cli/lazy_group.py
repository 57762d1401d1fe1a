"""A click group whose commands are imported when they run, not when the group is built.

``archlint --version`` and ``archlint --help`` then import click and nothing of archlint's
engine, and ``archlint lint`` imports the lint command's modules only (no onnxruntime, drawing
or parameter counting). The help listing reads each command's summary from the table, so
listing the commands imports none of them; tests/test_startup.py checks the table against
the commands' own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``"module:attribute"``), the first sentence of its help, and
    whether it reads models (then the shape-inference worker is started before the command's
    modules are imported: the two overlap). A command that ``hands_over`` its first model also
    gives the worker the first ``.onnx`` file its arguments name, to infer while the command's
    modules are imported (archlint.inference.hand_over: used only if the command reads those
    very bytes first)."""

    target: str
    summary: str
    reads_models: bool = False
    hands_over: bool = False

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group that imports a command from its :class:`LazyCommand` on first lookup."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            lazy = self.lazy_commands[cmd_name]
            if lazy.reads_models:
                from archlint.inference import warm_up

                warm_up()
            self.add_command(lazy.load(), cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in self.lazy_commands:
            # a typo: click suggests the nearest of the loaded commands, so load them all
            for name in self.lazy_commands:
                self.get_command(ctx, name)
        lazy = self.lazy_commands.get(args[0]) if args else None
        if lazy is not None and lazy.hands_over and args[0] not in self.commands \
                and "--runtime" not in args:  # a runtime's deadline starts its own inference
            from archlint.inference import hand_over

            first = next((arg for arg in args[1:] if arg.lower().endswith(".onnx")), None)
            if first is not None:
                hand_over(first)  # before get_command imports the command
        return super().resolve_command(ctx, args)

    def listed_help(self, name: str, limit: int) -> str:
        """A command's line in the listing: from the command once loaded, else the table."""
        loaded = self.commands.get(name)
        if loaded is not None:
            return loaded.get_short_help_str(limit)
        # shortened by click's own rule, as the command would shorten it
        return click.Command(name, help=self.lazy_commands[name].summary).get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, less the get_command that would import every command
        names = [name for name in self.list_commands(ctx)
                 if name not in self.commands or not self.commands[name].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.listed_help(name, limit)) for name in names])
