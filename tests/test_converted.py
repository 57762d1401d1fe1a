"""A dynamo export after onnxsim, onnx's version converter and onnxconverter-common's float16
conversion (fixtures/converted/, make_converted.py). Each tool saves its own inference in
value_info, with made-up names for the dims it could not name; the Reshape after the last
layer still bakes the export's sequence length, and onnxruntime still fails at another length.
archlint reports it as it does on the source: the inference worker makes those names unknown
before onnx infers, so the input's ``seq`` reaches the Reshape again.
"""

from __future__ import annotations

import json

import pytest

from archlint.engine import Linter
from archlint.registry import load_rules

from .conftest import FIXTURES

HERE = FIXTURES / "converted"
MANIFEST = json.loads((HERE / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST["models"]))
def test_the_baked_length_is_reported_after_each_tool(name: str) -> None:
    entry = MANIFEST["models"][name]
    assert entry["ort_seq_5_batch_3"] == "ok"
    assert "node_Reshape_236" in entry["ort_seq_7_batch_3"]
    report = Linter(load_rules().rules).lint_file(HERE / name)
    assert report.error is None
    assert [(f.code, f.location.node, f.actual) for f in report.findings] == [
        ("AL302", "node_Reshape_236", "[5, -1, 6]")]
    assert "'seq'" in report.findings[0].message


def test_every_converted_model_is_listed_and_comes_from_the_export() -> None:
    assert sorted(MANIFEST["models"]) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert MANIFEST["source"] == "fixtures/exported/lstm_l2_bi_dynamo.onnx"
