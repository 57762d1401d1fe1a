"""[tool.archlint.params] and [tool.archlint.runtime] reach `archlint params`, `archlint run`
and `archlint lint --runtime`; a command-line option wins over the file, key by key."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import FIXTURES, invoke

LSTM_4_2 = FIXTURES / "exported" / "lstm_4_2.onnx"  # nn.LSTM(4, 2): 64 parameters


def _project(tmp_path: Path, config: str) -> Path:
    shutil.copy(LSTM_4_2, tmp_path / "lstm.onnx")
    (tmp_path / "archlint.toml").write_text(config)
    return tmp_path / "lstm.onnx"


def test_params_budget_from_config_and_cli_override(tmp_path: Path) -> None:
    model = _project(tmp_path, "[params]\nmax-params = 60\n")
    failed = invoke("params", str(model))
    assert failed.exit_code == 1
    assert "64" in failed.output and "60" in failed.output
    assert invoke("params", str(model), "--max-params", "100").exit_code == 0


def test_params_expected_total_in_keras_convention_from_config(tmp_path: Path) -> None:
    model = _project(tmp_path, '[params]\nexpect-params = 56\nconvention = "keras"\n')
    assert invoke("params", str(model)).exit_code == 0  # Keras counts LSTM(2) on 4 as 56
    wrong = invoke("params", str(model), "--convention", "pytorch")
    assert wrong.exit_code == 1  # PyTorch counts 64: 8 more than expected


def test_runtime_providers_from_config_and_cli_override(tmp_path: Path) -> None:
    model = _project(tmp_path, '[runtime]\nproviders = ["cuda"]\n')
    result = invoke("run", str(model))
    assert result.exit_code == 1
    assert "AL505" in result.output and "onnxruntime-gpu" in result.output
    assert invoke("run", str(model), "--provider", "cpu").exit_code == 0


def test_lint_runtime_uses_the_config(tmp_path: Path) -> None:
    model = _project(tmp_path, '[runtime]\nproviders = ["cuda"]\n')
    result = invoke("lint", str(model), "--runtime")
    assert result.exit_code == 1
    assert "AL505" in result.output


def test_bad_runtime_value_names_file_and_key(tmp_path: Path) -> None:
    model = _project(tmp_path, "[runtime]\ntimeout = -1.0\n")
    result = invoke("run", str(model))
    assert result.exit_code == 2
    assert str(tmp_path / "archlint.toml") in result.output
    assert "timeout" in result.output


def test_runtime_profiles_folder_from_config_is_relative_to_the_config(tmp_path: Path) -> None:
    """[runtime] profiles = "stale": a pinned CPU profile that wrongly refuses this GRU, so the
    real onnxruntime placement disagrees with it (AL512)."""
    shutil.copytree(FIXTURES / "AL512" / "stale-profiles", tmp_path / "stale")
    shutil.copy(FIXTURES / "AL512" / "bad.onnx.txt", tmp_path / "gru.onnx.txt")
    (tmp_path / "archlint.toml").write_text('[runtime]\nprofiles = "stale"\n')
    result = invoke("run", str(tmp_path / "gru.onnx.txt"), "--fail-on", "warning")
    assert result.exit_code == 1
    assert "AL512" in result.output and "stale-cpu-gru-linear-before-reset" in result.output
    (tmp_path / "archlint.toml").write_text("[runtime]\nprofiles = 3\n")
    bad = invoke("run", str(tmp_path / "gru.onnx.txt"))
    assert bad.exit_code == 2
    assert "runtime.profiles" in bad.output
