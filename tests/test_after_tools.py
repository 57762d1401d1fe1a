"""Committed exports after the tools users run on a model before they ship it, each folder
with the script that made it; every model reads as its source does (tests/conftest.read_as):
the same layers recognised the same way, the same counts in every convention, the same
finding codes.

- fixtures/ort_optimized/: onnxruntime's saved graph optimizations, basic and extended. Its
  transpose optimizer moves a Keras unrolled LSTM's time-major Transpose onto each step's
  slice (the chain was missed, and its bias counted as a constant, before the step views took
  a Transpose).
- fixtures/qdq/: onnxruntime's static quantization in the QDQ format. A quantize-dequantize
  pair on an activation is a view of it: an unrolled Keras LSTM, torch's dynamo nn.RNN chain
  and a torch LSTMCell step were not recognised through them, and the dynamo chain's input
  bias (added once, to the hoisted projection, behind its own pair) was dropped.
- fixtures/dynamic_quantized/: onnxruntime's dynamic quantization. Each MatMul of a stored
  weight becomes MatMulInteger of the dynamically quantized input, cast and rescaled by a Mul:
  an unrolled Keras LSTM and torch's LSTMCell and GRUCell steps were not recognised (their
  products were no MatMul or Gemm).
"""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REPO, read_as

FOLDERS = ("ort_optimized", "qdq", "dynamic_quantized")
CASES = [(folder, name) for folder in FOLDERS
         for name in sorted(json.loads((FIXTURES / folder / "manifest.json").read_text())
                            ["models"])]


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_model_is_listed_with_its_source(folder: str) -> None:
    models = json.loads((FIXTURES / folder / "manifest.json").read_text())["models"]
    assert sorted(models) == sorted(p.name for p in (FIXTURES / folder).glob("*.onnx"))
    assert all((REPO / entry["source"]).is_file() for entry in models.values())


@pytest.mark.parametrize(("folder", "name"), CASES)
def test_a_model_after_the_tool_reads_as_its_source(folder: str, name: str) -> None:
    source = json.loads((FIXTURES / folder / "manifest.json").read_text())["models"][name]
    after = read_as(FIXTURES / folder / name)
    assert after == read_as(REPO / source["source"])
    assert after[0]  # every source has a recurrent layer
