"""One weight stored again for each node that reads it: nvidia-modelopt's quantization
copies every shared initializer per reader (fixtures/modelopt/), tflite2onnx gives every
step's Gemm its own C (fixtures/tflite2onnx/), and a dynamo export slices one parameter four
times to reorder the gates. The copies are stored, so ONNX counts them; the frameworks hold
one weight, so PyTorch and Keras count it once, and the layer is recognised through them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .conftest import FIXTURES, invoke


def _params(path: Path) -> dict[str, Any]:
    result = invoke("params", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.output)["models"]
    return model


@pytest.mark.parametrize(("name", "op", "onnx_count", "pytorch", "keras"), [
    # torch's nn.RNN(4, 3) unrolled by the dynamo exporter: 12 + 9 + 3 + 3
    ("modelopt/rnn_uni_int8_dup.onnx", "RNN", 63, 27, 24),  # R stored 5 times (int8 + DQ)
    ("modelopt/mo_rnn_uni.int4_rtn.onnx", "RNN", 75, 27, 24),  # R and b_hh 5 times (int4)
    ("modelopt/lstm_trace_dup_consts.onnx", "LSTM", 540, 108, 96),  # float copies alone
    ("modelopt/k2_simple_rnn_body_cast.onnx", "RNN", 32, 36, 32),  # Gather(Cast(x16)) in a Loop
    ("tflite2onnx/unrolled_rnn_bias_copies.onnx", "RNN", 133, 84, 77),  # a C per step's Gemm
    ("tflite2onnx/unrolled_rnn_seq_bias_copies.onnx", "RNN", 112, 36, 32),
])
def test_the_layer_is_found_and_counted_once_in_the_frameworks(
        name: str, op: str, onnx_count: int, pytorch: int, keras: int) -> None:
    rows = [row for row in _params(FIXTURES / name)["layers"] if row["kind"] == "recurrent"]
    [row] = rows
    assert row["op_type"] == op
    assert row["params"] == {"onnx": onnx_count, "pytorch": pytorch, "keras": keras}


def test_a_native_lstm_whose_weight_is_sliced_from_four_copies(tmp_path: Path) -> None:
    """A dynamo export reorders an nn.LSTM's gates by slicing weight_hh four times and
    concatenating the slices; modelopt gives each Slice its own copy of weight_hh. R holds
    4·H·H values once: the frameworks count 4·H·H, ONNX the four stored copies."""
    hidden, size = 3, 2
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4 * hidden, hidden)).astype(np.float32)
    inits = [numpy_helper.from_array(weight, f"weight_hh_{k}") for k in range(4)]
    inits += [numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, size)).astype(
        np.float32), "W")]
    nodes = []
    for k, (start, end) in enumerate(((0, 3), (9, 12), (3, 6), (6, 9))):  # i, o, f, c
        inits += [numpy_helper.from_array(np.array([start]), f"s{k}"),
                  numpy_helper.from_array(np.array([end]), f"e{k}")]
        nodes.append(helper.make_node("Slice", [f"weight_hh_{k}", f"s{k}", f"e{k}"],
                                      [f"gate{k}"]))
    inits.append(numpy_helper.from_array(np.array([0]), "axis0"))
    nodes += [helper.make_node("Concat", [f"gate{k}" for k in range(4)], ["r2"], axis=0),
              helper.make_node("Unsqueeze", ["r2", "axis0"], ["R"]),
              helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=hidden, name="lstm")]
    graph = helper.make_graph(
        nodes, "sliced", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, size])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [5, 1, 1, hidden])], inits)
    path = tmp_path / "sliced.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    [row] = _params(path)["layers"]
    r = next(slot for slot in row["slots"] if slot["slot"] == "R")
    assert (r["elements"], r["pytorch"], r["keras"]) == (4 * 36, 36, 36)
    assert row["params"] == {"onnx": 24 + 144, "pytorch": 24 + 36, "keras": 24 + 36}
    assert any("3 of those are stored copies" in note for note in row["notes"])
