"""Graphs whose nodes are not in topological order (AL006): real exports saved with their
main graph's nodes reversed, as a script that appends nodes without sorting leaves them.
onnxruntime sorts such a graph and runs it; archlint analysed the list as written, and the
unrolled chains, the Loop cells and the findings around them were lost (19 of 125 models of
the tool sweep lost layers; AL302, AL303, AL309, AL316 and AL317 went unseen). It analyses a
sorted copy now: each model reads as its source, plus AL006, and the file is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from .conftest import FIXTURES, invoke, read_as

SOURCES = (
    "keras3_torch/lstm_static.onnx",  # an unrolled chain
    "AL317/torch_lstm_cell_loop.onnx",  # an unrolled chain over a dynamic axis: AL317
    "keras3_jax/gru_forward.onnx",  # a Loop cell, its body reading the main graph
    "paddle/gru_l2.onnx",  # a native stack whose output drops a layer: AL306
)


def _reversed(source: Path, target: Path) -> Path:
    model = onnx.load(source)
    nodes = list(model.graph.node)[::-1]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, target)
    return target


@pytest.mark.parametrize("source", SOURCES)
def test_a_reversed_graph_reads_as_its_source_plus_al006(source: str, tmp_path: Path) -> None:
    path = _reversed(FIXTURES / source, tmp_path / "reversed.onnx")
    before = path.read_bytes()
    layers, totals, codes = read_as(FIXTURES / source)
    assert read_as(path) == (layers, totals, sorted([*codes, "AL006"]))
    assert layers
    assert path.read_bytes() == before  # the sorted copy is archlint's own


def test_al006_names_the_first_read_before_made_and_counts_the_others(tmp_path: Path) -> None:
    path = _reversed(FIXTURES / "keras3_torch" / "lstm_static.onnx", tmp_path / "r.onnx")
    result = invoke("lint", str(path), "--format", "json", "--exit-zero", "--select", "AL006")
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["graph"]) \
        == ("AL006", "warning", "main")
    assert "other tensors are read before made: the nodes of graph 'main' are not in " \
        "topological order (analysed as sorted)" in finding["message"]
    assert finding["actual"].endswith("read first, made later")
