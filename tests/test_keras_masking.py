"""Keras Masking + LSTM through tf2onnx at opsets 10 and 11 (fixtures/AL318/,
make_keras_masking.py). Below opset 11 Equal takes no floats and tf2onnx casts x to int32
before the test: steps of small features count as padding, and onnxruntime's outputs differ
from Keras's (the opset sweep: 0.18). AL318 warns at opset 10 and not at 11; both count
Keras's 264."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke, read_as

HERE = FIXTURES / "AL318"
MANIFEST = json.loads((HERE / "manifest.json").read_text())


def test_onnxruntime_differs_from_keras_at_opset_10_only() -> None:
    runs = MANIFEST["models"]
    assert runs["keras_masking_op10.onnx"]["max_abs_diff_vs_keras"] > 0.05
    assert runs["keras_masking_op11.onnx"]["max_abs_diff_vs_keras"] < 1e-5


@pytest.mark.parametrize(("opset", "codes"), [(10, ["AL025", "AL318"]), (11, ["AL025"])])
def test_the_truncated_mask_is_found_at_opset_10_only(opset: int, codes: list[str]) -> None:
    from archlint.params import Convention

    layers, totals, found = read_as(HERE / f"keras_masking_op{opset}.onnx")
    assert layers == [("LSTM", "loop-cell")]
    assert totals[Convention.KERAS] == MANIFEST["keras_params"] == 264
    assert found == codes


def test_the_warning_names_the_comparison_and_the_cast() -> None:
    result = invoke("lint", str(HERE / "keras_masking_op10.onnx"), "--format", "json",
                    "--exit-zero", "--select", "AL318")
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert (finding["severity"], finding["location"]["node"], finding["expected"]) == (
        "warning", "model/masking/NotEqual", "'x' compared as floats with 0")
    assert finding["actual"] == "'x' truncated to integers, then compared"
