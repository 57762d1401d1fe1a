"""Committed exports as onnxruntime saves them optimized (fixtures/ort_optimized/,
make_ort_optimized.py): each reads as its source does, the same layers recognised the same
way, the same counts in every convention and the same finding codes. The basic level's
transpose optimizer moves a Keras unrolled LSTM's time-major Transpose onto each step's slice
(the chain was missed, and its bias counted as a constant, before the step views took it)."""

from __future__ import annotations

import json

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model

from .conftest import FIXTURES, REPO, invoke

HERE = FIXTURES / "ort_optimized"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def _read(path: str) -> tuple[list[tuple[str, str]], dict[Convention, int | None], list[str]]:
    graph = build_graph(load_model(REPO / path))
    layers = build_layers(graph)
    report = count_model(path, graph, layers)
    result = invoke("lint", str(REPO / path), "--format", "json", "--exit-zero")
    codes = sorted(f["code"] for m in json.loads(result.stdout)["models"] for f in m["findings"])
    return ([(layer.op_type, layer.recognised_as.value) for layer in layers],
            {c: report.total(c) for c in Convention}, codes)


def test_every_optimized_model_is_listed() -> None:
    assert sorted(MANIFEST) == sorted(p.name for p in HERE.glob("*.onnx"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_an_optimized_model_reads_as_its_source(name: str) -> None:
    optimized = _read(str((HERE / name).relative_to(REPO)))
    assert optimized == _read(MANIFEST[name]["source"])
    assert optimized[0]  # every source has a recurrent layer
