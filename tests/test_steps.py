"""Single cell steps (archlint/cells/steps.py, ``match_steps``): a model that runs one LSTM/GRU/RNN
step per call, its state read from the model's inputs and returned through its outputs.

Real exports in fixtures/steps/: torch's nn.LSTMCell / GRUCell / RNNCell with the classic and
the dynamo exporter (make_steps.py, which records each cell's PyTorch parameter count) and
Keras cells called once, through tf2onnx (make_keras_steps.py, with ``count_params()``).
ONNX-text cases here: the same algebra when the new state is not returned, or is not H wide,
is no step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlint.cells import find_cells
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition, RecurrentLayer

from .conftest import FIXTURES, invoke

STEPS = FIXTURES / "steps"
TORCH = json.loads((STEPS / "manifest.json").read_text())["models"]
KERAS = json.loads((STEPS / "keras_manifest.json").read_text())
KERAS_CELLS = {"keras_lstm_cell": "LSTM", "keras_gru_cell": "GRU",
               "keras_gru_cell_ra0": "GRU", "keras_rnn_cell": "RNN"}


def _layers(path: Path) -> list[RecurrentLayer]:
    return list(build_layers(build_graph(load_model(path))))


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_cell_steps_are_recognised_and_counted(name: str) -> None:
    entry = TORCH[name]
    assert entry["ort_check"] == "ok"
    path = STEPS / entry["file"]
    layers = _layers(path)
    assert len(layers) == entry["cells"]
    for layer in layers:
        cell = layer.cell
        assert cell is not None
        assert (layer.recognised_as, cell.cell, cell.input_size, cell.hidden_size,
                cell.steps, cell.returns_sequence) == (
            Recognition.STEP, entry["cell"], entry["input_size"], entry["hidden_size"], 1,
            False)
        assert cell.bias_layout == "two"
    # the kernel reads x and the recurrent kernel h, also when I = H (lstm_cell_square,
    # packed_state): the tensors torch calls weight_ih and weight_hh (ih and hh: a Linear each)
    cells = [layer.cell for layer in layers if layer.cell is not None]
    assert sorted(s.tensor for c in cells for s in c.kernel) == entry["kernel"]
    assert sorted(s.tensor for c in cells for s in c.recurrent_kernel) == \
        entry["recurrent_kernel"]
    assert sorted(s.tensor for c in cells for s in c.bias) == entry["bias"]
    graph = build_graph(load_model(path))
    rows = [row for row in count_model(path.name, graph, build_layers(graph)).layers
            if row.recognised_as == "step"]
    assert sum(row.total(Convention.PYTORCH) or 0 for row in rows) == entry["torch_params"]
    assert sum(row.total(Convention.ONNX) or 0 for row in rows) == entry["torch_params"]


@pytest.mark.parametrize("name", sorted(KERAS_CELLS))
def test_keras_cell_steps_are_recognised_and_counted_as_keras_does(name: str) -> None:
    entry = KERAS["models"][name]
    assert entry["ort_check"] == "ok"
    path = STEPS / entry["file"]
    (layer,) = _layers(path)
    cell = layer.cell
    assert cell is not None
    assert (layer.recognised_as, cell.cell, cell.input_size, cell.hidden_size) == (
        Recognition.STEP, KERAS_CELLS[name], KERAS["input_size"], KERAS["hidden_size"])
    assert [s.tensor for s in cell.kernel] != [s.tensor for s in cell.recurrent_kernel]
    graph = build_graph(load_model(path))
    (row,) = [row for row in count_model(path.name, graph, build_layers(graph)).layers
              if row.recognised_as == "step"]
    assert row.total(Convention.KERAS) == entry["count_params"]


def test_a_gru_step_with_reset_before_the_product_is_one_step_of_two_recurrent_pieces() -> None:
    """GRUCell(reset_after=False): h @ R[:, :2H] gives z and r, (r ⊙ h) @ R[:, 2H:] the
    candidate; tf2onnx stores the two pieces apart. One GRU step, reset_after=False, which
    nn.GRU cannot compute: PyTorch n/a."""
    path = STEPS / KERAS["models"]["keras_gru_cell_ra0"]["file"]
    (layer,) = _layers(path)
    cell = layer.cell
    assert cell is not None
    assert (cell.cell, cell.reset_after, len(cell.recurrent_kernel)) == ("GRU", False, 2)
    assert [s.shape for s in cell.recurrent_kernel] == [(4, 8), (4, 4)]
    graph = build_graph(load_model(path))
    (row,) = count_model(path.name, graph, build_layers(graph)).layers
    assert (row.total(Convention.KERAS), row.total(Convention.PYTORCH)) == (96, None)


def test_lint_reports_each_step_as_info_and_nothing_else() -> None:
    result = invoke("lint", str(STEPS), "--format", "json", "--no-respect-gitignore")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    findings = [(Path(m["path"]).name, f["code"], f["severity"])
                for m in data["models"] for f in m["findings"]]
    expected = [(entry["file"], "AL025", "info") for entry in TORCH.values()
                for _ in range(entry["cells"])]
    expected += [(KERAS["models"][name]["file"], "AL025", "info") for name in KERAS_CELLS]
    expected += [("keras_dtln_like_unrolled.onnx", "AL025", "info")] * 2
    assert sorted(findings) == sorted(expected)


def test_the_step_finding_says_where_what_and_how_to_fix() -> None:
    result = invoke("lint", str(STEPS / "lstm_cell_classic.onnx"), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.stdout)["models"]
    (finding,) = model["findings"]
    assert (finding["code"], finding["location"]["node"]) == ("AL025", "/cell/Gemm")
    assert finding["message"].startswith(
        "cell step from Gemm '/cell/Gemm' computes an LSTM layer (I=3, H=4, one step)")
    assert finding["expected"] == "an ONNX LSTM node, which every rule checks"
    assert finding["actual"].startswith("one step per call")
    assert "nn.LSTM over a sequence of length 1" in finding["help"]


def test_params_says_how_a_step_was_recognised() -> None:
    result = invoke("params", str(STEPS / "gru_cell_dynamo.onnx"))
    assert result.exit_code == 0, result.output
    assert ("node_linear: recognised as step: one step per call, its state read from the "
            "model's inputs and returned through its outputs, a GRU (reset_after=True) step "
            "(I=3, H=4, forward); bias layout two") in result.output


# torch's nn.LSTMCell(3, 4) step as the classic exporter writes it, with what becomes of its
# new state left open: ``RETURN`` is the graph's outputs.
_LSTM_STEP = """<ir_version: 8, opset_import: ["" : 17]>
step (float[batch, 3] x, float[batch, 4] h, float[batch, 4] c) => ({outputs})
<float[16, 3] w_ih = {w16x3}, float[16, 4] w_hh = {w16x4}, float[16] b_ih = {b16},
 float[16] b_hh = {b16}, float[1, 4] head = {{0.1, 0.2, 0.3, 0.4}}, int64[4] sizes = {{4, 4, 4, 4}}>
{{
  [hh] rh = Gemm <transB = 1> (h, w_hh, b_hh)
  [ih] rx = Gemm <transB = 1> (x, w_ih, b_ih)
  gates = Add (rh, rx)
  gi, gf, gg, go = Split <axis = 1> (gates, sizes)
  si = Sigmoid (gi)
  sf = Sigmoid (gf)
  tg = Tanh (gg)
  so = Sigmoid (go)
  fc = Mul (sf, c)
  ig = Mul (si, tg)
  c_next = Add (fc, ig)
  tc = Tanh (c_next)
  h_next = Mul (so, tc)
  score = Gemm <transB = 1> (h_next, head)
  wide = Concat <axis = 1> (h_next, c_next)
}}
"""


def _step_text(outputs: str) -> str:
    values = ", ".join(f"{(k % 7 - 3) / 10}" for k in range(64))
    return _LSTM_STEP.format(outputs=outputs, w16x3="{" + ", ".join(values.split(", ")[:48])
                             + "}", w16x4="{" + values + "}",
                             b16="{" + ", ".join(values.split(", ")[:16]) + "}")


@pytest.mark.parametrize("outputs, recognised", [
    ("float[batch, 4] h_next, float[batch, 4] c_next", True),
    # only a score of another width leaves: the state is not carried to the next call
    ("float[batch, 1] score", False),
    # packed (h, c) on the feature axis: returned all the same
    ("float[batch, 8] wide", True),
])
def test_a_step_needs_its_new_state_returned(tmp_path: Path, outputs: str,
                                             recognised: bool) -> None:
    path = tmp_path / "step.onnx.txt"
    path.write_text(_step_text(outputs))
    cells, _ = find_cells(build_graph(load_model(path)))
    assert [(c.how, c.cell, c.node) for c in cells] == (
        [("step", "LSTM", "main/0")] if recognised else [])


def test_a_state_computed_inside_the_model_is_no_step(tmp_path: Path) -> None:
    """h @ R where h is not read from an input: nothing carries it from call to call."""
    text = _step_text("float[batch, 4] h_next, float[batch, 4] c_next")
    text = text.replace("[hh] rh = Gemm <transB = 1> (h, w_hh, b_hh)",
                        "hr = Relu (h)\n  [hh] rh = Gemm <transB = 1> (hr, w_hh, b_hh)")
    path = tmp_path / "computed.onnx.txt"
    path.write_text(text)
    assert find_cells(build_graph(load_model(path))) == ([], [])


def test_a_dtln_like_state_packed_on_the_last_axis_is_no_cell_state_from_hidden() -> None:
    """DTLN's layout: states [1, layers, H, 2], h and c on the last axis. Both are the same
    rows of axis 0, but other elements: AL307 reported the cell state fed the hidden state."""
    path = STEPS / "keras_dtln_like.onnx"
    result = invoke("lint", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.stdout)["models"]
    assert (model["findings"], model["recurrent_layers"]) == ([], 2)
    graph = build_graph(load_model(path))
    report = count_model(path.name, graph, build_layers(graph))
    assert report.total(Convention.KERAS) == KERAS["models"]["keras_dtln_like"]["count_params"]


def test_dtln_unrolled_over_one_frame_is_two_steps_counted_as_keras_does() -> None:
    """unroll=True over one frame: each LSTM is one step, its x @ W folded by tf2onnx into
    Gemm(x, W, h @ R) (the state product added as the Gemm's C). The lower step's region
    reaches the upper step (which reads its h) and the packed state of both: each step's
    bias is the one added to its own products' sum (the lower one claimed the upper one's
    too, read as a tensor the exporter merged; breizhn/DTLN's published model_2.onnx counted
    512 too many in one LSTM and 256 too few in the other)."""
    path = STEPS / "keras_dtln_like_unrolled.onnx"
    layers = _layers(path)
    assert [(layer.recognised_as, layer.op_type) for layer in layers] == [
        (Recognition.STEP, "LSTM")] * 2
    assert sorted((c.input_size, c.hidden_size) for c in (la.cell for la in layers) if c) == [
        (4, 4), (5, 4)]
    graph = build_graph(load_model(path))
    report = count_model(path.name, graph, build_layers(graph))
    assert report.total(Convention.KERAS) == \
        KERAS["models"]["keras_dtln_like_unrolled"]["count_params"] == 329
    rows = [row for row in report.layers if row.kind == "recurrent"]
    # Keras: 4·H·(I+H) + 4·H, one bias each
    assert [(row.input_size, row.total(Convention.KERAS)) for row in rows] == [(4, 144),
                                                                               (5, 160)]
    assert [[s.elements for s in row.slots if s.slot == "B"] for row in rows] == [[16], [16]]
    assert report.shared == ()


def test_a_cell_in_a_decoding_loop_is_a_step_of_each_iteration() -> None:
    path = STEPS / "decoder_loop_classic.onnx"
    (layer,) = _layers(path)
    assert (layer.recognised_as, layer.enclosing_op_types) == (Recognition.STEP, ("Loop",))
    result = invoke("lint", str(path), "--format", "json")
    (model,) = json.loads(result.stdout)["models"]
    (finding,) = model["findings"]
    assert finding["actual"].startswith(
        "one step per iteration of the enclosing Loop, its state carried from one iteration "
        "to the next (a decoding loop)")
