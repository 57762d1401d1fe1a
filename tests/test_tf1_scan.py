"""TF1 cells in a frozen graph through tf2onnx (fixtures/tf1_scan/, make_tf1_scan.py): each
dynamic_rnn is a Scan whose body computes the cell with one kernel [I+H, g·H] over
Concat([x_t, h]). Every cell is a recognised layer with the I, H, direction and gates TF1 built,
and params counts what TensorFlow's variables hold, a MultiRNNCell's two cells and a peephole
LSTM's diagonal weights included.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from archlint.cells import NoMatch, find_cells
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.params_columns import annotate_model
from archlint.params_types import ModelParams
from archlint.recurrent import Recognition

from .conftest import FIXTURES, folder_findings, invoke

HERE = FIXTURES / "tf1_scan"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# name -> (op, I, H, direction, GRU reset_after) of each layer, in model order
LAYERS: dict[str, list[tuple[str, int, int, str, bool | None]]] = {
    "lstm.onnx": [("LSTM", 3, 4, "forward", None)],
    "basic_lstm.onnx": [("LSTM", 3, 3, "forward", None)],
    "lstm_peephole.onnx": [("LSTM", 3, 3, "forward", None)],
    "gru.onnx": [("GRU", 3, 3, "forward", False)],
    "basic_rnn.onnx": [("RNN", 3, 4, "forward", None)],
    "lstm_bi.onnx": [("LSTM", 3, 4, "forward", None), ("LSTM", 3, 4, "reverse", None)],
    "gru_bi_lengths.onnx": [("GRU", 3, 3, "forward", False), ("GRU", 3, 3, "reverse", False)],
    "basic_rnn_bi.onnx": [("RNN", 3, 2, "forward", None), ("RNN", 3, 2, "reverse", None)],
    # MultiRNNCell: the second cell's input is the first cell's h (4 wide)
    "lstm_multi.onnx": [("LSTM", 3, 4, "forward", None), ("LSTM", 4, 4, "forward", None)],
    "lstm_lengths_opset9.onnx": [("LSTM", 3, 4, "forward", None)],
    "gru_lengths_opset8.onnx": [("GRU", 3, 3, "forward", False)],
}


def _report(name: str) -> ModelParams:
    graph = build_graph(load_model(HERE / name))
    layers = build_layers(graph)
    return annotate_model(count_model(name, graph, layers), graph, layers)


def test_every_fixture_is_listed_and_runs_as_tensorflow_does() -> None:
    assert sorted(LAYERS) == sorted(MANIFEST)
    assert all(entry["max_abs_diff_vs_tf"] < 1e-5 for entry in MANIFEST.values())
    for name in LAYERS:  # what the fixtures are: a Scan, no LSTM/GRU/RNN node
        ops = {node.op_type for node in load_model(HERE / name).proto.graph.node}
        assert "Scan" in ops and not ops & {"LSTM", "GRU", "RNN"}, name


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_cell_is_a_layer_with_the_sizes_tensorflow_built(name: str) -> None:
    layers = build_layers(build_graph(load_model(HERE / name)))
    assert all(layer.recognised_as is Recognition.LOOP_CELL for layer in layers)
    assert [(layer.op_type, layer.cell.input_size, layer.cell.hidden_size, layer.direction,
             layer.cell.reset_after) for layer in layers if layer.cell] == LAYERS[name]
    assert all(layer.cell and layer.cell.joint_kernel for layer in layers)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_model_counts_what_tensorflow_counts(name: str) -> None:
    report = _report(name)
    assert report.total(Convention.KERAS) == MANIFEST[name]["tf_params"]
    assert report.total(Convention.ONNX) == MANIFEST[name]["tf_params"]
    rows = [row for row in report.layers if row.kind == "recurrent"]
    assert len(rows) == len(LAYERS[name])
    # each TF variable is one stored tensor of the same shape, in some row
    stored = sorted(tuple(s.sources[0].shape or ()) for row in rows for s in row.slots)
    assert stored == sorted(tuple(shape) for _, shape in MANIFEST[name]["tf_variables"])


def test_the_kernel_over_x_and_h_is_one_w_entry_and_the_notes_split_it() -> None:
    [row] = _report("lstm.onnx").layers
    assert [(s.slot, s.elements) for s in row.slots] == [("W", (3 + 4) * 16), ("B", 16)]
    assert row.output_shape == (5, 2, 4)  # the scan output: [seq, batch, H]
    assert ("W is one [I+H, g·H] kernel over [x_t, h] (TF1's rnn_cell layout, or one Linear "
            "over torch.cat([x, h])): 48 input and 64 recurrent weights") in row.notes


def test_a_peephole_lstm_counts_its_diagonal_weights_and_pytorch_has_none() -> None:
    [row] = _report("lstm_peephole.onnx").layers
    assert [(s.slot, s.elements) for s in row.slots] == [
        ("W", 6 * 12), ("B", 12), ("P", 3), ("P", 3), ("P", 3)]
    assert row.total(Convention.KERAS) == 93
    assert row.total(Convention.PYTORCH) is None
    assert "no peephole weights" in row.unsupported[Convention.PYTORCH]


def test_a_gru_cell_resets_before_its_candidate_product() -> None:
    [row] = _report("gru.onnx").layers
    # gates [I+H, 2H] and candidate [I+H, H] kernels, each with its bias
    assert [(s.slot, s.elements) for s in row.slots] == [
        ("W", 6 * 6), ("W", 6 * 3), ("B", 6), ("B", 3)]
    assert "reset_after=False" in row.unsupported[Convention.PYTORCH]


def test_a_multi_rnn_cell_is_two_layers_the_first_feeding_the_second() -> None:
    layers = build_layers(build_graph(load_model(HERE / "lstm_multi.onnx")))
    cells = [layer.cell for layer in layers if layer.cell]
    assert [layer.node.op_type for layer in layers] == ["Gemm", "Gemm"]
    assert [cell.sequence is not None for cell in cells] == [True, False]
    assert [cell.returns_sequence for cell in cells] == [True, True]


def test_lint_finds_nothing_wrong_and_sees_into_every_scan() -> None:
    result = invoke("lint", str(HERE), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert all(model["unseen"] == [] for model in models)
    # onnx's shape inference counts an opset-8 body's initializers as inputs (onnxruntime
    # does not, and runs the model): a warning that it could not check, not an error
    assert [(name, code, severity) for name, code, severity in folder_findings(HERE)
            if code != "AL025"] == [("gru_lengths_opset8.onnx", "AL001", "warning")]
    assert sum(len(layers) for layers in LAYERS.values()) == sum(
        code == "AL025" for _, code, _ in folder_findings(HERE))


def test_the_help_names_the_tf1_cell_and_the_converter_path() -> None:
    result = invoke("lint", str(HERE / "basic_rnn.onnx"), "--format", "json")
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert finding["code"] == "AL025"
    assert "tf2onnx has no rewriter for a BasicRNNCell" in finding["help"]
    assert finding["message"].startswith("Scan ")


def _scan_model(
    tmp_path: Path, body_nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray],
    reverse: bool = False,
) -> Path:
    """X [T=5, B=2, I=3] -> Scan over time, state h [2, 4], scan output h: ``body_nodes``
    compute h_new from h and x_t (the weights are outer initializers)."""
    float_type = onnx.TensorProto.FLOAT
    body = helper.make_graph(
        [*body_nodes, helper.make_node("Identity", ["h_new"], ["h_out"])], "body",
        [helper.make_tensor_value_info("h", float_type, [2, 4]),
         helper.make_tensor_value_info("x_t", float_type, [2, 3])],
        [helper.make_tensor_value_info("h_new", float_type, [2, 4]),
         helper.make_tensor_value_info("h_out", float_type, [2, 4])])
    scan = helper.make_node("Scan", ["h0", "X"], ["h_last", "Y"], name="scan", body=body,
                            num_scan_inputs=1, scan_input_directions=[int(reverse)])
    graph = helper.make_graph(
        [scan], "g", [helper.make_tensor_value_info("X", float_type, [5, 2, 3])],
        [helper.make_tensor_value_info("Y", float_type, [5, 2, 4])],
        [numpy_helper.from_array(np.zeros((2, 4), np.float32), "h0"),
         *(numpy_helper.from_array(v, k) for k, v in weights.items())])
    path = tmp_path / "scan.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_scan_with_a_kernel_and_a_recurrent_kernel_is_a_cell_read_in_its_direction(
    tmp_path: Path,
) -> None:
    nodes = [helper.make_node("MatMul", ["x_t", "W"], ["xw"]),
             helper.make_node("MatMul", ["h", "U"], ["hu"]),
             helper.make_node("Add", ["xw", "hu"], ["s"]),
             helper.make_node("Add", ["s", "b"], ["sb"]),
             helper.make_node("Tanh", ["sb"], ["h_new"])]
    weights = {"W": np.ones((3, 4), np.float32), "U": np.ones((4, 4), np.float32),
               "b": np.ones(4, np.float32)}
    layers = build_layers(build_graph(load_model(
        _scan_model(tmp_path, nodes, weights, reverse=True))))
    assert [(layer.op_type, layer.direction, layer.node.op_type) for layer in layers] == [
        ("RNN", "reverse", "Scan")]
    cell = layers[0].cell
    assert cell is not None and not cell.joint_kernel
    assert (cell.input_size, cell.hidden_size, cell.sequence, cell.returns_sequence) == (
        3, 4, "X", True)
    assert [s.tensor for s in cell.sources] == ["W", "U", "b"]


def test_a_scan_without_an_activation_is_no_cell_and_says_why(tmp_path: Path) -> None:
    nodes = [helper.make_node("Concat", ["x_t", "h"], ["xh"], axis=1),
             helper.make_node("MatMul", ["xh", "K"], ["h_new"])]
    path = _scan_model(tmp_path, nodes, {"K": np.ones((7, 4), np.float32)})
    cells, misses = find_cells(build_graph(load_model(path)))
    assert cells == []
    assert misses == [NoMatch("main/0", "no activation between the state product and the new "
                              "state")]
