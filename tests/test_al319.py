"""AL319: a constant Reshape target on the way into a recurrent node that fixes a dynamic
axis (AL302 judges the Reshapes after one). A real case: ``y.reshape(int(y.shape[0]),
int(y.shape[1]), -1)`` before an nn.LSTM, exported by torch's classic exporter
(fixtures/AL319/make_torch_int_view.py), which onnxruntime runs only at the export's sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import archlint
from archlint.api import Safety

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "AL319"
EXPORT = HERE / "torch_int_view_classic.onnx"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"][EXPORT.name]


def _findings(path: Path, code: str) -> list[dict]:
    result = invoke("lint", str(path), "--select", code, "--format", "json", "--exit-zero")
    (model,) = json.loads(result.stdout)["models"]
    return model["findings"]


def test_the_torch_export_fails_at_another_size_and_is_reported() -> None:
    assert MANIFEST["onnxruntime"]["batch_2_time_5"] < 1e-5
    assert "Reshape" in MANIFEST["onnxruntime"]["batch_3_time_7"]
    (finding,) = _findings(EXPORT, "AL319")
    assert (finding["severity"], finding["location"]["node"], finding["location"]["input"]) \
        == ("error", "/Reshape", "shape")
    assert (finding["expected"], finding["actual"]) == ("[0, 0, -1]", "[2, 5, -1]")
    assert "int(x.size(0))" in finding["help"]


@pytest.mark.parametrize(("path", "code"), [
    (FIXTURES / "AL302" / "bad.onnx.txt", "AL319"),  # after the LSTM: AL302's
    (HERE / "bad.onnx.txt", "AL302"),  # before it: AL319's
    (EXPORT, "AL302"),
])
def test_a_shaper_is_judged_by_one_rule_by_its_place(path: Path, code: str) -> None:
    assert _findings(path, code) == []


@pytest.mark.parametrize(("batch", "time"), [(3, 7), (1, 2)])
def test_the_fixed_export_runs_at_any_size(batch: int, time: int) -> None:
    result = archlint.fix(EXPORT)
    assert [(a.code, a.node, a.safety) for a in result.applied] \
        == [("AL319", "/Reshape", Safety.SAFE)]
    x = np.random.default_rng(batch).standard_normal((batch, time, 12)).astype(np.float32)
    with pytest.raises(Exception, match="Reshape"):
        ort.InferenceSession(str(EXPORT), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    fixed = ort.InferenceSession(result.model.SerializeToString(),
                                 providers=["CPUExecutionProvider"])
    (y,) = fixed.run(None, {"x": x})
    assert y.shape == (batch, time, 4)


_NHWC = """<ir_version: 8, opset_import: ["" : 17]>
g (float[batch, 8, width, 1] x, float[1, 32, 8] W, float[1, 32, 8] R) => (float[w, 1, b, 8] Y) {
  shape = Constant <value: tensor = int64[4] {0, 1, 8, -1}> ()
  nchw = Reshape (x, shape)
  seq = Reshape <allowzero: int = 0> (nchw, flat)
  flat = Constant <value: tensor = int64[3] {0, 8, -1}> ()
  Y, Y_h, Y_c = LSTM <hidden_size: int = 8> (steps, W, R)
  steps = Transpose <perm: ints = [2, 0, 1]> (seq)
}
"""


def test_a_target_whose_numbers_the_fixed_axes_hold_is_no_baked_axis(tmp_path: Path) -> None:
    """tf2onnx writes NHWC [N, 8, W, 1] as NCHW with [0, 1, 8, -1]: the 8 is the input's 8
    and the -1 takes W at every width (a TF1 CRNN read it as W baked at 8)."""
    import onnx
    import onnx.parser

    path = tmp_path / "m.onnx"
    model = onnx.parser.parse_model(_NHWC)
    nodes = list(model.graph.node)
    order = [nodes[0], nodes[1], nodes[3], nodes[2], nodes[5], nodes[4]]  # made before read
    del model.graph.node[:]
    model.graph.node.extend(order)
    onnx.save_model(model, path)
    assert _findings(path, "AL319") == []
