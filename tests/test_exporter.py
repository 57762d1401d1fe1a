"""The exporter behind onnxruntime's quantizer (archlint/exporter.py).

The quantizer writes its own producer_name, ``onnx.quantize``, over the exporter's; what an
exporter's conventions decide (PyTorch's one stored bias, keras2onnx's go_backwards order
and its Masking) was lost with it: a quantized torch cell of one Linear over cat([x, h]) was
counted as nn.LSTM (PyTorch 108, where the module has 96), and AL322 and AL323 went silent
on quantized keras2onnx exports. The graph's name and the model's domain, which the
quantizer keeps, still name the exporter.
"""

from __future__ import annotations

import json

import pytest

from archlint.exporter import exporter_label, exporter_name, is_keras_exporter

from .conftest import FIXTURES, REPO, invoke

QUANTIZED = ("qdq", "qoperator", "dynamic_quantized")
CASES = [(folder, name, entry["source"]) for folder in QUANTIZED
         for name, entry in sorted(json.loads((FIXTURES / folder / "manifest.json")
                                              .read_text())["models"].items())]


@pytest.mark.parametrize(("folder", "name", "source"), CASES)
def test_a_quantized_fixture_names_its_sources_exporter(folder: str, name: str,
                                                        source: str) -> None:
    from archlint.loader import load_model

    quantized, exported = load_model(FIXTURES / folder / name), load_model(REPO / source)
    assert quantized.producer == "onnx.quantize"
    assert quantized.exporter == exported.producer != "onnx.quantize"
    assert exported.exporter == exported.producer


@pytest.mark.parametrize(("producer", "graph", "domain", "expected"), [
    ("onnx.quantize", "tf2onnx", "", "tf2onnx"),
    ("onnx.quantize", "model", "onnxmltools", "keras2onnx"),
    ("onnx.quantize", "main_graph", "", "pytorch"),
    ("onnx.quantize", "torch_jit", "", "pytorch"),
    ("onnx.quantize", "torch-jit-export", "", "pytorch"),
    ("onnx.quantize", "jax_model", "", "jax2onnx"),
    # keras2onnx 1.6 and older wrote the domain "onnx": it names no exporter
    ("onnx.quantize", "model", "onnx", "onnx.quantize"),
    ("onnx.quantize", "paddle-onnx", "", "onnx.quantize"),
    # an exporter's own producer_name is never second-guessed by its graph's name
    ("pytorch", "tf2onnx", "onnxmltools", "pytorch"),
    ("OnnxMLTools", "main_graph", "onnxml", "OnnxMLTools"),
    ("", "main_graph", "", ""),
])
def test_exporter_name(producer: str, graph: str, domain: str, expected: str) -> None:
    assert exporter_name(producer, graph, domain) == expected


def test_exporter_label_names_the_quantizer_and_the_exporter_behind_it() -> None:
    assert exporter_label("tf2onnx", "tf2onnx") == "'tf2onnx'"
    assert exporter_label("onnx.quantize", "keras2onnx") \
        == "'onnx.quantize' (quantized from a keras2onnx export)"


@pytest.mark.parametrize(("exporter", "keras"), [
    ("tf2onnx", True), ("keras2onnx", True), ("WinMLTools using keras2onnx", True),
    ("pytorch", False), ("onnx.quantize", False), ("jax2onnx", False), ("", False),
])
def test_keras_exporters(exporter: str, keras: bool) -> None:
    assert is_keras_exporter(exporter) is keras


def test_a_quantized_keras2onnx_masking_keeps_al323() -> None:
    """keras2onnx's Masking as sequence_lens, the LSTM now DynamicQuantizeLSTM: the finding
    names the quantizer and the Keras exporter behind it."""
    result = invoke("lint", str(FIXTURES / "dynamic_quantized"
                                / "keras2onnx_masking_lstm_dynamic.onnx"),
                    "--format", "json", "--select", "AL323")
    assert result.exit_code == 0  # a warning
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["location"]["node"]) == ("AL323", "lstm_2_quant")
    assert finding["location"]["input"] == "sequence_lens"
    assert "DynamicQuantizeLSTM 'lstm_2_quant' reads sequence_lens" in finding["message"]
    assert "'onnx.quantize' (quantized from a keras2onnx export)" in finding["message"]
    assert finding["actual"] == "sequence_lens counted from a mask of 'input_3'"


def test_a_quantized_torch_cell_of_one_linear_counts_the_modules_bias() -> None:
    """torch's sum(p.numel()) of a cell of one nn.Linear(I + H, 4·H): 4·3·(4 + 3) + 4·3 = 96,
    float or quantized (nn.LSTM's two biases would make it 108)."""
    from archlint.app import count_paths
    from archlint.params import Convention

    for path in (FIXTURES / "torch_custom" / "cat_lstm_trace.onnx",
                 FIXTURES / "dynamic_quantized" / "torch_custom_cat_lstm_trace_dynamic.onnx",
                 FIXTURES / "qoperator" / "torch_custom_cat_lstm_trace_qop.onnx"):
        [report] = count_paths([str(path)])
        assert (report.total(Convention.PYTORCH), report.total(Convention.KERAS)) == (96, 96)
