"""The timed runs after the first stop at a budget (archlint/runtime/worker.py).

A 3 MB U-Net whose one run took 8 s on a busy machine made ``lint --runtime`` six runs
long (the first, then five timed for a median): 48 to 76 s for one fixed-shape model. The
timed runs now stop after TIMED_RUNS_BUDGET_S of them, and a first run that long is the only
one. Real onnxruntime sessions on a small LSTM; the budget is set per test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from archlint.runtime import worker

from .conftest import FIXTURES

MODEL = FIXTURES / "AL324" / "good.onnx.txt"


def _job(tmp_path: Path, runs: int) -> dict[str, object]:
    model = tmp_path / "policy.onnx"
    onnx.save_model(onnx.parser.parse_model(MODEL.read_text()), model)
    zeros = np.zeros((1, 1, 2), np.float32)
    np.savez(tmp_path / "inputs.npz", obs=np.ones((1, 2), np.float32), h_in=zeros, c_in=zeros)
    return {"id": "main", "model": str(model), "providers": ["CPUExecutionProvider"],
            "inputs": "inputs.npz", "runs": runs, "profile": False}


def test_the_runs_asked_for_are_made_within_the_budget(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "TIMED_RUNS_BUDGET_S", 60.0)
    result, arrays = worker._session_job(_job(tmp_path, 5), tmp_path)
    assert (result["status"], result["runs"]) == ("ok", 5)
    assert result["median_run_s"] >= 0 and set(arrays) == {"o0", "o1", "o2"}


def test_a_first_run_as_long_as_the_budget_is_the_only_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "TIMED_RUNS_BUDGET_S", 0.0)
    result, arrays = worker._session_job(_job(tmp_path, 5), tmp_path)
    assert (result["status"], result["runs"]) == ("ok", 0)
    assert "median_run_s" not in result and result["first_run_s"] >= 0
    assert set(arrays) == {"o0", "o1", "o2"}  # the outputs are the first run's

