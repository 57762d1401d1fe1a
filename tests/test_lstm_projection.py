"""LSTMs with a projection (fixtures/lstm_projection/): nn.LSTM(proj_size=P), which torch's
exporters refuse as a node, written out step by step as icefall's LSTMP (the LSTM models
sherpa-onnx ships) or with Parameters: each step's h is ``(o ⊙ tanh c) @ W_hr``, so no product
of one weight reads the one before, and the layer was "no recurrent layer" (its length baked
in unseen, its projection a Linear row per step)."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, invoke

HERE = FIXTURES / "lstm_projection"
MANIFEST = json.loads((HERE / "manifest.json").read_text())
# int8: onnxruntime's quantize_dynamic, 1.32 on the dynamo export, 1.15 (icefall's 2023
# int8 models) on the classic one's per-step Constant copies
SINGLE = ["lstmp_ts.onnx", "lstmp_ts_dynT.onnx", "lstmp_dynamo.onnx", "lstmp_parameters.onnx",
          "lstmp_dynamo.int8.onnx", "lstmp_ts.int8.onnx"]
INPUT, H, P = 6, 8, 4


def _params(name: str) -> dict:
    result = invoke("params", str(HERE / name), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.output)["models"]
    return model


def test_every_model_is_listed() -> None:
    assert sorted(f"{name}.onnx" for name in MANIFEST) == sorted(p.name for p in
                                                                   HERE.glob("*.onnx"))
    assert all((entry["hidden_size"], entry["proj_size"]) == (H, P)
               for entry in MANIFEST.values())


@pytest.mark.parametrize("name", SINGLE)
def test_one_lstm_with_projection_is_recognised_with_its_sizes(name: str) -> None:
    model = _params(name)
    (layer,) = [row for row in model["layers"] if row["kind"] == "recurrent"]
    assert (layer["op_type"], layer["recognised_as"], layer["direction"]) \
        == ("LSTM", "unrolled", "forward")
    assert (layer["input_size"], layer["implied_hidden_size"], layer["projection_size"]) \
        == (INPUT, H, P)
    # 4·H·(I+P) for the gates over x and h [P], H·P for the projection
    assert layer["macs_per_step"] == 4 * H * (INPUT + P) + H * P == 352
    assert "5 steps" in layer["notes"][0] and "I=6, H=8, P=4" in layer["notes"][0]
    assert "no projection weights" in layer["unsupported"]["keras"]
    # the rows of the steps' products are the layer's: none is left as a Linear of its own
    assert [row["kind"] for row in model["layers"]] == ["recurrent"]


@pytest.mark.parametrize(("name", "stored", "recurrent", "pytorch"), [
    # icefall's LSTMP sums b_ih + b_hh into one stored bias; the nn.LSTM(proj_size) it was
    # converted from holds both, and torch counts them (the classic exporter's 4 more
    # copies of each weight: counted in ONNX only)
    ("lstmp_ts.onnx", 1152, [128, 32, *[128] * 4, *[32] * 4], 416),
    ("lstmp_dynamo.onnx", 384, [128, 32], 416),
    # b_ih and b_hh apart, as nn.LSTM(proj_size) holds them
    ("lstmp_parameters.onnx", 416, [128, 32], 416),
])
def test_the_projection_counts_as_a_recurrent_weight(
    name: str, stored: int, recurrent: list[int], pytorch: int,
) -> None:
    """W_hr [H, P] is R beside W_hh [P, 4·H], as torch's weight_hr_l0 beside weight_hh_l0;
    the classic exporter's per-step Constant copies of both count in ONNX only."""
    (layer,) = _params(name)["layers"]
    entry = MANIFEST[name.removesuffix(".onnx")]
    assert [s["elements"] for s in layer["slots"] if s["slot"] == "R"] == recurrent
    assert [s["pytorch"] for s in layer["slots"] if s["slot"] == "R"] \
        == [128, 32] + [0] * (len(recurrent) - 2)
    assert layer["params"] == {"onnx": stored, "pytorch": pytorch, "keras": None}
    assert pytorch == entry["torch_params"]
    folded = [note for note in layer["notes"] if note.startswith("B: one bias")]
    assert folded == ([] if "parameters" in name else [
        "B: one bias of 4·H=32, b_ih + b_hh summed (icefall's LSTMP stores them so for the "
        "export): PyTorch counts the two of the nn.LSTM(proj_size=P) it was converted from "
        "(64), as torch's sum(p.numel()) does"])


