"""torch's dynamo export of nn.RNN with a dynamic time axis (fixtures/dynamo_unbind/): the
layer is unrolled at the example's 5 steps, each step a SequenceAt of one SplitToSequence of
the input projection. The chain is recognised as with a Split, and AL317 says the time axis
it was cut from is dynamic: onnxruntime runs 9 steps of input and returns 5."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "dynamo_unbind"


@pytest.mark.parametrize(("name", "directions"), [
    ("rnn_dynamo_tanh_uni.onnx", ["forward"]),
    ("rnn_dynamo_relu_bi.onnx", ["forward", "reverse"]),
])
def test_the_unbound_steps_are_one_layer_cut_from_a_dynamic_axis(
        name: str, directions: list[str]) -> None:
    result = invoke("params", str(HERE / name), "--format", "json")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.output)["models"]
    rows = [row for row in model["layers"] if row["kind"] == "recurrent"]
    assert [(row["op_type"], row["recognised_as"], row["direction"], row["input_size"],
             row["implied_hidden_size"], row["params"]["pytorch"]) for row in rows] == [
        ("RNN", "unrolled", direction, 3, 4, 12 + 16 + 8) for direction in directions]
    result = invoke("lint", str(HERE / name), "--format", "json")
    [linted] = json.loads(result.stdout)["models"]
    errors = [f for f in linted["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["AL317"] * len(directions)
    assert all("computes 5 steps" in f["message"] for f in errors)
    session = ort.InferenceSession(str(HERE / name), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"x": np.zeros((2, 9, 3), np.float32)})
    assert y.shape[1] == 5  # 9 steps in, 5 out: the steps the export traced
