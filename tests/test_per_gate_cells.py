"""Cells written with one nn.Linear per gate (fixtures/per_gate/, torch 2.13 exports): each step
holds one input product per gate, all reading the same x_t. They are one step, not a chain that
reads x_0, x_0, x_0, x_0, x_1...: the layer is found, counted, and, traced over a dynamic time
axis, AL317's error (onnxruntime runs 9 steps of input and returns the 7 the export traced)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "per_gate"
MANIFEST: dict[str, dict[str, Any]] = json.loads((HERE / "manifest.json").read_text())


def test_every_committed_model_is_in_the_manifest() -> None:
    assert sorted(MANIFEST) == sorted(p.stem for p in HERE.glob("*.onnx"))
    assert all(entry["matches_torch"] for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_one_layer_per_model_with_the_framework_count(name: str) -> None:
    entry = MANIFEST[name]
    result = invoke("params", str(HERE / f"{name}.onnx"), "--format", "json")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.output)["models"]
    assert [(row["op_type"], row["recognised_as"], row["direction"], row["input_size"],
             row["implied_hidden_size"]) for row in model["layers"]] == [
        (entry["kind"], "unrolled", "forward", entry["I"], entry["H"])]
    # the Keras column is the cell with one bias per gate: the LSTM's x-Linears hold it
    assert model["totals"]["onnx"] == model["totals"]["keras"] == entry["torch_params"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_steps_traced_over_a_dynamic_time_axis_are_al317(name: str) -> None:
    result = invoke("lint", str(HERE / f"{name}.onnx"), "--format", "json")
    [model] = json.loads(result.stdout)["models"]
    codes = sorted(f["code"] for f in model["findings"])
    if "ort_shape_at_9" not in MANIFEST[name]:  # dynamo: fixed sizes
        assert codes == ["AL025"]
        return
    assert codes == ["AL025", "AL317"]
    [error] = [f for f in model["findings"] if f["code"] == "AL317"]
    assert "computes 7 steps, cut from axis 1 of 'x', which is 'time'" in error["message"]
    session = ort.InferenceSession(str(HERE / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"x": np.zeros((2, 9, 6), np.float32)})
    assert y.shape[1] == MANIFEST[name]["ort_shape_at_9"][1] == 7
