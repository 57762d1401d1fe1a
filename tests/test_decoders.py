"""Autoregressive decoders exported by torch 2.13 (fixtures/decoders/, make_decoders.py): an
nn.LSTMCell or nn.GRUCell stepped in a Python loop whose input at each step is computed from
the state before (the greedy prediction's embedding, an attention context). Both exporters
unroll the loop. The cell was plain Gemm rows: its input products are no slices of a sequence.
A gated cell so stepped is now an unrolled layer; a one-gate cell, which a weight shared
across depth resembles, and a depth-tied highway network stay rows."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "decoders"
MODELS = json.loads((HERE / "manifest.json").read_text())["models"]


def _params(name: str) -> dict:
    result = invoke("params", str(HERE / name), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.output)["models"]
    return model


def _lint(name: str) -> list[dict]:
    result = invoke("lint", str(HERE / name), "--format", "json", "--exit-zero")
    (model,) = json.loads(result.stdout)["models"]
    return model["findings"]


def test_every_model_is_listed_and_runs_as_torch_does_at_the_exported_size() -> None:
    assert sorted(MODELS) == sorted(p.name for p in HERE.glob("*.onnx"))
    assert all(entry["max_abs_diff_vs_torch"][0] < 1e-5 for entry in MODELS.values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_weight_is_counted_as_torch_counts_it(name: str) -> None:
    assert _params(name)["totals"]["pytorch"] == MODELS[name]["torch_params"]


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n.startswith(("attention", "greedy"))))
def test_a_gated_decoder_cell_is_an_unrolled_layer_fed_back(name: str) -> None:
    encoder, cell = MODELS[name]["recurrent"]
    layers = [layer for layer in _params(name)["layers"] if layer["kind"] == "recurrent"]
    assert [(layer["op_type"], layer["recognised_as"], layer["input_size"],
             layer["implied_hidden_size"], layer["direction"], layer["params"]["pytorch"])
            for layer in layers] == [
        (encoder["type"], "native", encoder["input_size"], encoder["hidden_size"], "forward",
         encoder["params"]),
        (encoder["type"], "unrolled", cell["input_size"], cell["hidden_size"], "forward",
         cell["params"]),
    ]
    (finding,) = [f for f in _lint(name) if f["code"] == "AL025"]
    assert finding["actual"].endswith(
        "each step's input computed from the state before (an autoregressive decoder)")
    assert finding["help"].startswith("Nothing to fix if the decoder is intended")


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n.startswith(("rnn", "tied"))))
def test_a_one_gate_decoder_and_a_depth_tied_network_are_no_layers(name: str) -> None:
    layers = [layer for layer in _params(name)["layers"] if layer["kind"] == "recurrent"]
    expected = [(r["type"], "native") for r in MODELS[name]["recurrent"] if "Cell" not in r["type"]]
    assert [(layer["op_type"], layer["recognised_as"]) for layer in layers] == expected
    assert not [f for f in _lint(name) if f["code"] == "AL025"]


def test_the_dynamo_export_that_fixes_the_encoders_length_is_reported() -> None:
    name = "attention_lstm_dynamo.onnx"
    assert "Reshape" in MODELS[name]["max_abs_diff_vs_torch"][1]  # onnxruntime fails at seq 7
    (finding,) = [f for f in _lint(name) if f["code"] == "AL302"]
    assert (finding["severity"], finding["location"]["node"]) == ("error", "node_Reshape_134")
