"""The params report says how each recurrent layer was found, whichever recogniser found it."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke


@pytest.mark.parametrize(("model", "expected"), [
    ("exported/lstm_4_2.onnx", ["native"]),
    ("quantized/lstm_uni_h0_s8.onnx", ["contrib"]),
    ("keras/k2_simple_rnn.onnx", ["loop-cell"]),
    ("keras/k2_lstm_unrolled.onnx", ["unrolled"]),
    ("keras/k2_embed_lstm_dense.onnx", [None, "native", None]),
])
def test_recognised_as_in_json_for_every_way_a_layer_is_found(
    model: str, expected: list[str | None]
) -> None:
    result = invoke("params", str(FIXTURES / model), "--format", "json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)["models"]
    assert [layer["recognised_as"] for layer in report["layers"]] == expected


def test_recognised_column_in_the_table_for_a_contrib_layer() -> None:
    result = invoke("params", str(FIXTURES / "quantized/lstm_uni_h0_s8.onnx"))
    header, row = result.output.splitlines()[1:3]
    column = header.index("recognised")
    assert row[column:].split()[0] == "contrib"
