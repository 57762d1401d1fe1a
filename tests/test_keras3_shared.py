"""One Keras 3 LSTM applied several times, exported by Keras with the torch backend
(fixtures/keras3_shared/, make_keras3_shared.py): a siamese LSTM on two inputs and a
TimeDistributed sub-model holding an LSTM. Each application is an unrolled chain of one
weight that projects its own whole sequence first. The siamese chains were no layer at all
(neither read slices of a sequence), and the TimeDistributed model one layer of "3 steps"
with no bias (the three projections read as its steps): each application is now a layer,
the weights counted once, as Keras counts them."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "keras3_shared"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]


def test_every_model_is_listed_and_runs_as_keras_does() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry["max_abs_diff_vs_keras"] < 1e-5 for entry in MODELS.values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_application_is_a_layer_of_the_shared_weights(name: str) -> None:
    result = invoke("params", str(HERE / name), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.output)["models"]
    assert model["totals"]["keras"] == MODELS[name]["keras_params"] == 128
    layers = [layer for layer in model["layers"] if layer["kind"] == "recurrent"]
    steps = 6 if name.startswith("time_distributed") else 5
    assert [(layer["op_type"], layer["recognised_as"], layer["input_size"],
             layer["implied_hidden_size"]) for layer in layers] \
        == [("LSTM", "unrolled", 3, 4)] * MODELS[name]["applications"]
    assert [layer["params"]["keras"] for layer in layers] \
        == [128] + [0] * (MODELS[name]["applications"] - 1)  # the weights are shared
    assert all(f"forward, {steps} steps); bias layout one" in layer["notes"][0]
               for layer in layers)
