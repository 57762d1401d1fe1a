"""`archlint params` columns beyond the counts (issue 15): output shape, dtype and bytes, MACs per
step and for --dim sizes, module rows; against real torch 2.13 exports (fixtures/see, with
torchinfo's numbers in its manifest) and the Keras exports' count_params()."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import onnx
import pytest
from onnx import TensorProto, helper

from archlint.params_columns import format_bytes, module_of

from .conftest import FIXTURES, REPO, invoke

SEE = FIXTURES / "see"
MANIFEST = json.loads((SEE / "manifest.json").read_text())
KERAS = json.loads((FIXTURES / "keras" / "manifest.json").read_text())
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "params-v1.schema.json").read_text())
BILSTM = str(SEE / "bilstm_512_256.onnx")
STACKED = str(SEE / "lstm2_fc.onnx")


def _json(*args: str) -> dict:
    result = invoke("params", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    jsonschema.validate(report, SCHEMA)
    return report


def test_bidirectional_512_256_lstm_by_hand() -> None:
    """nn.LSTM(512, 256, bidirectional=True), exported by torch 2.13."""
    i, h, d = 512, 256, 2
    params = d * (4 * h * i + 4 * h * h + 8 * h)  # W, R, b_ih + b_hh per direction
    assert params == 1_576_960
    per_step = d * 4 * h * (i + h)  # the W and R products of one step, one sample
    report = _json(BILSTM, "--dim", "seq=5", "--dim", "batch=2")
    (layer,) = report["models"][0]["layers"]
    assert layer["node"] == "/rnn/LSTM"
    assert layer["output_shape"] == ["seq", 2, "batch", 256]
    assert layer["params"]["onnx"] == layer["params"]["pytorch"] == params
    assert layer["param_dtype"] == "float32"
    assert layer["param_bytes"] == 4 * params == 6_307_840
    assert round(layer["param_bytes"] / 2**20, 1) == 6.0
    assert layer["macs_per_step"] == per_step == 1_572_864
    assert layer["macs"] == per_step * 5 * 2
    entry = MANIFEST["bilstm_512_256.onnx"]
    assert entry["torchinfo_total_params"] == params
    assert entry["torchinfo_params_size_bytes"] == layer["param_bytes"]
    # torchinfo counts an RNN's mult-adds as parameters x seq x batch, biases included
    # (torchinfo/layer_info.py); ours are the matrix products only
    assert entry["torchinfo_total_mult_adds"] - d * 8 * h * 5 * 2 == layer["macs"]


def test_text_shows_shape_size_and_macs() -> None:
    result = invoke("params", BILSTM)
    lines = result.output.splitlines()
    row = next(line for line in lines if "/rnn/LSTM" in line)
    for cell in ("[seq, 2, batch, 256]", "1,576,960", "6,307,840", "1,572,864", "float32"):
        assert cell in row
    assert "  Total params (ONNX): 1,576,960 (6.02 MiB, float32); MACs per step: 1,572,864" in lines
    assert any("ONNX has no trainable flag" in line for line in lines)


def test_two_layer_lstm_is_one_module_row_with_two_layer_rows() -> None:
    result = invoke("params", STACKED)
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["rnn", "LSTM", "x2"])
    assert lines[start + 1].startswith("    /rnn/LSTM ")
    assert lines[start + 2].startswith("    /rnn/LSTM_1 ")
    assert lines[start + 3].startswith("  /fc/MatMul ")  # a module of one row is not folded
    report = _json(STACKED)
    model = report["models"][0]
    rnn, fc = model["modules"]
    assert rnn["name"] == "rnn" and rnn["layers"] == ["/rnn/LSTM", "/rnn/LSTM_1"]
    # layer 0: 4·8·(16+8) MACs, 4·8·16 + 4·8·8 + 8·8 params; layer 1 reads H=8
    assert rnn["macs_per_step"] == 4 * 8 * 24 + 4 * 8 * 16
    assert rnn["params"]["pytorch"] == (512 + 256 + 64) + (256 + 256 + 64)
    assert fc["name"] == "fc" and fc["layers"] == ["/fc/MatMul"] and fc["macs_per_step"] == 32
    assert model["totals"]["pytorch"] == MANIFEST["lstm2_fc.onnx"]["torchinfo_total_params"]
    assert sum(m["params"]["pytorch"] for m in model["modules"]) == model["totals"]["pytorch"]
    assert model["param_bytes"] == MANIFEST["lstm2_fc.onnx"]["torchinfo_params_size_bytes"]


@pytest.mark.parametrize("name", sorted(n for n in KERAS if n.endswith(".onnx")))
def test_keras_totals_and_module_sums_match_count_params(name: str) -> None:
    model = _json(str(FIXTURES / "keras" / name))["models"][0]
    assert model["totals"]["keras"] == KERAS[name]["count_params"]
    assert sum(m["params"]["keras"] for m in model["modules"]) == KERAS[name]["count_params"]


def test_csv_carries_the_new_columns() -> None:
    result = invoke("params", STACKED, "--format", "csv", "--dim", "seq=10", "--dim", "batch=1")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    first = rows[0]
    assert (first["node"], first["module"], first["output_shape"]) == (
        "/rnn/LSTM", "rnn", "[seq, 1, batch, 8]")
    assert (first["param_dtype"], first["param_bytes"]) == ("float32", str(4 * 832))
    assert (first["macs_per_step"], first["macs"]) == (str(768), str(7680))


def _gru_model(layout: int) -> onnx.ModelProto:
    i, h = 4, 3
    x = (["batch", "seq", i] if layout else ["seq", "batch", i])
    node = helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="gru", hidden_size=h,
                            direction="bidirectional", layout=layout)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT16, x)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)],
        [helper.make_tensor("W", TensorProto.FLOAT16, [2, 3 * h, i], [0.5] * (2 * 3 * h * i)),
         helper.make_tensor("R", TensorProto.FLOAT16, [2, 3 * h, h], [0.5] * (2 * 3 * h * h))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("layout", [0, 1])
def test_gru_macs_fp16_bytes_and_batch_first(tmp_path: Path, layout: int) -> None:
    path = tmp_path / "gru.onnx"
    onnx.save_model(_gru_model(layout), path)
    layer = _json(str(path), "--dim", "seq=7", "--dim", "batch=3")["models"][0]["layers"][0]
    assert layer["macs_per_step"] == 2 * 3 * 3 * (4 + 3)  # D·3·H·(I+H)
    assert layer["macs"] == 2 * 3 * 3 * 7 * 7 * 3
    assert layer["param_dtype"] == "float16"
    assert layer["param_bytes"] == 2 * (2 * 9 * 4 + 2 * 9 * 3)
    assert layer["output_shape"] == (["batch", "seq", 2, 3] if layout else ["seq", 2, "batch", 3])


def test_unbound_dims_leave_macs_unknown() -> None:
    layer = _json(BILSTM, "--dim", "seq=5")["models"][0]["layers"][0]
    assert layer["macs"] is None and layer["macs_per_step"] == 1_572_864


def test_bad_dim_is_a_usage_error() -> None:
    result = invoke("params", BILSTM, "--dim", "seq")
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_quantized_weights_show_their_dtype() -> None:
    """quantize_dynamic's DynamicQuantizeLSTM: int8 W and R, float32 B and scales."""
    model = _json(str(FIXTURES / "quantized" / "lstm_bi_s8.onnx"))["models"][0]
    (lstm,) = (row for row in model["layers"] if row["kind"] == "recurrent")
    assert lstm["op_type"] == "DynamicQuantizeLSTM"
    assert lstm["param_dtype"] == "int8+float32"
    sizes = {"int8": 1, "float32": 4}
    expected = sum(
        s["elements"] * sizes[_dtype(model, s)] for s in lstm["slots"] if not s["shared_with"])
    assert lstm["param_bytes"] == expected
    h, i = lstm["hidden_size"], lstm["input_size"]
    assert lstm["macs_per_step"] == 2 * 4 * h * (i + h)


