"""Real PyTorch exports that hand recurrent states around (fixtures/exported_states, made by
its script): archlint names the defect in each bad one and nothing in the good ones, and
onnxruntime reproduces PyTorch's numbers, showing each bad model computes something else than
the correct spelling of the same model (same weights)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from .conftest import FIXTURES
from .layout_support import lint

HERE = FIXTURES / "exported_states"
MANIFEST: dict[str, Any] = json.loads((HERE / "manifest.json").read_text())["models"]

FINDINGS = {
    "bad_gru_bi_hn_view": [("AL303", "/Reshape", "data")],
    "bad_lstm_enc_gru_dec_cell": [("AL307", "/dec/GRU", "initial_h")],
    "bad_gru_bi_dec_flip": [("AL315", "/dec/GRU", "initial_h")],
    "bad_gru_bi_dec_swap": [("AL315", "/dec/GRU", "initial_h")],
    "good_gru_bi_hn_cat": [],
    "good_gru_bi_hn_permute": [],
    "good_lstm_enc_gru_dec": [],
    "good_gru_bi_dec": [],
    "good_lstm_packed_state": [],
}
# bad model -> the correct spelling of the same module (same seed, same weights)
PAIRS = {"bad_gru_bi_hn_view": "good_gru_bi_hn_cat",
         "bad_lstm_enc_gru_dec_cell": "good_lstm_enc_gru_dec",
         "bad_gru_bi_dec_flip": "good_gru_bi_dec", "bad_gru_bi_dec_swap": "good_gru_bi_dec"}


def _run(name: str, feeds: dict[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
    session = ort.InferenceSession(str(HERE / f"{name}.onnx"),
                                   providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def _inputs(name: str) -> dict[str, np.ndarray[Any, Any]]:
    return {k: np.asarray(v, np.float32) for k, v in MANIFEST[name]["inputs"].items()}


def test_every_export_is_listed() -> None:
    assert sorted(p.stem for p in HERE.glob("*.onnx")) == sorted(FINDINGS) == sorted(MANIFEST)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_lint_names_the_defect_and_only_it(name: str) -> None:
    findings = lint(HERE / f"{name}.onnx")
    assert [(f.code, f.location.node, f.location.input) for f in findings] == FINDINGS[name]
    assert all(f.severity.value == "error" for f in findings)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_onnxruntime_reproduces_pytorch(name: str) -> None:
    outputs = _run(name, _inputs(name))
    for got, want in zip(outputs, MANIFEST[name]["torch"].values(), strict=True):
        np.testing.assert_allclose(got, np.asarray(want, np.float32), atol=1e-5)


@pytest.mark.parametrize("bad", sorted(PAIRS))
def test_bad_spelling_computes_other_numbers_than_the_correct_one(bad: str) -> None:
    feeds = _inputs(bad)
    [wrong], [meant] = _run(bad, feeds), _run(PAIRS[bad], feeds)
    assert wrong.shape == meant.shape  # it runs, same shape: nothing fails
    assert not np.allclose(wrong, meant, atol=1e-3)


def test_packed_state_streams_like_one_long_run() -> None:
    feeds = _inputs("good_lstm_packed_state")
    y_full, state_full = _run("good_lstm_packed_state", feeds)
    x = feeds["x"]
    y1, state1 = _run("good_lstm_packed_state", {"x": x[:2], "state": feeds["state"]})
    y2, state2 = _run("good_lstm_packed_state", {"x": x[2:], "state": state1})
    np.testing.assert_allclose(np.concatenate([y1, y2]), y_full, atol=1e-5)
    np.testing.assert_allclose(state2, state_full, atol=1e-5)
