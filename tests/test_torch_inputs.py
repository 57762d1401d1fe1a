"""torch.onnx exports whose weights are graph inputs (fixtures/torch_inputs/,
make_torch_inputs.py). With keep_initializers_as_inputs, the dynamo exporter's zero initial
state is an expanded scalar 0.0 that is an input too: it was read as a learned state of one
element (513 of 512), because an initializer that is also an input was never judged by its
data. With export_params=False, the head's weights are inputs with no value: they were left
out with no word (512 of 539); the report now names them, and notes on weights computed from
inputs no longer call them stored."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnx.parser
import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "torch_inputs"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]


def _params(name: str, *options: str) -> tuple[str, dict]:
    result = invoke("params", str(HERE / name), *options)
    assert result.exit_code == 0, result.output
    text = result.output
    data = invoke("params", str(HERE / name), "--format", "json")
    (model,) = json.loads(data.output)["models"]
    return text, model


def test_every_model_is_listed_and_runs_as_torch_does() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry.get("max_abs_diff_vs_torch", 0) < 1e-5 for entry in MODELS.values())


@pytest.mark.parametrize("name", ["lstm_keepinit_dynamo.onnx", "gru_keepinit_dynamo.onnx"])
def test_a_default_of_zeros_is_no_learned_state(name: str) -> None:
    text, model = _params(name)
    assert model["totals"]["pytorch"] == model["totals"]["onnx"] == MODELS[name]["torch_params"]
    assert "learned initial state" not in text
    assert [slot["slot"] for slot in model["layers"][0]["slots"]] == ["W", "R", "B"]
    assert model["weight_inputs"] == []


@pytest.mark.parametrize("name", ["lstm_noparams_classic.onnx",
                                  "rnn_noparams_nofold_classic.onnx"])
def test_weights_given_at_run_time_are_named_not_counted(name: str) -> None:
    text, model = _params(name)
    entry = MODELS[name]
    assert model["totals"]["pytorch"] == entry["recurrent_params"]
    assert sum(w["elements"] for w in model["weight_inputs"]) == entry["head_params"]
    assert [w["tensor"] for w in model["weight_inputs"]][-1] == "head.bias"
    assert "not counted: 2 graph inputs with no stored value read as a weight or bias by a " \
        "MatMul, Gemm or Conv" in text
    assert f"; {entry['head_params']} elements): a model saved without its weights" in text
    assert "stored tensors" not in text  # the recurrent weights are inputs, not stored


_MEMORY = """<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4] x, float[4, 5] memory) => (float[1, 5] y) {STORED} {
  h = MatMul(x, w)
  y = MatMul(h, memory)
}
"""


@pytest.mark.parametrize("stored", [True, False])
def test_an_input_a_product_reads_is_a_weight_only_where_no_weight_is_stored(
    stored: bool, tmp_path: Path
) -> None:
    """An attention's memory fed at run time is data: a model that stores its other weights
    names nothing; where every product's weight is an input, both are named."""
    text = _MEMORY.replace("{STORED}", "<float[4, 4] w = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, "
                           "0, 0, 0, 1}>" if stored else "")
    if not stored:
        text = text.replace("float[4, 5] memory)", "float[4, 5] memory, float[4, 4] w)")
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx.parser.parse_model(text), path)
    result = invoke("params", str(path), "--format", "json")
    (model,) = json.loads(result.output)["models"]
    assert model["weight_inputs"] == ([] if stored else [
        {"tensor": "w", "elements": 16}, {"tensor": "memory", "elements": 20}])
