"""Many models: -j N gives the same report in the same order; progress only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

from archlint.report import ModelReport, Report

from .conftest import ARCHLINT, FIXTURES, run_archlint, without_timings

ONLY = ("--select", "AL201,AL301")  # counts below must not move when rules are added


def _tree(tmp_path: Path) -> Path:
    """A folder of real exports plus two broken models, in nested folders."""
    root = tmp_path / "models"
    for i, src in enumerate(sorted((FIXTURES / "exported").glob("*.onnx"))[:8]):
        dest = root / f"group{i % 3}" / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    import onnx

    for code in ("AL201", "AL301"):
        model = onnx.parser.parse_model((FIXTURES / code / "bad.onnx.txt").read_text())
        onnx.save_model(model, root / "group1" / f"{code.lower()}_bad.onnx")
    return root


def test_parallel_output_equals_serial(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    serial = run_archlint("lint", *ONLY, str(root), "--format", "json")
    parallel = run_archlint("lint", *ONLY, str(root), "--format", "json", "-j", "3")
    assert serial.returncode == parallel.returncode == 1
    assert without_timings(serial.stdout) == without_timings(parallel.stdout)
    paths = [m["path"] for m in json.loads(parallel.stdout)["models"]]
    assert paths == sorted(paths) and len(paths) == 10
    text_serial = run_archlint("lint", *ONLY, str(root))
    text_parallel = run_archlint("lint", *ONLY, str(root), "--jobs", "2")
    # the summary's timing ("[0.12s]") differs, the rest is identical
    assert text_serial.stdout.rsplit("[", 1)[0] == text_parallel.stdout.rsplit("[", 1)[0]
    assert "4 findings (4 errors, 0 warnings, 0 infos) in 10 models" in text_parallel.stdout


def test_no_progress_when_piped(tmp_path: Path) -> None:
    proc = run_archlint("lint", *ONLY, str(_tree(tmp_path)), "--format", "json")
    assert proc.stderr.startswith("4 findings")  # the summary line only, no bar
    assert "\r" not in proc.stderr


def _stderr_on_a_terminal(args: list[str]) -> str:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*ARCHLINT, *args], stdout=subprocess.PIPE, stderr=secondary,
                            env={**os.environ, "TERM": "xterm"})
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.communicate(timeout=120)
    os.close(primary)
    return b"".join(chunks).decode()


def test_progress_bar_on_a_terminal_and_quiet_silences_it(tmp_path: Path) -> None:
    root = str(_tree(tmp_path))
    shown = _stderr_on_a_terminal(["lint", root, "--format", "json"])
    assert "10/10" in shown and "[####" in shown
    quiet = _stderr_on_a_terminal(["lint", root, "--format", "json", "--quiet"])
    assert quiet == ""


def test_jobs_must_be_positive(tmp_path: Path) -> None:
    proc = run_archlint("lint", str(FIXTURES / "AL201" / "bad.onnx.txt"), "-j", "0")
    assert proc.returncode == 2
    assert "Invalid value for '--jobs' / '-j'" in proc.stderr


def test_two_jobs_give_the_serial_report_on_real_exports(tmp_path: Path) -> None:
    """Every rule, real exports from every exporter folder (PyTorch, Keras, states, defects,
    fixes, quantized) interleaved so that tasks mix them: -j 2 reports what -j 1 does, in the
    same order, finding for finding."""
    import dataclasses
    from itertools import zip_longest

    from archlint.app import lint

    root = tmp_path / "models"
    folders = ("exported", "keras", "exported_states", "exported_defects", "exported_fixes",
               "quantized")
    sources = [sorted((FIXTURES / folder).glob("*.onnx"))[:6] for folder in folders]
    mixed = [path for group in zip_longest(*sources) for path in group if path is not None]
    for i, src in enumerate(mixed):
        dest = root / f"{i:03d}_{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    serial, _ = lint([str(root)], respect_gitignore=False, jobs=1)
    parallel, _ = lint([str(root)], respect_gitignore=False, jobs=2)

    def timeless(report: Report) -> list[ModelReport]:
        return [dataclasses.replace(m, elapsed_s=0.0) for m in report.models]

    assert len(serial.models) == len(mixed) == 32
    assert any(m.findings for m in serial.models)  # the defects and bad states are found
    assert timeless(parallel) == timeless(serial)
