"""torch cells exported at opset 10 and dynamically quantized there (fixtures/opset10/,
make_opset10.py): without DynamicQuantizeLinear, onnxruntime's quantize_dynamic quantizes x
with a QuantizeLinear of a scale it computes. The cells were plain MatMulInteger rows; each
quantized model now reads as its float source, with PyTorch's own count."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REPO, read_as

HERE = FIXTURES / "opset10"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]
QUANTIZED = sorted(name for name, entry in MODELS.items() if "source" in entry)


def test_every_model_is_listed_and_runs_as_torch_does() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry["max_abs_diff_vs_torch"] < (0.05 if "source" in entry else 1e-6)
               for entry in MODELS.values())


@pytest.mark.parametrize("name", QUANTIZED)
def test_a_quantized_opset_10_cell_reads_as_its_float_source(name: str) -> None:
    from archlint.params import Convention

    layers, totals, codes = read_as(HERE / name)
    assert (layers, totals, codes) == read_as(REPO / MODELS[name]["source"])
    assert len(layers) == 1 and layers[0][1] in ("step", "unrolled")
    assert totals[Convention.PYTORCH] == MODELS[name]["torch_params"]
    assert codes == ["AL025"]
