"""onnxruntime's weight-only quantizer (MatMulNBitsQuantizer) on recurrent exports
(fixtures/matmul_nbits/, make_matmul_nbits.py): every MatMul with a stored B becomes
com.microsoft MatMulNBits, B packed two 4-bit values a byte, its shape [N, K] in attributes.
An unrolled cell of such products is still the cell, counted as the float model was; a plain
MatMulNBits row counts its K·N values (not its bytes), its scales in ONNX only, and the bias
added after it."""

from __future__ import annotations

import json

import pytest

from archlint.app import count_paths
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "matmul_nbits"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
CONVENTIONS = (Convention.ONNX, Convention.PYTORCH, Convention.KERAS)


def test_every_fixture_runs_and_is_quantized() -> None:
    assert sorted(MANIFEST) == sorted(path.name for path in HERE.glob("*.onnx"))
    assert {name: (entry["matmul_nbits"], entry["bits"]) for name, entry in MANIFEST.items()} == {
        "lstm_dynamo_q4.onnx": (10, [4]), "gru_dynamo_q4.onnx": (10, [4]),
        "k2_stacked_lstm_dense_q4.onnx": (1, [4]), "keras_lstm_cell_q4.onnx": (2, [4]),
        "keras_gru_cell_ra0_q4.onnx": (3, [4])}
    assert all(entry["max_abs_diff_vs_source"] < 0.2 for entry in MANIFEST.values())


@pytest.mark.parametrize(("name", "cell"), [("lstm_dynamo_q4.onnx", "LSTM"),
                                            ("gru_dynamo_q4.onnx", "GRU")])
def test_an_unrolled_cell_of_4_bit_products_is_the_float_cell(name: str, cell: str) -> None:
    graph = build_graph(load_model(HERE / name))
    [layer] = build_layers(graph)
    assert layer.cell is not None and layer.cell.how == "unrolled"
    assert (layer.op_type, layer.cell.input_size, layer.cell.hidden_size, layer.cell.steps) == (
        cell, 4, 3, 5)
    assert {s.tensor for s in layer.cell.kernel + layer.cell.recurrent_kernel} == {
        "t_Q4", "t_1_Q4"}
    [quantized] = count_paths([str(HERE / name)])
    [source] = count_paths([str(FIXTURES / MANIFEST[name]["source"])])
    assert [quantized.total(c) for c in CONVENTIONS] == [source.total(c) for c in CONVENTIONS]


@pytest.mark.parametrize(("name", "cell"), [("keras_lstm_cell_q4.onnx", "LSTM"),
                                            ("keras_gru_cell_ra0_q4.onnx", "GRU")])
def test_a_single_step_of_4_bit_products_is_the_float_step(name: str, cell: str) -> None:
    """A Keras cell called once per call: x @ W and h @ R, both MatMulNBits, h a model input."""
    graph = build_graph(load_model(HERE / name))
    [layer] = build_layers(graph)
    assert layer.cell is not None and (layer.op_type, layer.cell.how) == (cell, "step")
    [quantized] = count_paths([str(HERE / name)])
    [source] = count_paths([str(FIXTURES / MANIFEST[name]["source"])])
    assert [quantized.total(c) for c in CONVENTIONS] == [source.total(c) for c in CONVENTIONS]


def test_a_plain_matmul_nbits_row_counts_values_scales_and_the_bias_after_it() -> None:
    name = "k2_stacked_lstm_dense_q4.onnx"
    [quantized] = count_paths([str(HERE / name)])
    [source] = count_paths([str(FIXTURES / MANIFEST[name]["source"])])
    # the scales (one per block: N=2 of them) are quantization parameters: ONNX only
    assert [quantized.total(c) for c in CONVENTIONS] == [
        source.total(Convention.ONNX) + 2, source.total(Convention.PYTORCH),
        source.total(Convention.KERAS)]
    row = quantized.layers[-1]
    assert row.op_type == "MatMulNBits" and row.kind == "linear"
    assert [(s.slot, s.elements, s.pytorch, s.keras, s.dtype) for s in row.slots] == [
        ("weight", 6, 6, 6, "uint8"), ("w_scale", 2, 0, 0, "float"),
        ("bias", 2, 2, 2, "float")]
    assert ("4-bit weight packed by MatMulNBits (block 16): counted as its K·N = 3·2 values, "
            "the float weight's") in row.notes
    result = invoke("params", str(HERE / name), "--format", "json")
    layers = json.loads(result.stdout)["models"][0]["layers"]
    # the bytes it stores: B [2, 1, 8] uint8 (padded to the block), 2 float scales, 2 biases
    assert layers[-1]["param_bytes"] == 16 + 8 + 8


def test_lint_says_the_cells_are_counted_not_checked() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = {m["path"].rsplit("/", 1)[-1]: m for m in json.loads(result.stdout)["models"]}
    assert {name: [(f["code"], f["location"]["node"]) for f in m["findings"]]
            for name, m in models.items()} == {
        "lstm_dynamo_q4.onnx": [("AL025", "node_mm_Q4")],
        "gru_dynamo_q4.onnx": [("AL025", "node_mm_Q4")],
        "k2_stacked_lstm_dense_q4.onnx": [],
        "keras_lstm_cell_q4.onnx": [("AL025", "model/lstm_cell/MatMul_Q4")],
        "keras_gru_cell_ra0_q4.onnx": [("AL025", "model_2/gru_cell_1/MatMul_Q4")]}
