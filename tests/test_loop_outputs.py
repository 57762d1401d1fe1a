"""The output shape of a Loop cell read step by step or at its last step
(fixtures/loop_outputs/, TF 2.21 + tf2onnx 1.17, Keras GRUs kept as Loops).

tf2onnx writes a TimeDistributed Dense after a return_sequences GRU as one Slice of the
Loop's time-major scan output per step: archlint read the one-step Slices as "only the last
step taken" and, in a public water forecaster (30 Slices), showed no output shape. A GRU
without return_sequences whose final h is not among the Loop's outputs (its last step sliced
from the scan output, tf2onnx 1.12) showed none either.
"""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES

HERE = FIXTURES / "loop_outputs"
KERAS = json.loads((HERE / "manifest.json").read_text())["keras_params"]


@pytest.mark.parametrize(("name", "shape", "sequence"), [
    ("gru_seq_time_distributed.onnx", (None, None, 8), True),
    ("gru_last.onnx", (None, 8), False),
])
def test_a_loop_cells_output_shape(name: str, shape: tuple[object, ...],
                                   sequence: bool) -> None:
    from archlint.app import count_paths
    from archlint.graph import indexed
    from archlint.layers import build_layers
    from archlint.loader import load_model
    from archlint.params import Convention

    [report] = count_paths([str(HERE / name)])
    [row] = [r for r in report.layers if r.kind == "recurrent"]
    assert (row.recognised_as, row.output_shape) == ("loop-cell", shape)
    assert report.total(Convention.KERAS) == KERAS[name]
    model = load_model(HERE / name)
    [layer] = build_layers(indexed(model)[1], model.exporter)
    assert layer.cell is not None and layer.cell.returns_sequence is sequence
