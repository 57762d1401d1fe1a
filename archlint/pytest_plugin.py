"""``pytest --archlint``: every ``*.onnx`` file pytest walks past becomes one test item.

Registered through the ``pytest11`` entry point, so installing archlint is enough; without
``--archlint`` the plugin does nothing. Each model is linted through the same application layer
as ``archlint lint`` (:mod:`archlint.app`), with the config that governs it (searched upwards
from the model): every key reaches it - select, ignore, severity, per-path and per-node ignores,
targets and fail-on. An item fails when a finding reaches fail-on, and its failure shows the
findings as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from archlint import app
    from archlint.api import Finding
    from archlint.registry import RuleSet

# pytest imports this module in every session of an environment where archlint is installed
# (the pytest11 entry point): the engine, onnx included, is imported only under --archlint.
_RULES: pytest.StashKey[RuleSet] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archlint", "archlint: lint ONNX models as tests")
    group.addoption("--archlint", action="store_true", default=False,
                    help="Collect *.onnx files as test items and lint them with archlint.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "archlint: an ONNX model linted by archlint")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if parent.config.getoption("archlint") and file_path.suffix == ".onnx":
        file: ArchlintFile = ArchlintFile.from_parent(parent, path=file_path)
        return file
    return None


class ArchlintFindings(Exception):
    """The findings that made a model's item fail."""

    def __init__(self, findings: tuple[Finding, ...], error: str | None = None) -> None:
        super().__init__(error or f"{len(findings)} findings")
        self.findings = findings
        self.error = error


def _rules(config: pytest.Config) -> RuleSet:
    """The installed rules, loaded once per session."""
    from archlint import app

    if _RULES not in config.stash:
        try:
            config.stash[_RULES] = app.rules()
        except app.AppError as exc:
            raise pytest.UsageError(f"archlint: {exc}") from exc
    return config.stash[_RULES]


class ArchlintFile(pytest.File):
    def collect(self) -> list[ArchlintItem]:
        from archlint import app

        # a bad config is reported once per model at collection, as one line naming file and key
        try:
            plan = app.plan_lint(app.read_config([self.path]), ruleset=_rules(self.config))
        except app.AppError as exc:
            raise self.CollectError(f"archlint: error: {exc}") from exc
        item: ArchlintItem = ArchlintItem.from_parent(self, name="archlint")
        item.archlint_plan = plan
        item.add_marker("archlint")
        return [item]


class ArchlintItem(pytest.Item):
    archlint_plan: app.LintPlan

    def runtest(self) -> None:
        plan = self.archlint_plan
        shown = self.nodeid.split("::")[0]
        report = plan.linter.lint_file(self.path, shown)
        if report.error is not None:
            raise ArchlintFindings((), error=f"{shown}: {report.error}")
        if plan.fails(report):
            raise ArchlintFindings(report.findings)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None
    ) -> str:
        if isinstance(excinfo.value, ArchlintFindings):
            from archlint.reporters.text import format_finding

            if excinfo.value.error is not None:
                return f"archlint: error: {excinfo.value.error}"
            return "\n".join(format_finding(f) for f in excinfo.value.findings)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"archlint: {self.path.name}"
