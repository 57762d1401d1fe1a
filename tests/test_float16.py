"""Exports converted to float16 by onnxconverter-common (fixtures/float16/, make_float16.py):
the layers and counts of the exports they came from, in float16; the conversions that broke
the model are the ones that get an error or a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.params_columns import annotate_model
from archlint.params_types import ModelParams

from .conftest import FIXTURES, REPO, invoke

HERE = FIXTURES / "float16"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# what onnxruntime refuses, and what archlint says of it beyond what it says of the source
BROKEN = {
    "gru_ra0_hard_sigmoid_fp16.onnx": [("AL001", "warning")],  # the Loop body is mistyped
    "lstm_uni_h0_s8_fp16.onnx": [("AL020", "error"), ("AL020", "error")],  # float16 scales
}


def _layers(path: Path) -> list[tuple[str, str, int | None, str | None]]:
    graph = build_graph(load_model(path))
    return [(layer.op_type, layer.recognised_as, layer.effective_hidden_size,
             None if layer.cell is None else str(layer.cell.reset_after))
            for layer in build_layers(graph)]


def _report(path: Path) -> ModelParams:
    graph = build_graph(load_model(path))
    layers = build_layers(graph)
    return annotate_model(count_model(path.name, graph, layers), graph, layers)


def _codes(path: Path) -> list[tuple[str, str]]:
    result = invoke("lint", str(path), "--format", "json", "--exit-zero")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    return sorted((f["code"], f["severity"]) for f in model["findings"])


def test_onnxruntime_refuses_exactly_the_broken_conversions() -> None:
    assert sorted(name for name, entry in MANIFEST.items()
                  if entry["onnxruntime"] != "ok") == sorted(BROKEN)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_float16_model_has_the_layers_and_counts_of_its_source(name: str) -> None:
    source = REPO / MANIFEST[name]["source"]
    assert _layers(HERE / name) == _layers(source)
    converted, original = _report(HERE / name), _report(source)
    for convention in (Convention.PYTORCH, Convention.KERAS):
        assert converted.total(convention) == original.total(convention)
    recurrent = [row for row in converted.layers if row.kind == "recurrent"]
    assert recurrent
    # every float weight is float16 (a quantized LSTM's int8 weights stay int8)
    assert all("float16" in (row.param_dtype or "").split("+") and "float32"
               not in (row.param_dtype or "") for row in recurrent)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_lint_adds_findings_only_where_the_conversion_broke_the_model(name: str) -> None:
    source = REPO / MANIFEST[name]["source"]
    assert _codes(HERE / name) == sorted(_codes(source) + BROKEN.get(name, []))


def test_the_reset_gate_is_seen_through_the_casts_the_conversion_adds() -> None:
    """A Keras hard_sigmoid clamps with Min and Max, which the converter keeps in float32
    between two Casts; a cell step's h reaches its product and the reset gate's Mul through two
    different Casts. Either way the GRU is reset_after=False: Keras counts 96, PyTorch has no
    such GRU."""
    for name in ("gru_ra0_hard_sigmoid_fp16.onnx", "keras_gru_cell_ra0_fp16.onnx"):
        [(op, _, hidden, reset_after)] = _layers(HERE / name)
        assert (op, hidden, reset_after) == ("GRU", 4, "False")
        report = _report(HERE / name)
        assert (report.total(Convention.KERAS), report.total(Convention.PYTORCH)) == (96, None)
