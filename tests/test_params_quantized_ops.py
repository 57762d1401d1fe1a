"""Quantized Conv, MatMul and Gemm ops in the parameter report (archlint/params_quantized.py).

fixtures/quantized_ops/ holds one float Conv + LSTM + Linear export and what onnxruntime's
quantizer makes of it (make_quantized_ops.py): dynamic (ConvInteger, MatMulInteger,
DynamicQuantizeLSTM) with int8 and uint8 weights, static QOperator (QLinearConv,
QLinearMatMul + com.microsoft QLinearAdd, QGemm) and static QDQ. Every one must count what
PyTorch counts for the float model, per layer and in total.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.params_types import LayerParams, ModelParams

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "quantized_ops"
MANIFEST = json.loads((HERE / "manifest.json").read_text())
TORCH = MANIFEST["torch_params"]  # conv 104, lstm 1664, proj 204, head 65
MODELS = ["float.onnx", *sorted(MANIFEST["models"])]


def _count(name: str) -> ModelParams:
    path = HERE / name
    graph = build_graph(load_model(path))
    return count_model(path.name, graph, build_layers(graph))


def _module(row: LayerParams) -> str:
    return row.label.split("/")[1]


@pytest.mark.parametrize("name", MODELS)
def test_each_layer_counts_what_pytorch_counts_for_the_float_model(name: str) -> None:
    report = _count(name)
    assert {_module(row): row.total(Convention.PYTORCH) for row in report.layers} == TORCH
    assert report.total(Convention.PYTORCH) == MANIFEST["torch_total"] == 2037


def test_the_quantizer_wrote_the_ops_the_report_reads() -> None:
    ops = {name: set(entry["op_types"]) for name, entry in MANIFEST["models"].items()}
    assert {"ConvInteger", "MatMulInteger", "com.microsoft.DynamicQuantizeLSTM"} \
        <= ops["dynamic_s8.onnx"]
    assert {"QLinearConv", "QLinearMatMul", "com.microsoft.QGemm",
            "com.microsoft.QLinearAdd"} <= ops["static_qoperator.onnx"]
    assert all(entry["max_abs_diff_vs_float"] < 0.05 for entry in MANIFEST["models"].values())


def test_a_dynamic_row_counts_scale_and_zero_point_in_onnx_only() -> None:
    report = _count("dynamic_s8.onnx")
    (conv,) = [row for row in report.layers if row.op_type == "ConvInteger"]
    assert [(s.slot, s.dtype, s.elements, s.pytorch, s.keras) for s in conv.slots] == [
        ("weight", "int8", 96, 96, 96), ("w_zero_point", "int8", 1, 0, 0),
        ("bias", "float", 8, 8, 8)]
    assert (conv.total(Convention.ONNX), conv.kind) == (105, "conv")
    assert conv.notes == (
        "quantized (ConvInteger): weight int8 [8, 4, 3]; w_zero_point int8 []",
        "w_zero_point is a quantization parameter: counted in ONNX only (the float layer has "
        "none)")
    # the bias reached through Cast and Mul is the float initializer, not its Reshape
    assert [s.name for s in conv.slots[2].sources] == ["conv.bias"]


def test_a_qoperator_linear_takes_its_bias_from_the_qlinear_add() -> None:
    report = _count("static_qoperator.onnx")
    (proj,) = [row for row in report.layers if row.op_type == "QLinearMatMul"]
    assert [(s.slot, s.tensor, s.pytorch) for s in proj.slots] == [
        ("weight", "onnx::MatMul_123_quantized", 192),
        ("w_scale", "onnx::MatMul_123_scale", 0),
        ("w_zero_point", "onnx::MatMul_123_zero_point", 0),
        ("bias", "proj.bias_quantized", 12), ("b_scale", "proj.bias_scale", 0),
        ("b_zero_point", "proj.bias_zero_point", 0)]
    (head,) = [row for row in report.layers if row.op_type == "QGemm"]
    assert [(s.slot, s.dtype, s.elements) for s in head.slots if s.slot in ("weight", "bias")] \
        == [("weight", "int8", 60), ("bias", "int32", 5)]


def test_a_qdq_linear_finds_its_bias_after_the_quantize_dequantize_pair() -> None:
    (proj,) = [row for row in _count("static_qdq.onnx").layers if _module(row) == "proj"]
    assert [(s.slot, s.elements) for s in proj.slots] == [("weight", 192), ("bias", 12)]


def test_the_cli_reports_the_quantized_rows() -> None:
    result = invoke("params", str(HERE / "dynamic_u8.onnx"))
    assert result.exit_code == 0, result.output
    assert "MatMulInteger" in result.output
    assert "/proj/MatMul_quant: quantized (MatMulInteger): weight uint8 [16, 12]; " \
        "w_zero_point uint8 []" in result.output
    total = next(line for line in result.output.splitlines() if line.startswith("  total"))
    assert total.split()[1:4] == ["2,044", "2,037", "1,973"]


def test_a_product_of_two_activations_has_no_row(tmp_path: Path) -> None:
    path = tmp_path / "scores.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 17]>
scores (uint8[2, 3] a, uint8[3, 4] b) => (int32[2, 4] y) {
  y = MatMulInteger (a, b)
}
""")
    assert _count_path(path).layers == ()


def _count_path(path: Path) -> ModelParams:
    graph = build_graph(load_model(path))
    return count_model(path.name, graph, build_layers(graph))


def test_a_qdq_conv_finds_its_bias_past_a_squeeze_between_two_pairs(tmp_path: Path) -> None:
    """tf2onnx writes a Keras Conv1D as Conv -> Squeeze -> Add(bias); quantized in the QDQ
    format, a QuantizeLinear/DequantizeLinear pair sits on each side of the Squeeze: five ops
    between the Conv and its bias Add. The bias (3) was left out of the conv row."""
    path = tmp_path / "conv1d_qdq.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 17]>
conv1d (float[1, 2, 1, 5] x) => (float[1, 3, 5] y)
  <int8[3, 2, 1, 3] w_q = {1, -2, 3, 4, -5, 6, 7, -8, 9, 1, -2, 3, 4, -5, 6, 7, -8, 9},
   float w_scale = {0.1}, int8 w_zp = {0},
   int32[3, 1] b_q = {5, -7, 9}, float b_scale = {0.01}, int32 b_zp = {0},
   float s = {0.05}, int8 zp = {0}, int64[1] axes = {2}> {
  w = DequantizeLinear (w_q, w_scale, w_zp)
  b = DequantizeLinear (b_q, b_scale, b_zp)
  c = Conv <pads: ints = [0, 1, 0, 1]> (x, w)
  c_q = QuantizeLinear (c, s, zp)
  c_dq = DequantizeLinear (c_q, s, zp)
  sq = Squeeze (c_dq, axes)
  sq_q = QuantizeLinear (sq, s, zp)
  sq_dq = DequantizeLinear (sq_q, s, zp)
  y = Add (sq_dq, b)
}
""")
    [row] = _count_path(path).layers
    assert [(slot.slot, slot.elements) for slot in row.slots] == [("weight", 18), ("bias", 3)]
    assert row.total(Convention.PYTORCH) == 21
