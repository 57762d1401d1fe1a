"""bench/: the 500-model folder is made of real exports, and the targets are judged honestly
(a missing or failed measurement is never "met"). No timing is asserted here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module", autouse=True)
def bench_on_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCH))
    yield
    sys.path.remove(str(BENCH))


def test_folder_cycles_through_the_committed_exports(tmp_path: Path) -> None:
    from make_folder import make_folder, sources

    exports = sources()
    assert len(exports) > 50 and all(p.suffix == ".onnx" for p in exports)
    written = make_folder(tmp_path, len(exports) + 3)
    assert len(written) == len(exports) + 3
    assert written[0].read_bytes() == exports[0].read_bytes()
    assert written[len(exports)].read_bytes() == exports[0].read_bytes()  # round again
    assert make_folder(tmp_path, 5) == written[:5]  # idempotent; a smaller count trims
    assert sorted(tmp_path.rglob("*.onnx")) == sorted(written[:5])


def _sample(wall: float, status: str = "ok", peak: float = 50.0, work: float | None = None
            ) -> Any:  # bench/measure.py's Sample (bench/ is not a package)
    from measure import Sample

    return Sample(wall, work, peak, status)


def test_ratios_within_the_run_decide() -> None:
    from targets import FLOOR, LINT, PEERS, Measurements, judge

    m = Measurements()
    m.results.update({
        ("scale_1000.onnx", FLOOR): _sample(1.0), ("scale_1000.onnx", LINT): _sample(1.4),
        ("realistic_10000.onnx", FLOOR): _sample(2.0),
        ("realistic_10000.onnx", LINT): _sample(2.6),
        ("scale_1000.onnx", PEERS[0]): _sample(2.0),
        ("realistic_10000.onnx", PEERS[0]): _sample(2.0),
        ("scale_1000.onnx", PEERS[3]): _sample(300.0, "timeout"),
        ("realistic_10000.onnx", PEERS[3]): _sample(0.1, "error: IndexError"),
    })
    verdicts = {v.target: v for v in judge(m, ["scale_1000.onnx"], ["realistic_10000.onnx"],
                                            "bilstm_4x1024.onnx", "sparse_2g")}
    assert verdicts["scale series: lint <= 1.5x floor (process)"].met is True
    realistic = verdicts["realistic series: lint <= 1.2x floor (process)"]
    assert realistic.met is False and "1.30x" in realistic.measured
    assert verdicts[f"faster than {PEERS[0]} at every size (process)"].met is False
    # a peer that finished nowhere is not beaten; one never measured is not met either
    assert verdicts[f"faster than {PEERS[3]} at every size (process)"].met is None
    assert verdicts[f"faster than {PEERS[1]} at every size (process)"].met is None
    assert verdicts["static lint imports no onnxruntime"].met is None
    assert verdicts["2 GB external-data model: lint peak RSS <= 100 MB"].met is None


def test_slow_imports_in_the_floor_are_shown_beside_the_verdict() -> None:
    """A floor process slowed by its imports (ml_dtypes 0.7 takes 0.7 s to start on a slow
    machine) flatters the process ratio: the work ratio is printed beside it, and the start-up
    verdicts say what `import onnx` spends on ml_dtypes."""
    from targets import (
        FLOOR,
        IMPORT_ML_DTYPES,
        IMPORT_ONNX,
        LINT,
        LINT_ONE,
        VERSION,
        Measurements,
        judge,
    )

    m = Measurements()
    m.results.update({
        ("scale_100000.onnx", FLOOR): _sample(2.1, work=1.1),
        ("scale_100000.onnx", LINT): _sample(2.5, work=1.8),
    })
    m.startup.update({IMPORT_ONNX: _sample(1.0), IMPORT_ML_DTYPES: _sample(0.72),
                      VERSION: _sample(0.1), LINT_ONE: _sample(0.2)})
    verdicts = {v.target: v for v in judge(m, ["scale_100000.onnx"], [], "x", "y")}
    scale = verdicts["scale series: lint <= 1.5x floor (process)"]
    assert scale.met is True and scale.measured == "scale 100k 1.19x (work 1.64x)"
    version = verdicts[f"start-up: {VERSION} <= 1.3x {IMPORT_ONNX}"]
    assert version.measured == ("0.10 s vs 1.00 s: 0.10x; import onnx holds import ml_dtypes, "
                                "0.72 s alone")


def test_the_summary_names_the_versions_the_floor_runs_on() -> None:
    from run_bench import versions

    text = versions()
    assert text.startswith("Python 3.") and "onnx 1." in text and "ml_dtypes " in text


def test_jobs_must_also_give_the_same_output() -> None:
    from targets import JobsRun, Measurements, judge

    m = Measurements(jobs=JobsRun(500, _sample(4.0), _sample(2.0), 3.0, 1.5, same_output=False))
    jobs = [v for v in judge(m, [], [], "x", "y") if v.group == "jobs"]
    assert len(jobs) == 2 and all(v.met is False for v in jobs)
    assert "OUTPUT DIFFERS" in jobs[0].measured and "2.00x" in jobs[0].measured


def test_harness_runs_and_summarises(tmp_path: Path) -> None:
    """The smallest end-to-end run (one target, no model to make): a summary and a table."""
    import subprocess

    table = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_bench.py"), "--quick", "--targets", "imports",
         "--markdown", str(table)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "static lint imports no onnxruntime | met" in done.stdout
    assert "| target | measured | met? |" in table.read_text()


def test_busy_is_judged_before_the_first_run_not_at_the_end() -> None:
    """The end's load average holds the bench's own processes: an idle start is an idle run."""
    from run_bench import load_note

    idle = load_note(0.3, 0.0, 1.2, 2)
    assert "busy" not in idle and "0.3 at the start" in idle and "1.2 at the end" in idle
    busy = load_note(1.3, 180.0, 1.3, 2)
    assert "a busy machine" in busy and "after waiting 180 s" in busy


def test_settle_waits_no_longer_than_asked() -> None:
    from run_bench import settle

    load, waited = settle(0.0, 2)
    assert waited < 1.0 and load >= 0.0
