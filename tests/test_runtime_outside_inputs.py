"""The onnx package's own test cases with sequence and optional inputs, Loops and Scans, and
models whose shapes follow scalar inputs archlint has to make up (a hunt through public
packages ran them: each was a false error of the runtime check). A made-up value that
changes an output's shape is a warning, not an error; a sequence input is fed as a
sequence; a loop that multiplies by no weight is no unseen layer."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from .conftest import run_archlint


def _case(backend_cases: list, name: str, tmp_path: Path) -> Path:
    [case] = [c for c in backend_cases if c.name == name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(case.model, path)
    return path


def _run(path: Path) -> dict:
    proc = run_archlint("run", str(path), "--format", "json", "--exit-zero")
    assert proc.returncode == 0, proc.stderr
    [model] = json.loads(proc.stdout)["models"]
    return model


@pytest.mark.parametrize("name", ["test_sequence_map_identity_1_sequence_expanded",
                                  "test_sequence_map_identity_1_sequence_1_tensor_expanded",
                                  "test_loop13_seq", "test_loop16_seq_none"])
def test_a_sequence_input_is_fed_as_a_sequence(name: str, backend_cases: list,
                                               tmp_path: Path) -> None:
    """onnxruntime refused the tensor archlint fed ('expected to be of type: 3 but received
    a tensor'): AL502, an error about archlint's own inputs."""
    model = _run(_case(backend_cases, name, tmp_path))
    assert [f["code"] for f in model["findings"] if f["severity"] == "error"] == []
    assert any(spec["dtype"].startswith("seq(") and spec["invented"]
               and spec["values"].startswith("a sequence of 2 random tensors")
               for spec in model["runtime"]["inputs"])


@pytest.mark.parametrize(("name", "output"), [
    ("test_loop11", "res_scan"), ("test_range_float_type_positive_delta_expanded", "output")])
def test_a_shape_that_follows_made_up_values_is_a_warning(
        name: str, output: str, backend_cases: list, tmp_path: Path) -> None:
    """The trip count (an integer nothing bounds) and Range's float scalars are archlint's
    choice: the output's declared shape holds for the test's own values."""
    model = _run(_case(backend_cases, name, tmp_path))
    [finding] = [f for f in model["findings"] if f["code"] == "AL507"]
    assert (finding["severity"], finding["location"]["tensor"]) == ("warning", output)
    assert "on values archlint invented for" in finding["message"]


_RUNNING_POWER = """<ir_version: 8, opset_import: ["" : 14]>
normalised (float[1, 1, 2] x, float[2] pow_state) => (float[2] out, float[2] new_pow)
<float[1, 6, 2] W = {0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44},
 float[1, 6, 2] R = {0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62}>
{
  [gru] y, y_h = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (x, W, R)
  [squeeze] h = Squeeze (y_h)
  [square] h2 = Mul (h, h)
  [accumulate] new_pow = Add (pow_state, h2)
  [rms] root = Sqrt (new_pow)
  [normalise] out = Div (h, root)
}"""


def test_nan_only_from_a_negative_made_up_state_is_a_warning(tmp_path: Path) -> None:
    """DeepFilterNet's streaming state holds running powers, never negative: Sqrt of the
    random state in [-1, 1) gave NaN, an AL508 error. With the state's absolute values the
    outputs are finite: a warning that asks for the inputs the model is meant for."""
    path = tmp_path / "running_power.onnx"
    onnx.save(onnx.parser.parse_model(_RUNNING_POWER), path)
    model = _run(path)
    [finding] = [f for f in model["findings"] if f["code"] == "AL508"]
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "normalise")
    assert "and none when those inputs are non-negative" in finding["message"]


@pytest.mark.parametrize("name", ["test_scan_sum", "test_scan9_sum", "test_loop11",
                                  "test_range_float_type_positive_delta_expanded",
                                  "test_sequence_map_identity_1_sequence_expanded"])
def test_a_loop_that_multiplies_by_no_weight_is_no_unseen_layer(
        name: str, backend_cases: list, tmp_path: Path) -> None:
    """A Loop or Scan whose body holds no MatMul, Gemm, Conv or recurrent op (a running sum,
    a counter, audio framing in wespeaker's export) computes no layer: it was listed among
    the layers lint and params could not see."""
    path = _case(backend_cases, name, tmp_path)
    proc = run_archlint("lint", str(path), "--format", "json", "--exit-zero")
    assert json.loads(proc.stdout)["models"][0]["unseen"] == []
