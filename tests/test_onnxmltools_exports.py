"""CoreML NeuralNetwork models converted by onnxmltools 1.16 (fixtures/onnxmltools/, made by
fixtures/onnxmltools/make/build_coreml.py with coremltools 9.0): uni- and bidirectional
LSTMs (peepholes, a coupled input-forget gate, cell clipping, no bias, states), GRUs,
SimpleRNNs with several activations, stacks, and a seq2seq model whose decoder reads the
encoder's states, which the converter also declares as zero initializers (AL009)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "onnxmltools"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    result = invoke("params", str(HERE), "--format", "json")
    assert result.exit_code == 0, result.output
    return {model["path"].rsplit("/", 1)[-1]: model
            for model in json.loads(result.output)["models"]}


def test_every_committed_model_is_in_the_manifest() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in HERE.glob("*.onnx"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_layer_and_its_count_is_coremls(name: str, reports: dict[str, Any]) -> None:
    """ONNX holds W, R and two biases (Wb, and an Rb of zeros) per direction; CoreML one bias,
    which is what the Keras column counts. A peephole LSTM has no Keras equivalent, nor a
    CIFG one (coupled input and forget gates: input_forget=1)."""
    rows = [row for row in reports[name]["layers"] if row["kind"] == "recurrent"]
    expected = MANIFEST[name]["layers"]
    assert [(row["op_type"], row["direction"], row["input_size"],
             row["hidden_size"] or row["implied_hidden_size"]) for row in rows] \
        == [(layer["kind"], layer["direction"], layer["I"], layer["H"]) for layer in expected]
    for row, layer in zip(rows, expected, strict=True):
        assert row["params"]["onnx"] == layer["onnx_params"], row["label"]
        no_keras = layer.get("peep") or name == "lstm_cifg_opdefault.onnx"
        assert row["params"]["keras"] == (None if no_keras else layer["coreml_params"])


def test_the_seq2seq_states_defined_twice_are_al009() -> None:
    result = invoke("lint", str(HERE / "seq2seq_lstm_opdefault.onnx"), "--format", "json")
    assert result.exit_code == 1, result.output
    [model] = json.loads(result.stdout)["models"]
    assert [(f["code"], f["location"]["node"], f["location"]["tensor"])
            for f in model["findings"]] == [("AL009", "Identity", "enc_h"),
                                            ("AL009", "Reshape2", "enc_c")]
