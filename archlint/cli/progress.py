"""A one-line progress bar on stderr for long lints; silent unless stderr is a terminal."""

from __future__ import annotations

import click

from archlint.render_names import safe_text
from archlint.report import ModelReport

__all__ = ["ProgressLine"]


class ProgressLine:
    """``[12/40] models/foo.onnx`` on one stderr line, only on a terminal; gone at the end.

    ``start(total)`` is called once the models are found (they are found once, by the app)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.done, self.total = enabled, 0, 0

    def __enter__(self) -> ProgressLine:
        return self

    def start(self, total: int) -> None:
        self.total = total
        self.enabled = self.enabled and total > 1

    def advance(self, model: ModelReport) -> None:
        self.done += 1
        if self.enabled:
            width = 30
            filled = width * self.done // self.total
            bar = f"[{'#' * filled}{'.' * (width - filled)}]"
            line = f"{bar} {self.done}/{self.total} {safe_text(model.path)}"
            click.echo("\r\x1b[2K" + line[:120], err=True, nl=False)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            click.echo("\r\x1b[2K", err=True, nl=False)
