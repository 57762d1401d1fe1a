"""External data is never read by a static lint, and unsafe locations are never opened."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archlint.engine import Linter, ModelReport
from archlint.registry import load_rules

from .conftest import FIXTURES, run_archlint

sys.path.insert(0, str(FIXTURES))
import onnx
from make_binary_fixtures import lstm_with_external_w

_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _RECORDING[0] and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))  # type: ignore[arg-type]


sys.addaudithook(_audit)  # audit hooks cannot be removed, so one hook records on demand


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Paths opened by this process during lint_recorded() calls (sys.audit 'open' events)."""
    _OPENED.clear()
    yield _OPENED
    _OPENED.clear()


def lint_recorded(path: Path) -> ModelReport:
    _RECORDING[0] = True
    try:
        return Linter(load_rules().rules).lint_file(path)
    finally:
        _RECORDING[0] = False


def _lint(path: Path) -> list[tuple[str, str | None]]:
    report = lint_recorded(path)
    assert report.error is None, report.error
    return [(f.code, f.actual) for f in report.findings]


def test_lint_never_opens_the_data_file(tmp_path: Path, opened_paths: list[str]) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    onnx.save_model(lstm_with_external_w("w.bin", model_dir / "w.bin"), model_dir / "model.onnx")
    assert _lint(model_dir / "model.onnx") == []
    assert str(model_dir / "model.onnx") in opened_paths
    assert not [p for p in opened_paths if p.endswith("w.bin")]


def test_unreadable_data_file_still_lints(tmp_path: Path) -> None:
    """The data file is a FIFO with no writer: any read would block until the timeout. It is
    never opened, and a FIFO is no data file: AL002 says so (issue 18), judged by stat."""
    onnx.save_model(lstm_with_external_w("w.bin", None), tmp_path / "model.onnx")
    os.mkfifo(tmp_path / "w.bin")
    proc = run_archlint("lint", str(tmp_path / "model.onnx"), timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == (
        f"{tmp_path / 'model.onnx'}: AL002 error: initializer 'W' has external-data location "
        "'w.bin': location names a FIFO, device or socket, not a data file; archlint did not "
        "open it")


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("../../etc/passwd", "location contains '..'"),
        ("/etc/passwd", "absolute location"),
        ("sub/../../outside.bin", "location contains '..'"),
    ],
)
def test_escaping_location_is_a_finding_and_never_opened(
    tmp_path: Path, opened_paths: list[str], location: str, problem: str
) -> None:
    onnx.save_model(lstm_with_external_w(location, None), tmp_path / "model.onnx")
    report = lint_recorded(tmp_path / "model.onnx")
    [finding] = report.findings
    assert (finding.code, finding.actual, finding.location.tensor) == ("AL002", location, "W")
    assert problem in finding.message
    assert not [p for p in opened_paths if "passwd" in p or "outside" in p]


def test_symlink_escaping_the_folder_is_refused(tmp_path: Path, opened_paths: list[str]) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 192)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").symlink_to(outside)
    onnx.save_model(lstm_with_external_w("w.bin", None), model_dir / "model.onnx")
    report = lint_recorded(model_dir / "model.onnx")
    [finding] = report.findings
    assert finding.code == "AL002"
    assert "resolves outside the model's folder" in finding.message
    assert not [p for p in opened_paths if p.endswith(("secret.bin", "w.bin"))]


def test_special_file_location_is_not_read(tmp_path: Path) -> None:
    """A symlink to /dev/zero inside the folder: resolves outside, refused, never read."""
    (tmp_path / "w.bin").symlink_to("/dev/zero")
    onnx.save_model(lstm_with_external_w("w.bin", None), tmp_path / "model.onnx")
    proc = run_archlint("lint", str(tmp_path / "model.onnx"), timeout=60)
    assert proc.returncode == 1
    assert "AL002 error" in proc.stdout


def test_lint_does_not_write_next_to_the_model(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "AL002", tmp_path / "m")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir()}
    run_archlint("lint", str(tmp_path / "m"))
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "m").iterdir()}
    assert before == after
