"""JAX / Flax models exported by jax2onnx (fixtures/jax/, made by fixtures/jax/make/): Flax
nnx and linen cells in nn.RNN, Bidirectional and stacks, hand-written cells under lax.scan,
fori_loop and while_loop (each a Loop), Python-unrolled cells, and an @onnx_function cell.

What jax2onnx writes that archlint must read: every ``x @ W`` is a Gemm with a zero scalar C
and beta=0 (no bias), a Dense on a rank-3 input is ``Einsum('abc,cd->abd')``, an unrolled
cell's bias is folded into one ``[1, g·H]`` initializer per step, and an @onnx_function keeps
its closure's weights as Constants in the function body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import FIXTURES, params_by_stem

HERE = FIXTURES / "jax"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]
# what archlint does not read yet, each asserted still to differ (remove it once it does)
LEFT = {
    "fn_cell_unrolled": "an LSTM step called five times as a function: no layer, and the "
    "bias added after the two Gemms is not counted",
    "scan_nonrec_dense": "a per-step Dense in a non-recurrent scan: its bias, added through "
    "Expand, is not attached to the Gemm's row",
}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    return params_by_stem(HERE)


def test_every_committed_model_is_in_the_manifest() -> None:
    assert sorted(MANIFEST) == sorted(p.stem for p in HERE.glob("*.onnx"))


@pytest.mark.parametrize("name", sorted(set(MANIFEST) - set(LEFT)))
def test_layers_and_counts_are_the_frameworks(name: str, reports: dict[str, Any]) -> None:
    model, entry = reports[name], MANIFEST[name]
    layers = [(row["op_type"], row["input_size"],
               row["hidden_size"] or row["implied_hidden_size"], row["direction"])
              for row in model["layers"] if row["kind"] == "recurrent"]
    assert layers == [(layer["kind"], layer["I"], layer["H"], layer["direction"])
                      for layer in entry["layers"]]
    # Flax's parameters are what the file stores, but where jax2onnx stores an unrolled
    # cell's bias once per step (counted in ONNX only): there the Keras column (one bias)
    column = "keras" if name.startswith("unrolled_") else "onnx"
    assert model["totals"][column] == entry["fw_total"], model["totals"]


def test_a_gemm_with_beta_0_adds_no_bias(reports: dict[str, Any]) -> None:
    """scan_elman: Gemm(x, Wx, C=0-d zero, beta=0) and Gemm(h, Wh, ...) in the Loop body: W
    21, R 49 and the one stored bias of 7; a layout of one bias (Keras 77, PyTorch 84)."""
    [row] = reports["scan_elman"]["layers"]
    assert [(s["slot"], s["elements"]) for s in row["slots"]] == [("W", 21), ("R", 49), ("B", 7)]
    assert row["params"] == {"onnx": 77, "pytorch": 84, "keras": 77}


def test_a_bias_stored_once_per_step_is_one_bias_and_its_copies(
        reports: dict[str, Any]) -> None:
    [row] = reports["unrolled_elman"]["layers"]
    biases = [s for s in row["slots"] if s["slot"] == "B"]
    assert [(s["elements"], s["keras"]) for s in biases] == [(7, 7)] + [(7, 0)] * 4
    assert any("4 more stored copies of the biases" in note for note in row["notes"])


def test_an_einsum_projection_hoisted_before_the_loop_is_the_layers_w(
        reports: dict[str, Any]) -> None:
    [row] = reports["scan_gru_hoisted"]["layers"]
    assert (row["op_type"], row["recognised_as"], row["input_size"]) == ("GRU", "loop-cell", 5)
    assert row["params"] == {"onnx": 132, "pytorch": 132, "keras": 132}


@pytest.mark.parametrize("name", sorted(LEFT))
def test_what_is_left_still_differs(name: str, reports: dict[str, Any]) -> None:
    model, entry = reports[name], MANIFEST[name]
    layers = [(row["op_type"], row["input_size"]) for row in model["layers"]
              if row["kind"] == "recurrent"]
    expected = [(layer["kind"], layer["I"]) for layer in entry["layers"]]
    assert layers != expected or model["totals"]["onnx"] != entry["fw_total"], LEFT[name]


def test_a_minimal_gated_unit_is_a_two_gate_loop_cell(reports: dict[str, Any]) -> None:
    """Flax linen's MGUCell: f = σ(x W_f + h R_f + b), n = tanh(x W_n + b + f ⊙ (h R_n + b)),
    h' = (1 - f) ⊙ n + f ⊙ h. Its forget gate alone looks like a SimpleRNN step with a
    sigmoid; its two recurrent products together are one [H, 2H] kernel: a two-gate cell
    (MGU), counted as Flax counts it (105: what is stored), nothing left unseen."""
    model = reports["linen_mgu_b_zc"]
    rows = [(row["op_type"], row["recognised_as"], row["input_size"],
             row["implied_hidden_size"]) for row in model["layers"]]
    assert rows == [("MGU", "loop-cell", 4, 5)]
    assert model["totals"] == {"onnx": 105, "pytorch": 105, "keras": 105}
    assert MANIFEST["linen_mgu_b_zc"]["fw_total"] == 105
    assert model["unseen"] == []
