"""Committed exports as onnxruntime saves them optimized (fixtures/ort_optimized/,
make_ort_optimized.py): each reads as its source does, the same layers recognised the same
way, the same counts in every convention and the same finding codes. The basic level's
transpose optimizer moves a Keras unrolled LSTM's time-major Transpose onto each step's slice
(the chain was missed, and its bias counted as a constant, before the step views took it)."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REPO, read_as

HERE = FIXTURES / "ort_optimized"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def test_every_optimized_model_is_listed() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in HERE.glob("*.onnx"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_an_optimized_model_reads_as_its_source(name: str) -> None:
    optimized = read_as(HERE / name)
    assert optimized == read_as(REPO / MANIFEST[name]["source"])
    assert optimized[0]  # every source has a recurrent layer
