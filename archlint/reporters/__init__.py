"""Reporters: pure functions from a Report to text. None of them contains check logic.

The registries name each reporter's module and import it when it is asked for: a lint that
writes text imports no SARIF, HTML or drawing code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from archlint.drawing.pictures import ModelPictures
    from archlint.report import Report

Reporter = Callable[["Report"], str]
RichReporter = Callable[["Report", "Mapping[str, ModelPictures] | None"], str]
F = TypeVar("F", bound=Callable[..., Any])


class LazyFunctions(Mapping[str, F]):
    """name -> ``"module:function"``, the function imported on first lookup."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)

    def __getitem__(self, name: str) -> F:
        module, _, attribute = self._targets[name].partition(":")
        return cast(F, getattr(importlib.import_module(module), attribute))

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


REPORTERS: Mapping[str, Reporter] = LazyFunctions({
    "text": "archlint.reporters.text:render",
    "json": "archlint.reporters.json_report:render",
    "sarif": "archlint.reporters.sarif:render",
    "junit": "archlint.reporters.junit:render",
    "github": "archlint.reporters.github:render",
    "gitlab": "archlint.reporters.gitlab:render",
    "markdown": "archlint.reporters.markdown:render",
    "html": "archlint.reporters.html:render",
})
# Formats that also show pictures and parameter tables when the front end builds them
# (archlint.app.pictures): the reporter takes them as a second argument.
RICH_FORMATS: Mapping[str, RichReporter] = LazyFunctions({
    "markdown": "archlint.reporters.markdown:render",
    "html": "archlint.reporters.html:render",
})
# Formats a machine parses: the summary line goes to stderr, never into the report.
MACHINE_FORMATS = frozenset({"json", "sarif", "junit", "github", "gitlab"})

__all__ = ["MACHINE_FORMATS", "REPORTERS", "RICH_FORMATS", "LazyFunctions", "Reporter",
           "RichReporter"]
