"""Torch exports whose layer is unrolled at the example's length over a dynamic time axis
(swept from real libraries: torch's own nn.RNN, torchaudio, speechbrain). fixtures/
dynamo_unbind/: the dynamo export of nn.RNN with a dynamic time axis, each step a SequenceAt
of one SplitToSequence of the input projection; the chain is recognised as with a Split, and
AL317 says the time axis it was cut from is dynamic: onnxruntime runs 9 steps of input and
returns 5. fixtures/speechbrain/: an attentional decoder over x."""

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


def test_an_attentional_decoder_over_x_is_a_layer_over_x_and_al317_names_its_length() -> None:
    """speechbrain's AttentionalRNNDecoder (fixtures/speechbrain/): each step's LSTM input is
    Concat(x_t, context), the context computed from the state before. The steps own one
    slice of x each (the attention's own x_0, of the features, is the first step's), so the
    layer runs over x, not as an autoregressive decoder, and AL317 says the 7 steps the
    export traced are cut from x's dynamic time axis: onnxruntime runs 9 and returns 7."""
    path = FIXTURES / "speechbrain" / "attentional_decoder_classic.onnx"
    result = invoke("params", str(path), "--format", "json")
    [model] = json.loads(result.output)["models"]
    [row] = [row for row in model["layers"] if row["kind"] == "recurrent"]
    assert (row["op_type"], row["recognised_as"], row["direction"], row["params"]["pytorch"]) \
        == ("LSTM", "unrolled", "forward", 1296)
    assert not any("autoregressive decoder" in note for note in row["notes"])
    result = invoke("lint", str(path), "--format", "json")
    [linted] = json.loads(result.stdout)["models"]
    [error] = [f for f in linted["findings"] if f["severity"] == "error"]
    assert error["code"] == "AL317" and "computes 7 steps, cut from axis 1 of 'x'" in \
        error["message"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"x": np.zeros((2, 9, 5), np.float32)})
    assert y.shape[1] == 7
