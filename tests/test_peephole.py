"""Peephole LSTMs written by hand (fixtures/peephole/): a custom Keras cell converted by
tf2onnx (a Loop, and unrolled), and a PyTorch cell stepped in a Python loop (both exporters
unroll it). Each has a kernel and a recurrent kernel of its own and three [H] peephole
vectors added into its gates' pre-activations. The peephole vectors were constants not
counted (128 of 140); they are now the layer's P, as TF1's joint-kernel peepholes are."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "peephole"
MODELS = {**json.loads((HERE / "keras_manifest.json").read_text())["models"],
          **json.loads((HERE / "torch_manifest.json").read_text())["models"]}


def test_every_model_is_listed_and_runs_as_its_framework_does() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(max(entry.get("max_abs_diff_vs_keras", entry.get("max_abs_diff_vs_torch", [1])))
               < 1e-5 for entry in MODELS.values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_peephole_vectors_are_the_layers_p(name: str) -> None:
    result = invoke("params", str(HERE / name), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.output)["models"]
    (layer,) = model["layers"]
    framework = MODELS[name].get("keras_params", MODELS[name].get("torch_params"))
    assert (layer["op_type"], layer["input_size"], layer["implied_hidden_size"]) \
        == ("LSTM", 3, 4)
    assert [(slot["slot"], slot["elements"]) for slot in layer["slots"]] \
        == [("W", 48), ("R", 64), ("B", 16), ("P", 4), ("P", 4), ("P", 4)]
    assert layer["params"] == {"onnx": framework, "keras": framework, "pytorch": None}
    assert framework == 140
    assert "nn.LSTM has no peephole weights" in layer["unsupported"]["pytorch"]
