"""A one-line progress bar on stderr for long lints; silent unless stderr is a terminal."""

from __future__ import annotations

from collections.abc import Sequence

import click

from archlint.engine import ModelReport
from archlint.loader import LoadError, discover_models

__all__ = ["ProgressLine"]


class ProgressLine:
    """``[12/40] models/foo.onnx`` on one stderr line, only on a terminal; gone at the end."""

    def __init__(self, paths: Sequence[str], enabled: bool) -> None:
        self.enabled, self.done, self.total = enabled, 0, 0
        if enabled:
            try:
                self.total = sum(1 for _ in discover_models(paths))
            except LoadError:
                self.enabled = False  # the linter reports it
        self.enabled = self.enabled and self.total > 1

    def __enter__(self) -> ProgressLine:
        return self

    def advance(self, model: ModelReport) -> None:
        self.done += 1
        if self.enabled:
            width = 30
            filled = width * self.done // self.total
            line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {model.path}"
            click.echo("\r\x1b[2K" + line[:120], err=True, nl=False)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            click.echo("\r\x1b[2K", err=True, nl=False)
