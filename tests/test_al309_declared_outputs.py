"""AL309 where X's batch symbol comes only from wrong declarations of graph outputs the graph
reads again (hunt 6: livekit-plugins-hush ships DeepFilterNet's streaming encoder, whose
outputs e1..e3 declare [S, 16, S, ...] and compute [1, 16, S, ...]; a Pad at computed pads
leaves inference nothing to go on, so it takes those declarations, and the GRU's X came out
[S, S, 256]). AL309 said the state's batch 1 rejects every other batch; the model runs at
every S. Built here in small, with the same mechanism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from .conftest import run_archlint


def _encoder() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((1, 48, 4)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((1, 48, 16)).astype(np.float32), "R"),
        numpy_helper.from_array(np.array([2], np.int64), "axes"),
        numpy_helper.from_array(np.zeros(8, np.float32), "pads_f")]
    nodes = [
        helper.make_node("Cast", ["pads_f"], ["pads"], to=TensorProto.INT64, name="pads"),
        helper.make_node("Pad", ["feat", "pads"], ["padded"], name="pad"),
        helper.make_node("Relu", ["padded"], ["e0"], name="relu0"),
        helper.make_node("Relu", ["e0"], ["e1"], name="relu1"),
        helper.make_node("Transpose", ["e1"], ["t"], perm=[2, 0, 1, 3], name="to_time"),
        helper.make_node("Squeeze", ["t", "axes"], ["x"], name="squeeze"),
        helper.make_node("GRU", ["x", "W", "R", "", "", "h_in"], ["y", "h_out"],
                         hidden_size=16, name="gru")]
    graph = helper.make_graph(
        nodes, "encoder",
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [1, 1, "S", 4]),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 1, 16])],
        [helper.make_tensor_value_info("e0", TensorProto.FLOAT, ["E0", 1, "S", 4]),
         helper.make_tensor_value_info("e1", TensorProto.FLOAT, ["S", 1, "S", 4]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 1, 16])],
        initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_batch_only_wrong_output_declarations_give_is_no_error(tmp_path: Path) -> None:
    path = tmp_path / "encoder.onnx"
    onnx.save(_encoder(), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (1, 3, 7):  # X is [S, 1, 4]: the batch is 1, S the time
        outputs = session.run(None, {"feat": np.ones((1, 1, frames, 4), np.float32),
                                     "h_in": np.zeros((1, 1, 16), np.float32)})
        assert outputs[2].shape == (frames, 1, 1, 16)
    proc = run_archlint("lint", str(path), "--select", "AL309")
    assert proc.returncode == 0, proc.stdout
    [line] = [line for line in proc.stdout.splitlines() if " AL309 " in line]
    assert "AL309 warning" in line
    assert "as shape inference gives it, not traced to an input's axis; it starts from the " \
        "declarations of graph outputs the graph reads again ('e0', 'e1')" in line
    assert "First check the declared shapes of 'e0', 'e1'" in proc.stdout
