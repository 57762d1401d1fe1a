"""``pytest --archlint``: every ``*.onnx`` file pytest walks past becomes one test item.

Registered through the ``pytest11`` entry point, so installing archlint is enough; without
``--archlint`` the plugin does nothing. Each model is linted with the config that governs it
(``[tool.archlint]`` / ``archlint.toml``, searched upwards from the model, exactly as
``archlint lint`` does): select, ignore, severity, per-path and per-node ignores and fail-on.
An item fails when a finding reaches fail-on, and its failure shows the findings as text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint.api import Finding, Severity
from archlint.config import Config, ConfigError, lint_settings, load_config
from archlint.engine import Linter
from archlint.registry import (
    RegistryError,
    RuleSet,
    load_rules,
    select_rules,
    unknown_prefixes,
)
from archlint.reporters.text import format_finding
from archlint.suppress import Suppressions

_RULES = pytest.StashKey[RuleSet]()


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
    if _RULES not in config.stash:
        try:
            config.stash[_RULES] = load_rules()
        except RegistryError as exc:
            raise pytest.UsageError(f"archlint: {exc}") from exc
    return config.stash[_RULES]


class ArchlintFile(pytest.File):
    def collect(self) -> list[ArchlintItem]:
        # a bad config is reported once per model at collection, as one line naming file and key
        try:
            config = load_config([self.path])
        except ConfigError as exc:
            raise self.CollectError(f"archlint: error: {exc}") from exc
        settings = lint_settings(config)
        unknown = unknown_prefixes(_rules(self.config).rules, [*settings.select, *settings.ignore])
        if unknown:  # a typo must not silently select nothing
            raise self.CollectError(f"archlint: error: {config.path}: unknown rule code or "
                                    f"prefix: {', '.join(unknown)} (see `archlint rules`)")
        item: ArchlintItem = ArchlintItem.from_parent(self, name="archlint")
        item.archlint_config = config
        item.add_marker("archlint")
        return [item]


class ArchlintItem(pytest.Item):
    archlint_config: Config = Config()

    def runtest(self) -> None:
        config = self.archlint_config
        settings = lint_settings(config)
        ruleset = _rules(self.config)
        rules = select_rules(ruleset.rules, settings.select, settings.ignore)
        linter = Linter(rules, settings.severity, suppressions=Suppressions.from_config(config))
        shown = self.nodeid.split("::")[0]
        report = linter.lint_file(self.path, shown)
        if report.error is not None:
            raise ArchlintFindings((), error=f"{shown}: {report.error}")
        if settings.fail_on == "never":
            return
        threshold = Severity.parse(settings.fail_on).rank
        if any(f.severity.rank >= threshold for f in report.findings):
            raise ArchlintFindings(report.findings)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None
    ) -> str:
        if isinstance(excinfo.value, ArchlintFindings):
            if excinfo.value.error is not None:
                return f"archlint: error: {excinfo.value.error}"
            return "\n".join(format_finding(f) for f in excinfo.value.findings)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"archlint: {self.path.name}"
