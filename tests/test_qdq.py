"""Committed exports after onnxruntime's static QDQ quantization (fixtures/qdq/, make_qdq.py):
each reads as its source does, the same layers recognised the same way, the same counts in
every convention and the same finding codes. A quantize-dequantize pair on an activation is
a view of it: an unrolled Keras LSTM, torch's dynamo nn.RNN chain and a torch LSTMCell step
were not recognised through them, and the dynamo chain's input bias (added once, to the
hoisted projection, behind its own pair) was dropped."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REPO, read_as

HERE = FIXTURES / "qdq"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def test_every_quantized_model_is_listed() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in HERE.glob("*.onnx"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_qdq_model_reads_as_its_source(name: str) -> None:
    quantized = read_as(HERE / name)
    assert quantized == read_as(REPO / MANIFEST[name]["source"])
    assert quantized[0]  # every source has a recurrent layer
