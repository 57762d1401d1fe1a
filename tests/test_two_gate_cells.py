"""Two-gate recurrent cells (fixtures/two_gate/, torch 2.13 exports): speechbrain's LiGRU and
SLiGRU, and a minimal gated unit written as Flax's MGUCell computes it. ONNX has no op for a
cell with two gates; its recurrent weights are one ``[H, 2H]`` kernel (LiGRU's one Linear, or
the MGU's two ``[H, H]`` Linears read together). Each is one recurrent layer, kind MGU,
counted as the module counts it, and, unrolled over a dynamic time axis, AL317's error:
onnxruntime runs 9 steps of input and returns the 7 the export traced."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from .conftest import FIXTURES, invoke, params_by_stem

HERE = FIXTURES / "two_gate"
MANIFEST: dict[str, dict[str, Any]] = json.loads((HERE / "manifest.json").read_text())
# exported with a dynamic time axis (the classic exporter): each traced at 7 steps
DYNAMIC = {"ligru_classic": "/rnn/rnn.0/w/MatMul", "ligru_bi_classic": "/rnn/rnn.0/w/MatMul",
           "sligru_classic": "/rnn/rnn.0/w/MatMul", "mgu_torch_classic": "/i_f/Gemm"}


@pytest.fixture(scope="module")
def counted() -> dict[str, dict[str, Any]]:
    return params_by_stem(HERE)


def test_every_committed_model_is_in_the_manifest() -> None:
    assert sorted(MANIFEST) == sorted(p.stem for p in HERE.glob("*.onnx"))
    assert all(entry["matches_torch"] for entry in MANIFEST.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_is_one_two_gate_layer_counted_as_torch_counts_it(
        name: str, counted: dict[str, dict[str, Any]]) -> None:
    model, entry = counted[name], MANIFEST[name]
    rows = [(row["op_type"], row["recognised_as"], row["direction"], row["input_size"],
             row["implied_hidden_size"]) for row in model["layers"] if row["kind"] == "recurrent"]
    assert rows == [("MGU", "unrolled", "forward", entry["I"], entry["H"])]
    assert model["totals"]["pytorch"] == entry["torch_params"]
    assert model["unseen"] == []


def test_the_ligru_layer_is_its_two_linears_and_the_norm_its_own_row(
        counted: dict[str, dict[str, Any]]) -> None:
    """W [2H, I] and U [2H, H], no bias (speechbrain's Linears have none: its BatchNorm over
    the projection holds the shift, a row of its own)."""
    [layer, norm] = counted["ligru_classic"]["layers"]
    assert [(s["slot"], s["elements"]) for s in layer["slots"]] == [("W", 60), ("R", 50)]
    assert layer["params"] == {"onnx": 110, "pytorch": 110, "keras": 110}
    assert (norm["op_type"], norm["params"]["pytorch"]) == ("BatchNormalization", 20)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_lint_names_the_cell_and_the_steps_traced_over_a_dynamic_axis(name: str) -> None:
    result = invoke("lint", str(HERE / f"{name}.onnx"), "--format", "json")
    [model] = json.loads(result.stdout)["models"]
    found = sorted((f["code"], f["location"]["node"]) for f in model["findings"])
    node = DYNAMIC.get(name)
    if node is None:  # the dynamo exports: fixed sizes, nothing to report but the cell
        assert [code for code, _ in found] == ["AL025"]
        assert result.exit_code == 0
        return
    assert found == [("AL025", node), ("AL317", node)]
    [error] = [f for f in model["findings"] if f["code"] == "AL317"]
    assert "unrolled MGU chain" in error["message"] and "computes 7 steps" in error["message"]
    assert "'time', a dynamic axis of graph input 'x'" in error["message"]
    assert "nn.MGU" not in error["help"]  # no framework layer exports as a two-gate op
    assert result.exit_code == 1
    session = ort.InferenceSession(str(HERE / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"x": np.zeros((2, 9, 6), np.float32)})
    assert y.shape[1] == 7  # 9 steps in, 7 out
    assert MANIFEST[name]["ort_shape_at_9"][1] == 7


def test_al025_says_onnx_has_no_two_gate_op() -> None:
    result = invoke("lint", str(HERE / "mgu_torch_dynamo.onnx"), "--format", "json")
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert finding["code"] == "AL025"
    assert "computes a two-gate (MGU) layer (I=6, H=5, forward)" in finding["message"]
    assert finding["expected"].endswith("ONNX has LSTM, GRU and RNN, no two-gate op")
    assert "ONNX has no op for a two-gate cell" in finding["help"]