def test_a_scripted_lstm_with_projection_is_a_loop_cell() -> None:
    """torch.jit.script makes the steps an ONNX Loop whose carried h is the projection's
    output: h's next value came from W_hr's product alone, c's from the gates', and the
    body read as two cells, one lacking an input product ("not seen into")."""
    model = _params("lstmp_scripted.onnx")
    assert model["unseen"] == []
    (layer,) = model["layers"]
    assert (layer["op_type"], layer["recognised_as"], layer["input_size"],
            layer["implied_hidden_size"], layer["projection_size"]) \
        == ("LSTM", "loop-cell", INPUT, H, P)
    assert [(s["slot"], s["elements"]) for s in layer["slots"]] \
        == [("W", 192), ("R", 128), ("R", 32), ("B", 32), ("B", 32)]
    assert layer["params"] == {"onnx": 416, "pytorch": MANIFEST["lstmp_scripted"]["torch_params"],
                               "keras": None}


def test_one_step_per_call_is_a_step_with_projection() -> None:
    """x, h [N, P] and c [N, H] in, the new h and c out (a streaming encoder's or a
    decoder's step): the state product h @ W_hh is [P, 4·H], no square recurrence, so no
    step was found and the three products were Linear rows."""
    (layer,) = _params("lstmp_step.onnx")["layers"]
    assert (layer["op_type"], layer["recognised_as"], layer["input_size"],
            layer["implied_hidden_size"], layer["projection_size"], layer["output_shape"]) \
        == ("LSTM", "step", INPUT, H, P, ["N", P])
    assert layer["params"]["pytorch"] == MANIFEST["lstmp_step"]["torch_params"] == 416


def test_two_stacked_layers_with_a_linear_between() -> None:
    model = _params("lstmp_encoder.onnx")
    rows = [(row["label"], row["op_type"], row["input_size"], row["projection_size"])
            for row in model["layers"]]
    assert rows == [("/first/Gemm", "LSTM", INPUT, P), ("/between/MatMul", "MatMul", None, None),
                    ("/second/Gemm", "LSTM", P, P)]
    assert model["totals"]["pytorch"] == MANIFEST["lstmp_encoder"]["torch_params"] == 788


def test_two_stacked_layers_quantized_as_icefall_did() -> None:
    """onnxruntime 1.15's quantize_dynamic makes every MatMul (each step's copies of W_hh and
    W_hr included) a MatMulInteger: both layers are still found, with their sizes, and
    counted as the float export is (torch's parameters() of the two nn.LSTMs and the
    Linear)."""
    model = _params("lstmp_encoder.int8.onnx")
    rows = sorted((row["op_type"], row["recognised_as"], row["input_size"],
                   row["implied_hidden_size"], row["projection_size"]) for row in model["layers"])
    assert rows == [("LSTM", "unrolled", P, H, P), ("LSTM", "unrolled", INPUT, H, P),
                    ("MatMulInteger", None, None, None, None)]
    assert model["totals"]["pytorch"] == MANIFEST["lstmp_encoder.int8"]["torch_params"] == 788


def test_lint_names_the_projection_and_advises_no_native_layer() -> None:
    result = invoke("lint", str(HERE / "lstmp_encoder.onnx"), "--format", "json")
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.stdout)["models"]
    findings = model["findings"]
    assert [(f["code"], f["location"]["node"]) for f in findings] == [
        ("AL025", "/first/Gemm"), ("AL025", "/second/Gemm")]
    first = findings[0]
    assert "an LSTM with projection layer (I=6, H=8, P=4, forward)" in first["message"]
    assert first["expected"].endswith("ONNX's LSTM has no projection")
    assert "nn.LSTM(proj_size=P)" in first["help"]


def test_a_baked_length_is_found_on_the_layer_and_no_native_lstm_is_advised() -> None:
    """T declared dynamic, 5 steps traced: onnxruntime fails at every other T. Split's own
    check found it before; the layer's now says which layer, and its help does not send the
    user to nn.LSTM, which cannot export a projection."""
    result = invoke("lint", str(HERE / "lstmp_ts_dynT.onnx"), "--format", "json")
    assert result.exit_code == 1, result.output
    (model,) = json.loads(result.stdout)["models"]
    findings = model["findings"]
    [baked] = [f for f in findings if f["code"] == "AL317" and f["location"]["node"] == "/Gemm"]
    assert baked["severity"] == "error"
    assert (baked["expected"], baked["actual"]) == (
        "a layer that loops over 'T', or 'T' fixed at 5", "5 steps unrolled over dynamic 'T'")
    assert "nn.LSTM" not in baked["help"] and "torch.jit.script" in baked["help"]
