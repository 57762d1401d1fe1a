"""A lint frees each model as soon as its report is made (reference counting alone: the views
hold no cycles), except the last one of a process that ends right after its command."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from archlint import engine, process_end
from archlint.api import RuleContext
from archlint.engine import Linter
from archlint.registry import load_rules
from tests.conftest import FIXTURES

MODELS = [FIXTURES / "AL305" / "bad.onnx.txt", FIXTURES / "AL306" / "bad.onnx.txt"]


@pytest.fixture
def analysed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[weakref.ref[object]]]:
    """Weak references to the graph index of every model linted (the bulk of its views)."""
    seen: list[weakref.ref[object]] = []
    real = engine.analyse

    def recording(*args: object, **kwargs: object) -> RuleContext:
        ctx = real(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(weakref.ref(ctx.graph))
        return ctx

    monkeypatch.setattr(engine, "analyse", recording)
    gc.disable()  # only reference counting may free them
    try:
        yield seen
    finally:
        gc.enable()
        process_end.release()


def _lint(path: Path) -> None:
    report = Linter(load_rules().rules).lint_file(path)
    assert report.error is None and report.findings  # the layout rules' memos were built


def test_an_in_process_lint_frees_the_model_when_its_report_is_made(
    analysed: list[weakref.ref[object]],
) -> None:
    for path in MODELS:
        _lint(path)
    assert [ref() for ref in analysed] == [None, None]


def test_a_process_ending_after_its_command_keeps_only_the_last_model(
    analysed: list[weakref.ref[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_end, "_ends_after_command", True)
    _lint(MODELS[0])
    assert analysed[0]() is not None
    assert gc.get_freeze_count() > 0  # the collector never walks what is kept
    _lint(MODELS[1])  # the first is freed before the second is read
    assert analysed[0]() is None and analysed[1]() is not None
    process_end.release()
    assert analysed[1]() is None and gc.get_freeze_count() == 0
