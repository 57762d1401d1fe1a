"""Real PyTorch exports (committed fixtures, see fixtures/exported/) lint clean."""

from __future__ import annotations

import json

import pytest

from archlint.engine import Linter
from archlint.registry import load_rules

from .conftest import FIXTURES

EXPORTED = FIXTURES / "exported"
MANIFEST = json.loads((EXPORTED / "manifest.json").read_text())
CLASSIC = sorted(name for name, entry in MANIFEST.items()
                 if name != "_generator" and entry["exporter"] == "classic")


def test_manifest_covers_the_matrix() -> None:
    ops = {MANIFEST[n]["op"] for n in CLASSIC}
    assert {"LSTM", "GRU", "RNN", "mixed"} <= ops
    for op in ("LSTM", "GRU", "RNN"):
        rows = [MANIFEST[n] for n in CLASSIC if MANIFEST[n]["op"] == op]
        assert {r["num_layers"] for r in rows} == {1, 2, 3}
        assert {r["bidirectional"] for r in rows} == {True, False}
        assert {r["batch_first"] for r in rows} == {True, False}
        assert {r["initial_states"] for r in rows} == {True, False}
    assert "lstm_l2_bi_classic.onnx" in CLASSIC


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_export_lints_clean(name: str) -> None:
    report = Linter(load_rules().rules).lint_file(EXPORTED / name)
    assert report.error is None
    assert [f"{f.code} {f.message}" for f in report.findings] == []
    expected_layers = len(MANIFEST[name]["recurrent_nodes"])
    assert report.recurrent_layers == expected_layers
