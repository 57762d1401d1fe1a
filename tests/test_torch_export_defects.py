"""Two defects of real torch exports that lint missed, each a fixture with the script that
makes it and a manifest of what onnxruntime does:

- AL309 on a batch-major h0 (fixtures/AL309/make_torch_h0_batch_major.py): nn.GRU with
  batch_first=True called with h0 shaped like x, [batch, num_layers, hidden]. The classic
  exporter slices h0's axis 0 (its batch, declared dynamic) into the layers' states, whose
  batch axis is then h0's fixed axis 1. onnxruntime refuses batch 3; nothing said so before
  (the state's own shape, [1, 2, 8], no longer carries the symbol AL310 looks for).
- AL302 behind a stale declaration (fixtures/AL302/make_torch_bi_reshape_dynamo.py).
"""

from __future__ import annotations

import json

from .conftest import FIXTURES, run_archlint

HERE = FIXTURES / "AL309"


def test_a_batch_major_h0_sliced_as_layers_is_an_error() -> None:
    runs = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert runs["batch=2"] == "runs"
    assert "Input initial_h must have shape {1,3,8}" in runs["batch=3"]
    proc = run_archlint("lint", str(HERE / "torch_gru_h0_batch_major.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["input"], finding["expected"], finding["actual"]) == (
        "AL309", "error", "/gru/GRU", "initial_h", "'batch'", "2")
    assert "'h0' declares 'batch' on axis 0, which the model slices as if it held the layers" \
        in finding["message"]
    assert finding["help"].startswith("'h0' is a batch-major state: PyTorch's h0 and c0 are "
                                      "(num_layers·num_directions, batch, hidden)")


def test_a_baked_length_behind_a_stale_declaration_is_al302() -> None:
    """fixtures/AL302/torch_bi_reshape_dynamo.onnx (make_torch_bi_reshape_dynamo.py): torch's
    dynamo exporter declares the batch-first LSTM output [batch, 5, 16] (AL316) and reshapes
    it to the constant [-1, 5, 16]. Judged against the declaration the target matched; the
    graph computes [batch, time, 16], and onnxruntime fails at 9 steps."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert runs["time=5"]["max_abs_diff_vs_torch"] < 1e-6
    assert "running Reshape node. Name:'node_Reshape_145'" in runs["time=9"]["onnxruntime_error"]
    proc = run_archlint("lint", str(folder / "torch_bi_reshape_dynamo.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = [(f["code"], f["severity"], f["location"]["node"], f["actual"])
             for f in json.loads(proc.stdout)["models"][0]["findings"]]
    assert found == [
        ("AL316", "warning", "node_lstm__0", "[batch, 5, 16]"),
        ("AL302", "error", "node_Reshape_145", "[-1, 5, 16]")]
