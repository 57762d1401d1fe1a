"""The silent bugs, fixed on real PyTorch exports and proved against the intended model.

Each bad model is the same module (same weights) as a good one, exported with a classic
mistake; ``archlint fix --unsafe-fixes`` mends it and onnxruntime then gives the good model's
numbers (and PyTorch's). The dynamo export with the baked sequence length is fixed safely and
then runs at sequence lengths 3 and 7 with the classic export's outputs. Models and the script
that made them: fixtures/exported_fixes/, fixtures/exported_states/, fixtures/exported_defects/.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import archlint
from archlint.api import Safety

from .conftest import FIXTURES

FIXES = FIXTURES / "exported_fixes"
STATES = FIXTURES / "exported_states"
FIX_MANIFEST: dict[str, Any] = json.loads((FIXES / "manifest.json").read_text())
STATE_MANIFEST: dict[str, Any] = json.loads((STATES / "manifest.json").read_text())["models"]


def _run(model: Path | bytes, feeds: dict[str, np.ndarray[Any, Any]]) -> list[Any]:
    source = str(model) if isinstance(model, Path) else model
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def _fixed(path: Path, unsafe: bool) -> tuple[bytes, list[tuple[str, str, Safety]]]:
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = archlint.fix(path, unsafe_fixes=unsafe)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert result.problems == () and result.after == ()
    return (result.model.SerializeToString(),
            [(a.code, a.node, a.safety) for a in result.applied])


@pytest.mark.parametrize("seq", [3, 7])
def test_dynamo_baked_seq_export_fixed_runs_at_any_length_like_the_classic(seq: int) -> None:
    dynamo = FIXTURES / "exported_defects/gru_l2_bi_dynamo.onnx"
    fixed, applied = _fixed(dynamo, unsafe=False)
    assert applied == [("AL302", "node_Reshape_178", Safety.SAFE)]
    x = np.random.default_rng(seq).standard_normal((seq, 3, 4)).astype(np.float32)
    with pytest.raises(Exception, match="Reshape"):
        _run(dynamo, {"x": x})  # the export itself fails at any length but 5
    got = _run(fixed, {"x": x})
    want = _run(FIXES / "gru_l2_bi_classic.onnx", {"x": x})
    assert [g.shape for g in got] == [(seq, 3, 6), (4, 3, 3)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)


@pytest.mark.parametrize(("bad", "code", "nodes"), [
    ("bad_gru_stack_h0_rows", "AL305", ["/l0/GRU", "/l1/GRU"]),
    ("bad_gru_stack_hn_order", "AL306", ["/Concat"]),
])
def test_stacked_state_bugs_fixed_compute_the_intended_model(
    bad: str, code: str, nodes: list[str]
) -> None:
    entry = FIX_MANIFEST[f"{bad}.onnx"]
    feeds = {k: np.asarray(v, np.float32) for k, v in entry["inputs"].items()}
    good = _run(FIXES / "good_gru_stack.onnx", feeds)
    wrong = _run(FIXES / f"{bad}.onnx", feeds)
    assert not np.allclose(wrong[1], good[1], atol=1e-3)  # the bug is real
    fixed, applied = _fixed(FIXES / f"{bad}.onnx", unsafe=True)
    assert sorted(applied) == sorted((code, n, Safety.UNSAFE) for n in nodes)
    got = _run(fixed, feeds)
    for g, w in zip(got, good, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)
    torch_good = FIX_MANIFEST["good_gru_stack.onnx"]["torch"]
    np.testing.assert_allclose(got[1], np.asarray(torch_good["h_n"], np.float32), atol=1e-5)


def test_h_n_view_on_a_bidirectional_state_fixed_equals_the_cat_spelling() -> None:
    """``h_n.view(batch, -1)`` (AL303) fixed equals ``torch.cat((h_n[-2], h_n[-1]), 1)``."""
    feeds = {k: np.asarray(v, np.float32)
             for k, v in STATE_MANIFEST["bad_gru_bi_hn_view"]["inputs"].items()}
    fixed, applied = _fixed(STATES / "bad_gru_bi_hn_view.onnx", unsafe=True)
    assert applied == [("AL303", "/Reshape", Safety.UNSAFE)]
    [got], [want] = _run(fixed, feeds), _run(STATES / "good_gru_bi_hn_cat.onnx", feeds)
    np.testing.assert_allclose(got, want, atol=1e-6)
    torch_want = next(iter(STATE_MANIFEST["good_gru_bi_hn_cat"]["torch"].values()))
    np.testing.assert_allclose(got, np.asarray(torch_want, np.float32), atol=1e-5)