def _dtype(model: dict, slot: dict) -> str:
    if slot["slot"] in ("W", "R", "W_zero_point", "R_zero_point"):
        return "int8"
    return "float32"


@pytest.mark.parametrize(("name", "scope"), [
    ("/rnn/LSTM_1", "rnn"), ("/encoder/rnn/LSTM", "encoder/rnn"), ("lstm", None),
    ("/LSTM", None), ("sequential/lstm/PartitionedCall", "sequential/lstm"), ("", None)])
def test_module_of(name: str, scope: str | None) -> None:
    assert module_of(name) == scope


@pytest.mark.parametrize(("size", "text"), [
    (6_307_840, "6.02 MiB"), (256, "256 B"), (5776, "5.64 KiB"), (None, "?")])
def test_format_bytes(size: int | None, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize(("path", "recognised", "expected"), [
    # the step's first Gemm computes the gates, [batch, 4·H]: the row shows the h it returns
    ("steps/lstm_cell_dynamo.onnx", "step", ["batch", 4]),
    ("smoothquant/gru_cell_classic_sq.onnx", "step", ["batch", 4]),
    # Keras's unrolled LSTM(3) returning its last h: the batch is a symbol onnx made up
    ("keras/k2_lstm_unrolled.onnx", "unrolled", [None, 3]),
])
def test_a_cell_rows_output_is_the_state_it_returns(
    path: str, recognised: str, expected: list[object]
) -> None:
    (layer,) = _json(str(FIXTURES / path))["models"][0]["layers"]
    assert layer["recognised_as"] == recognised
    assert layer["output_shape"] == expected
