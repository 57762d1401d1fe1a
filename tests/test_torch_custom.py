"""Hand-written recurrent layers in PyTorch (fixtures/torch_custom/, make_torch_custom.py):
PyTorch's own custom RNN benchmarks (fastrnns's LSTMCell, LayerNormLSTMCell and LSTMLayer, its
reversed and stacked layers), a GRU written the same way and the tutorials' cells made of
Linear layers, each scripted, traced and exported by dynamo; and torch's own nn.LSTMCell
stepped in a Python loop, two of them stacked step by step, one reading a per-step projection
of x_t, an nn.GRUCell over x.flip(0), or one nn.LSTMCell over two sequences (its weights
counted once), traced and exported by dynamo.

Each layer is recognised with PyTorch's sizes and counts PyTorch's parameters:
- traced by the classic exporter, ``mm(x, W_ih.t()) + b_ih + mm(h, W_hh.t())`` is
  ``Gemm(h, W_hh, C=Gemm(x, W_ih, b_ih))``: the input product is the state product's C;
- scripted, the steps are ``x.unbind(0)``: a SplitToSequence before the Loop, a SequenceAt in
  its body;
- one Linear over ``torch.cat([x, h], 1)``, unrolled: one kernel [I+H, g·H] per step (an
  LSTM, or an Elman RNN); called once per call, the LSTM is a single step.
"""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "torch_custom"
DATA = json.loads((HERE / "manifest.json").read_text())
MANIFEST = DATA["models"]
# The scripted ReverseLSTMLayer's export is invalid (a Slice of a sequence, which reverses
# nothing in any runtime): which way its loop reads the steps cannot be told.
INVALID = "reverse_lstm_script.onnx"


def test_every_export_runs_as_pytorch_does_but_the_invalid_one() -> None:
    assert sorted(MANIFEST) == sorted(path.name for path in HERE.glob("*.onnx"))
    assert len(MANIFEST) == 34
    assert list(DATA["export_errors"]) == ["cat_lstm_script.onnx"]  # the exporter's own
    for name, entry in MANIFEST.items():
        if name == INVALID:
            assert "Slice" in entry["onnxruntime_error"]
        else:
            assert entry["max_abs_diff_vs_torch"] < 1e-5, name


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_layer_is_recognised_with_pytorch_sizes_and_counts(name: str) -> None:
    model = load_model(HERE / name)
    graph = build_graph(model)
    layers = build_layers(graph, model.producer)
    how = Recognition.STEP if "_step_" in name else (
        Recognition.LOOP_CELL if name.endswith("_script.onnx") else Recognition.UNROLLED)
    assert [layer.recognised_as for layer in layers] == [how] * len(MANIFEST[name]["layers"])
    expected = [tuple(layer) for layer in MANIFEST[name]["layers"]]
    if name == INVALID:
        expected = [(op, i, h, "unknown") for op, i, h, _ in expected]
    assert [(layer.op_type, layer.cell.input_size, layer.cell.hidden_size, layer.direction)
            for layer in layers if layer.cell] == expected
    report = count_model(name, graph, layers)
    assert report.total(Convention.ONNX) == MANIFEST[name]["torch_params"]
    # the PyTorch column is torch's own count: the tutorials' cell with one Linear over
    # cat([x, h]) holds one bias, and a PyTorch export's one stored bias counts once (it
    # counted two, the nn.LSTM / nn.RNN the layer stands for: 108 where torch says 96)
    assert report.total(Convention.PYTORCH) == MANIFEST[name]["torch_params"]


@pytest.mark.parametrize(("name", "codes"), [
    ("lstm_trace.onnx", ["AL025"]),
    ("cat_lstm_trace.onnx", ["AL025"]),
    ("cat_rnn_dynamo.onnx", ["AL025"]),
    ("cat_lstm_step_trace.onnx", ["AL025"]),
    ("stacked_lstm_dynamo.onnx", ["AL025", "AL025"]),
    # the upper cell reads the lower one's h_t, the projected cell tanh(Linear(x_t)): their
    # steps are found through those computed inputs
    ("interleaved_cells_trace.onnx", ["AL025", "AL025"]),
    ("interleaved_cells_dynamo.onnx", ["AL025", "AL025"]),
    ("projected_cell_trace.onnx", ["AL025"]),
    ("flipped_cell_dynamo.onnx", ["AL025"]),  # a reverse GRU: x.flip(0), then steps in order
    ("siamese_cell_trace.onnx", ["AL025", "AL025"]),  # one cell, two sequences: two chains
    # onnx's inference keeps the step axis SplitToSequence's keepdims=0 drops (the spec
    # ignores keepdims when `split` is given; onnxruntime honours it), so the body's Gemm
    # reads rank 3 there: the warning is onnx's own
    ("lstm_script.onnx", ["AL001", "AL025"]),
    # a Slice of a sequence in the main graph, which onnxruntime refuses at load: AL008's
    # error, not a warning
    (INVALID, ["AL008", "AL025"]),
])
def test_lint_advises_and_raises_no_error_but_where_onnxruntime_refuses(
        name: str, codes: list[str]) -> None:
    result = invoke("lint", str(HERE / name), "--format", "json")
    assert result.exit_code == (1 if name == INVALID else 0), result.output
    [model] = json.loads(result.stdout)["models"]
    assert model["unseen"] == []
    assert sorted(f["code"] for f in model["findings"]) == codes
    if "AL001" in codes:  # onnx's reading of the scripted unbind, which onnxruntime reads apart
        [al001] = [f for f in model["findings"] if f["code"] == "AL001"]
        assert al001["help"].startswith(
            "SplitToSequence '/SplitToSequence' has keepdims=0 and a scalar split")
    if "AL008" in codes:
        [al008] = [f for f in model["findings"] if f["code"] == "AL008"]
        assert al008["location"]["node"] == "/Slice" and "/Slice" in MANIFEST[name][
            "onnxruntime_error"]
    torch_layer = f"nn.{MANIFEST[name]['layers'][0][0]}"  # nn.LSTM, nn.GRU or nn.RNN
    assert all(torch_layer in f["help"] for f in model["findings"] if f["code"] == "AL025")
