"""torch's single-step cells quantized with Intel Neural Compressor's SmoothQuant
(fixtures/smoothquant/, make_smoothquant.py). SmoothQuant writes ``Mul(h, scale)`` (a stored
per-channel vector) before the QuantizeLinear of each product's input, so the state reaches
its recurrent product through a Mul, not a view: the steps were plain Gemm rows. Each now
reads as its float source, with PyTorch's own count."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnx.parser
import pytest

from .conftest import FIXTURES, REPO, read_as

HERE = FIXTURES / "smoothquant"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]
STEPS = json.loads((FIXTURES / "steps" / "manifest.json").read_text())["models"]


def test_every_model_is_listed_and_runs_close_to_its_float_source() -> None:
    assert sorted(entry["file"] for entry in MODELS.values()) \
        == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(max(entry["max_abs_diff_vs_float"]) < 0.1 for entry in MODELS.values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_smoothquant_step_reads_as_its_float_source(name: str) -> None:
    from archlint.params import Convention

    path = HERE / MODELS[name]["file"]
    layers, totals, codes = read_as(path)
    assert (layers, totals, codes) == read_as(REPO / MODELS[name]["source"])
    assert layers == [(STEPS[name]["cell"], "step")]
    assert totals[Convention.PYTORCH] == STEPS[name]["torch_params"]
    assert codes == ["AL025"]
    model = onnx.load(path)
    assert any(node.op_type == "Mul" and node.input[0] in [i.name for i in model.graph.input]
               for node in model.graph.node)  # the state (and x) read through a Mul


_WALK = """<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 4] h, float[4] t) => (float[1, 4] y, float[1, 4] z) <float[4] s = {1, 1, 1, 1}> {
  hs = Mul(h, s)
  y = Identity(hs)
  ht = Mul(h, t)
  z = Identity(ht)
}
"""


def test_a_view_walk_passes_a_mul_only_by_a_stored_tensor(tmp_path: Path) -> None:
    from archlint.graph import build_graph
    from archlint.loader import load_model

    path = tmp_path / "m.onnx"
    onnx.save_model(onnx.parser.parse_model(_WALK), path)
    graph = build_graph(load_model(path))
    through = frozenset({"Identity", "Mul"})
    assert graph.viewed_input("y", "main", through) == ("main", "h")  # h times stored s
    assert graph.viewed_input("z", "main", through) is None  # h times an input: computed
    assert graph.viewed_input("y", "main", frozenset({"Identity"})) is None
    assert graph.reading_inputs(frozenset({"Identity"}), "main", through) == ["main/1"]
