"""AL321: an initial state stored with a different row per sequence of the batch. The real
case: a Keras 2 LSTM(stateful=True) exported by tf2onnx after one predict
(fixtures/AL321/make_keras2_stateful.py) starts every call from the state that batch left:
onnxruntime differs from Keras after reset_states() by 0.03; exported after reset_states()
its states are zeros and it matches (the Keras 2 sweep: archlint said nothing)."""

from __future__ import annotations

import json

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "AL321"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def _findings(name: str) -> list[dict]:
    result = invoke("lint", str(HERE / name), "--format", "json", "--exit-zero")
    (model,) = json.loads(result.stdout)["models"]
    return model["findings"]


def test_a_stateful_keras_layer_exported_after_predict_is_reported_once() -> None:
    stale, reset = (MANIFEST[f"keras2_stateful_lstm{s}.onnx"] for s in ("", "_reset"))
    assert stale["max_abs_diff_vs_keras_from_zeros"] > 0.01
    assert reset["max_abs_diff_vs_keras_from_zeros"] < 1e-5
    (finding,) = _findings("keras2_stateful_lstm.onnx")
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["input"], finding["actual"]) == (
        "AL321", "warning", "LSTM__28", "initial_h", "2 different stored rows")
    assert "(and initial_c is the stored tensor 'const_fold_opt__45')" in finding["message"]
    assert finding["help"].startswith("If the layer is stateful, reset its states before "
                                      "exporting (Keras: model.reset_states())")


def test_the_same_layer_exported_after_reset_states_is_fine() -> None:
    assert _findings("keras2_stateful_lstm_reset.onnx") == []
