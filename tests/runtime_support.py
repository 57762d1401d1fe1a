"""One model through the runtime check and the runtime rules, as the engine does it, keeping
the typed run for assertions on its facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from archlint.api import Finding, Rule
from archlint.engine import Linter, analyse
from archlint.loader import load_model
from archlint.runtime.check import run_model
from archlint.runtime.inputs import InputSpec
from archlint.runtime.result import RuntimeRun
from archlint.runtime.settings import RuntimeSettings


@dataclass(frozen=True)
class Checked:
    findings: tuple[Finding, ...]
    run: RuntimeRun

    @property
    def notes(self) -> tuple[str, ...]:
        return self.run.notes

    @property
    def dims(self) -> str:
        return self.run.dims

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.run.output_lines

    @property
    def placement(self) -> tuple[str, ...]:
        return self.run.placement_lines

    @property
    def inputs(self) -> tuple[InputSpec, ...]:
        return self.run.inputs


def check(path: Path, rules: Sequence[type[Rule]], settings: RuntimeSettings,
          shown: str | None = None) -> Checked:
    ctx = analyse(load_model(path, shown or str(path)))
    run = run_model(ctx, settings)
    return Checked(tuple(Linter(rules).check_run(run, ctx)), run)
