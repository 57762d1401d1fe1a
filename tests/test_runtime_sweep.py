"""Issue 13: tied dims, the size sweep, user-given inputs, honest blame (real sessions)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.registry import load_rules
from archlint.runtime.inputs import bind_dims
from archlint.runtime.settings import RuntimeSettings

from .conftest import FIXTURES, REPO, invoke
from .runtime_support import Checked, check

KERAS_STATES = FIXTURES / "keras" / "k2_lstm_state_inputs.onnx"
RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]


def run_one(path: Path, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def test_tf2onnx_state_batches_are_tied_to_the_batch_of_x() -> None:
    ctx = analyse(load_model(KERAS_STATES))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    # x [unk__2271, unk__2272, 4]; h0 [unk__2273, 3] and c0 [unk__2274, 3] reach the LSTM
    # through Unsqueeze, x through a Transpose: one batch under three names
    assert binding.values["unk__2271"] == binding.values["unk__2273"] == \
        binding.values["unk__2274"] == 2
    assert binding.values["unk__2272"] == 5
    assert ("batch", ("unk__2271", "unk__2273", "unk__2274")) in binding.groups
    # one --dim on any of them, by symbol, by role or by input axis, binds all three
    for requested in ({"unk__2273": 4}, {"batch": 4}, {"x:0": 4}, {"x[0]": 4}):
        bound = bind_dims(ctx.graph, ctx.layers, requested)
        assert [bound.values[k] for k in ("unk__2271", "unk__2273", "unk__2274")] == [4] * 3, \
            requested
        assert bound.unused == ()


def test_tf2onnx_state_inputs_run_clean_at_a_requested_batch() -> None:
    result = run_one(KERAS_STATES, dims={"batch": 3})
    assert [f.code for f in result.findings] == []
    assert [(s.name, s.shape) for s in result.inputs] == [
        ("x", (3, 5, 4)), ("h0", (3, 3)), ("c0", (3, 3))]


# --- the size sweep -----------------------------------------------------------------------------

DYNAMO_BAKED = FIXTURES / "exported_defects" / "gru_l2_bi_dynamo.onnx"
CLASSIC = FIXTURES / "exported" / "lstm_l2_bi_classic.onnx"
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text())


def test_the_dynamo_export_with_a_baked_seq_fails_run_with_defaults() -> None:
    result = invoke("run", "--runs", "1", str(DYNAMO_BAKED))
    assert result.exit_code == 1, result.output
    found = [line for line in result.output.splitlines() if " AL513 " in line]
    assert len(found) == 1, result.output
    assert found[0].startswith(
        f"{DYNAMO_BAKED}:main/node_Reshape_178: AL513 error: "
        "the model runs at seq=5 but fails at seq=7 in Reshape 'node_Reshape_178'")
    assert "    expected runs at every seq (declared dynamic), found runs at seq=5, fails at " \
        "seq=7" in result.output
    # the batch sweep runs: only seq is blamed
    assert "    sweep: batch 2 -> 3 (seq=5, batch=3): ok" in result.output
    assert "    sweep: seq 5 -> 7 (seq=7, batch=2): run failed in Reshape 'node_Reshape_178'" \
        in result.output


def test_the_classic_export_passes_the_sweep() -> None:
    result = invoke("run", "--runs", "1", str(CLASSIC))
    assert result.exit_code == 0, result.output
    sweeps = [line for line in result.output.splitlines() if line.startswith("    sweep: ")]
    assert sorted(sweeps) == ["    sweep: batch 2 -> 3 (seq=5, batch=3): ok",
                              "    sweep: seq 5 -> 7 (seq=7, batch=2): ok"]


def test_a_dim_the_user_gives_is_not_swept_and_the_sweep_can_be_turned_off() -> None:
    given = run_one(DYNAMO_BAKED, dims={"seq": 5})
    assert [(s.dim, s.base, s.size, s.status) for s in given.run.sweep] == [
        ("batch", 2, 3, "ok")]
    assert [f.code for f in given.findings] == []
    off = run_one(DYNAMO_BAKED, sweep=False)
    assert off.run.sweep == () and [f.code for f in off.findings] == []


def test_run_json_carries_inputs_sweep_placement_and_timings() -> None:
    result = invoke("run", "--runs", "1", "--seed", "7", "--format", "json", str(DYNAMO_BAKED))
    report = json.loads(result.output)
    jsonschema.validate(report, SCHEMA)
    runtime = report["models"][0]["runtime"]
    assert runtime["seed"] == 7
    assert runtime["binding"] == "seq=5, batch=2"
    assert runtime["inputs"] == [{
        "name": "x", "dtype": "float", "shape": [5, 2, 4], "values": "uniform in [-1, 1)",
        "low": -1.0, "high": 1.0, "origin": "random", "invented": False}]
    by_dim = {s["dim"]: s for s in runtime["sweep"]}
    assert by_dim["seq"]["status"] == "run_failed"
    assert by_dim["seq"]["node"] == "node_Reshape_178"
    assert (by_dim["seq"]["base"], by_dim["seq"]["size"]) == (5, 7)
    assert by_dim["batch"]["status"] == "ok" and by_dim["batch"]["binding"] == "seq=5, batch=3"
    assert {p["node"] for p in runtime["placement"] if p["op_type"] == "GRU"} == {
        "node_GRU_81", "node_GRU_164"}
    assert set(runtime["timings"]) == {"session_s", "first_run_s", "median_run_s"}
    assert [f["code"] for f in report["models"][0]["findings"]] == ["AL513"]
