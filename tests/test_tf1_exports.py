"""TF1-style graphs (tf.compat.v1 dynamic_rnn, static_rnn, LSTMBlockCell, BlockLSTM) converted
by tf2onnx: fixtures/tf1_cells, made by make_tf1_cells.py there, whose manifest holds
TensorFlow's own parameter count for each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import FIXTURES, run_archlint

HERE = FIXTURES / "tf1_cells"
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))


def _json(*args: str) -> dict[str, Any]:
    proc = run_archlint(*args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    model: dict[str, Any] = json.loads(proc.stdout)["models"][0]
    return model


@pytest.mark.parametrize("name", ["basiclstm_seqlen", "lstm_u2_initstate"])
def test_inputs_that_name_one_batch_apart_are_no_size_dependent_run(name: str) -> None:
    """tf2onnx names the batch of x, of sequence_length and of each initial state apart
    (unk__N each), beside a time axis of the same default size that runs alone. Moved alone,
    each batch fails on a broadcast; moved together without the time axis, they run: one
    size, no AL513 (it used to warn once per batch name)."""
    model = _json("lint", str(HERE / f"{name}.onnx"), "--runtime")
    assert [(f["code"], f["severity"]) for f in model["findings"]] == [("AL025", "info")]
    assert model["recurrent_layers"] == 1


def test_an_all_zero_peephole_is_no_peephole() -> None:
    """tf2onnx converts TF1's LSTMBlockCell(use_peephole=False) with a zeros [H] vector the
    cell state is multiplied by (LSTMBlockCell__zeros_const): not a peephole weight. The
    layer counts as TensorFlow does (kernel [11, 24] + bias [24] = 288), and as an nn.LSTM
    (312: two biases), where a peephole LSTM has no PyTorch count."""
    assert MANIFEST["lstmblockcell_dyn"]["tf_params"] == 288
    model = _json("params", str(HERE / "lstmblockcell_dyn.onnx"))
    assert model["totals"] == {"onnx": 288, "pytorch": 312, "keras": 288}
    [row] = model["layers"]
    assert (row["op_type"], row["recognised_as"]) == ("LSTM", "loop-cell")
    assert not any("peephole" in note for note in row["notes"])


def test_an_lstmcell_with_peepholes_and_a_projection_counts_as_tensorflow_does() -> None:
    """LSTMCell(6, use_peepholes=True, num_proj=4): the kernel [I+P, 4·H] over Concat([x,
    h]), h = m @ projection [H, P]. The projection's product reads no Concat, so the Scan was
    listed as not seen into, its two products counted as plain rows (240) and the three
    peephole vectors (18) left as constants; the output gate's peephole sits behind the
    projection. TensorFlow counts 258."""
    assert MANIFEST["lstm_peep_proj"]["tf_params"] == 258
    model = _json("params", str(HERE / "lstm_peep_proj.onnx"))
    assert model["unseen"] == []
    [row] = model["layers"]
    assert (row["op_type"], row["recognised_as"], row["input_size"], row["implied_hidden_size"],
            row["projection_size"]) == ("LSTM", "loop-cell", 4, 6, 4)
    assert [(slot["slot"], slot["elements"]) for slot in row["slots"]] \
        == [("W", 192), ("R", 24), ("B", 24), ("P", 6), ("P", 6), ("P", 6)]
    assert model["totals"] == {"onnx": 258, "pytorch": None, "keras": None}
    lint = _json("lint", str(HERE / "lstm_peep_proj.onnx"))
    assert lint["unseen"] == []
    [finding] = lint["findings"]
    assert finding["code"] == "AL025" and "(I=4, H=6, P=4, forward)" in finding["message"]


def test_a_static_lstmcell_with_a_projection_is_an_unrolled_lstm_with_projection() -> None:
    """static_rnn(LSTMCell(6, num_proj=3)) over 5 steps: the kernel [I+P, 4·H] over
    Concat([x_t, h]), h the projection of the step before, so no product of the kernel reads
    the one before: ten Linear rows, no layer. TensorFlow counts 210; PyTorch's
    nn.LSTM(4, 6, proj_size=3) holds two biases (234)."""
    assert MANIFEST["static_lstm_proj"]["tf_params"] == 210
    model = _json("params", str(HERE / "static_lstm_proj.onnx"))
    [row] = model["layers"]
    assert (row["op_type"], row["recognised_as"], row["input_size"], row["implied_hidden_size"],
            row["projection_size"], row["direction"]) == ("LSTM", "unrolled", 4, 6, 3, "forward")
    assert "5 steps" in row["notes"][0]
    assert model["totals"] == {"onnx": 210, "pytorch": 234, "keras": None}


def test_a_loop_no_layer_was_recognised_in_is_named_by_params() -> None:
    """A Keras ConvLSTM2D's while loop (fixtures/conv_lstm/): params names it, as lint
    does."""
    path = str(FIXTURES / "conv_lstm" / "conv_lstm2d.onnx")
    [loop] = _json("params", path)["unseen"]
    assert loop == "main/model/conv_lstm2d/while_loop (Loop)"
    text = run_archlint("params", path).stdout
    assert f"  {loop}: recurrent-looking, but no layer archlint recognises" in text
    assert _json("lint", path)["unseen"] == [loop]


def test_an_unconverted_block_lstm_is_named_and_its_fix_is_a_cell_tf2onnx_converts() -> None:
    """tf2onnx 1.17 writes TF1's LSTMBlockFusedCell as the TensorFlow op BlockLSTM at any
    opset: AL005 says which cells it converts instead (not "a newer opset": the model is at
    13), and lint and params name the op as recurrent-looking, not "no recurrent layer"."""
    path = str(HERE / "blocklstm.onnx")
    lint = _json("lint", path)
    [finding] = lint["findings"]
    assert (finding["code"], finding["location"]["node"]) == ("AL005", "BlockLSTM")
    assert finding["help"].startswith("tf2onnx (1.17) converts TF1's LSTMBlockFusedCell")
    assert "newer opset" not in finding["help"]
    assert lint["unseen"] == ["main/BlockLSTM (BlockLSTM)"]
    assert _json("params", path)["unseen"] == ["main/BlockLSTM (BlockLSTM)"]


def test_an_unrolled_tf1_gru_cell_is_a_gru_layer() -> None:
    """static_rnn(GRUCell(5)) over 4 steps: per step, the gates' kernel [8, 10] over
    Concat([x_t, h]) and the candidate's [8, 5] over Concat([x_t, r ⊙ h]). One GRU layer
    (reset_after=False: no nn.GRU count), counted as TensorFlow does (135); it used to be
    eight plain MatMuls and "no recurrent layer"."""
    path = str(HERE / "static_gru.onnx")
    assert MANIFEST["static_gru"]["tf_params"] == 135
    params = _json("params", path)
    assert params["totals"] == {"onnx": 135, "pytorch": None, "keras": 135}
    [row] = params["layers"]
    assert (row["op_type"], row["recognised_as"], row["direction"], row["input_size"],
            row["implied_hidden_size"], row["linear_before_reset"]) == (
        "GRU", "unrolled", "forward", 3, 5, 0)
    lint = _json("lint", path)
    assert (lint["recurrent_layers"], lint["unchecked_layers"]) == (1, 1)
    assert [f["code"] for f in lint["findings"]] == ["AL025"]
