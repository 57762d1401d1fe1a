"""Keras 2 layers behind a Masking layer through tf2onnx (fixtures/keras_masked/,
make_keras_masked.py): Keras computes one step outside the while loop, and where that step
reads gate slices of the weights (a GRU with reset_after=False slices R; recurrent_dropout
slices every kernel and bias), TensorFlow's constant folding stores the slices apart. They
were counted again as plain MatMul rows in every convention (the Keras 2 sweep: 324 where
count_params() is 216, 576 where it is 288) and their MACs added to the layer's."""

from __future__ import annotations

import json

import pytest

from archlint.app import count_paths
from archlint.params import Convention

from .conftest import FIXTURES

HERE = FIXTURES / "keras_masked"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# (ONNX: every stored tensor, slices included; PyTorch; MACs per step)
EXPECTED = {"masking_gru_reset_before.onnx": (324, None, 198),
            "masking_lstm_recurrent_dropout.onnx": (570, 312, 264),
            # the biases' slices are blocks of a row of the [2, 3H] bias
            "masking_gru_recurrent_dropout.onnx": (468, 234, 198)}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_the_step_outside_a_masked_loop_is_the_cells_and_counts_once(name: str) -> None:
    assert MANIFEST[name]["max_abs_diff_vs_keras"] < 1e-5
    (model,) = count_paths([str(HERE / name)])
    assert model.total(Convention.KERAS) == MANIFEST[name]["count_params"]
    onnx_total, pytorch, macs = EXPECTED[name]
    assert (model.total(Convention.ONNX), model.total(Convention.PYTORCH)) == (
        onnx_total, pytorch)
    [row] = model.layers
    assert (row.kind, row.recognised_as) == ("recurrent", "loop-cell")
    assert model.column_total("macs_per_step") == macs
    assert any(note.startswith("W/R/B: ") and "gate slice" in note for note in row.notes)
