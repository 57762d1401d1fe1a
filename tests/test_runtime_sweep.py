"""Issue 13: tied dims, the size sweep, user-given inputs, honest blame (real sessions)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

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
    assert "    sweep: batch 2 -> 7 (seq=5, batch=7): ok" in result.output
    assert "    sweep: seq 5 -> 7 (seq=7, batch=2): run failed in Reshape 'node_Reshape_178'" \
        in result.output


def test_an_output_declared_with_the_example_length_is_a_warning_when_it_computes() -> None:
    """The dynamo export of a batch-first BiLSTM with a head declares its output
    [batch, 5, 2]: at seq 7 onnxruntime computes [batch, 7, 2], and only the declaration is
    wrong (AL316 says so statically): a warning, not the error of a run that fails."""
    path = FIXTURES / "exported_defects" / "lstm_bi_bf_head_dynamo.onnx"
    result = invoke("run", "--runs", "1", str(path))
    assert result.exit_code == 0, result.output
    [found] = [line for line in result.output.splitlines() if " AL513 " in line]
    assert found == (
        f"{path}: AL513 warning: the model runs at seq=5 and at seq=7, but at 7 output(s) "
        "linear contradict their declared shape, which holds 5 where the output follows seq "
        "(seq dim)")
    assert "    expected declared shapes that follow seq (declared dynamic), found linear " \
        "declared with 5 where seq=7" in result.output


def test_a_length_given_is_not_swept_so_the_declaration_stays_an_error(tmp_path: Path) -> None:
    """At a given seq of 7 the main run disagrees with the declared [batch, 5, 2], and a dim
    the user gives is not swept: nothing shows that the axis follows seq, so it is AL507's
    error, whose help says so; a length given in the config is labelled as the config's."""
    path = FIXTURES / "exported_defects" / "lstm_bi_bf_head_dynamo.onnx"
    result = invoke("run", "--runs", "1", "--dim", "seq=7", str(path))
    assert result.exit_code == 1, result.output
    [found] = [line for line in result.output.splitlines() if " AL5" in line]
    assert found == (
        f"{path}:main/node_linear: AL507 error: output 'linear' has shape [2, 7, 2] at run "
        "time but its static shape (declared, merged with shape inference) is [batch, 5, 2] "
        "(with batch=2 (default), seq=7 (--dim))")
    assert "A dim given with --dim or the config's dims is not swept" in result.output
    (tmp_path / "pyproject.toml").write_text("[tool.archlint.runtime]\ndims = {seq = 7}\n")
    model = tmp_path / path.name
    model.write_bytes(path.read_bytes())
    result = invoke("lint", "--runtime", "--select", "AL507", str(model))
    assert "(with batch=2 (default), seq=7 (the config's dims))" in result.output, \
        result.output
    result = invoke("run", "--runs", "1", "--dim", "seq=7", str(model))
    assert "seq=7 (--dim)" in result.output, result.output  # the command line over the config


def test_a_declared_number_no_sweep_moves_stays_an_error() -> None:
    """fixtures/AL507/declared_batch declares Y_h [1, 1, 3] (batch 2 by default): the
    batch sweep moves axis 1 to 3, a warning, as AL513's when archlint's size is the
    declared one. Without the sweep nothing shows the axis follows a dim: an error, and a
    declared symbol bound to another size (bad: [1, seq, 3]) is one with the sweep too."""
    declared = FIXTURES / "AL507" / "declared_batch.onnx.txt"
    [warning] = [f for f in run_one(declared).findings if f.code == "AL507"]
    assert warning.severity.value == "warning" and warning.location.tensor == "Y_h"
    assert warning.expected == "[1, 1, 3]" and warning.actual == "[1, 2, 3]"
    [error] = [f for f in run_one(declared, sweep=False).findings if f.code == "AL507"]
    assert error.severity.value == "error"
    [bad] = [f for f in run_one(FIXTURES / "AL507" / "bad.onnx.txt").findings
             if f.code == "AL507"]
    assert bad.severity.value == "error" and bad.expected == "[1, seq=5, 3]"


@pytest.mark.parametrize(("static", "actual", "swept", "follows"), [
    ((1, 1, 3), (1, 2, 3), (1, 3, 3), ((1, "batch", 3, 3),)),  # axis 1 moved with batch
    ((2, "batch", 6), (1, 2, 6), (1, 3, 6), ()),  # a lost layer's state: no axis moved
    ((1, "seq", 3), (1, 2, 3), (1, 3, 3), ()),  # a symbol bound to another size
    ((1, 1, 3), (1, 2, 3), (1, 2, 3, 1), ()),  # another rank at the other size
])
def test_with_follows(static, actual, swept, follows) -> None:
    from archlint.runtime.check import _with_follows
    from archlint.runtime.inputs import Binding
    from archlint.runtime.result import OutputCheck, SweepRun

    check = OutputCheck("y", actual, static, None, True, 0, 0, 1, None, "", "")
    binding = Binding({"batch": 2, "seq": 5}, {"batch": "default", "seq": "default"})
    sweep = SweepRun("batch", "batch", 2, 3, "", "ok", shapes={"y": swept})
    assert _with_follows(check, binding, [sweep]).follows == follows


@pytest.mark.parametrize(("static", "actual", "bound", "declared_only"), [
    (("batch", 5, 2), (2, 7, 2), {"batch": 2}, True),  # the example's 5, computed 7
    ((5, 3), (7, 3), {}, True),
    ((6, 3), (7, 3), {}, False),  # not the main run's size
    (("batch", 25), (4, 25), {"batch": 2}, False),  # regrouped rows: batch 2 came out 4
    (("batch", 5), (2, 7, 1), {"batch": 2}, False),  # another rank
])
def test_only_the_declaration(static, actual, bound, declared_only) -> None:
    from archlint.runtime.check import _only_the_declaration
    from archlint.runtime.inputs import Binding
    from archlint.runtime.result import OutputCheck

    check = OutputCheck("y", actual, static, None, True, 0, 0, 1, None, "", "")
    binding = Binding(bound, dict.fromkeys(bound, "default"))
    assert _only_the_declaration(check, binding, 5, 7) is declared_only


def test_a_batch_that_fails_on_a_fixed_state_input_is_told_to_declare_that_input() -> None:
    # dynamic axes given for X only: c0 keeps the example's batch 1, which binds X's batch to
    # 1, and the batch sweep fails in the LSTM. The help names the input, not a baked constant.
    bad = FIXTURES / "AL309" / "bad.onnx.txt"
    result = invoke("run", "--runs", "1", str(bad))
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.output.splitlines() if " AL513 " in x]
    # (7: the batch sweep passes the sequence; seq moved past it, c0 still fails: no "only where")
    assert line.startswith(f"{bad}:main/lstm_0: AL513 error: the model runs at batch = N=1 but "
                           "fails at batch = N=7 in LSTM 'lstm_0' (batch dim; onnxruntime: ")
    assert "    help: Model input 'c0' gives initial_c a fixed batch of 1: declare axis 1 of " \
        "'c0' as 'batch', as X's (torch: give the state inputs the same dynamic_axes name as " \
        "x). AL309 finds this without a run." in result.output
    # a seq baked into a Reshape keeps the help about constants
    baked = invoke("run", "--runs", "1", str(DYNAMO_BAKED))
    assert "    help: A size of seq was written into the graph at export (a Reshape target, " \
        in baked.output


def test_the_classic_export_passes_the_sweep() -> None:
    result = invoke("run", "--runs", "1", str(CLASSIC))
    assert result.exit_code == 0, result.output
    sweeps = [line for line in result.output.splitlines() if line.startswith("    sweep: ")]
    assert sorted(sweeps) == ["    sweep: batch 2 -> 7 (seq=5, batch=7): ok",
                              "    sweep: seq 5 -> 7 (seq=7, batch=2): ok"]


def test_a_dim_the_user_gives_is_not_swept_and_the_sweep_can_be_turned_off() -> None:
    given = run_one(DYNAMO_BAKED, dims={"seq": 5})
    assert [(s.dim, s.base, s.size, s.status) for s in given.run.sweep] == [
        ("batch", 2, 7, "ok")]
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
    assert by_dim["batch"]["status"] == "ok" and by_dim["batch"]["binding"] == "seq=5, batch=7"
    assert {p["node"] for p in runtime["placement"] if p["op_type"] == "GRU"} == {
        "node_GRU_81", "node_GRU_164"}
    assert set(runtime["timings"]) == {"session_s", "first_run_s", "median_run_s"}
    assert [f["code"] for f in report["models"][0]["findings"]] == ["AL513"]


# --- inputs the user controls; honest blame -----------------------------------------------------

SELECTOR = FIXTURES / "selector" / "vad_sr_if.onnx"


def test_the_selector_model_passes_with_its_sample_rate_and_chunk() -> None:
    result = invoke("run", "--runs", "1", "--input", "sr=16000", "--dim", "input:1=512",
                    str(SELECTOR))
    assert result.exit_code == 0, result.output
    assert "0 findings (0 errors, 0 warnings, 0 infos)" in result.output
    assert "    input input float[2, 512] uniform in [-1, 1)" in result.output
    assert "    input sr int64[] value 16000 (given by --input)" in result.output
    assert "    placement: LSTM 'lstm_16k': CPUExecutionProvider" in result.output
    # the chunk the user gave is not swept; the batch is
    assert [line for line in result.output.splitlines() if line.startswith("    sweep:")] == [
        "    sweep: batch 2 -> 3 (batch=3, input:1=512): ok"]


def test_the_selector_model_without_its_values_is_a_warning_naming_them() -> None:
    result = invoke("run", "--runs", "1", str(SELECTOR))
    assert result.exit_code == 0, result.output  # a warning: --fail-on error passes
    (line,) = [x for x in result.output.splitlines() if " AL5" in x]
    # the Reshape inside the branch onnxruntime names, not only the If around it
    assert line.startswith(f"{SELECTOR}:main/by_sample_rate.else_branch/lstm_8k_cut: AL514 "
                           "warning: onnxruntime failed to run the model on cpu with values "
                           "archlint invented for sr, input:1: ")
    assert ("help: Give them and run again: archlint run --input sr=VALUE --dim input:1=SIZE"
            in result.output)
    assert " AL502 " not in result.output
    only_chunk = invoke("run", "--runs", "1", "--dim", "input:1=512", str(SELECTOR))
    (line,) = [x for x in only_chunk.output.splitlines() if " AL5" in x]
    assert "AL514 warning" in line and "invented for sr: " in line


def test_an_npz_and_a_config_table_give_inputs_too(tmp_path: Path) -> None:
    import numpy as np

    npz = tmp_path / "chunk.npz"
    np.savez(npz, input=np.zeros((1, 512), np.float32), sr=np.array(16000, np.int64))
    result = run_one(SELECTOR, inputs_file=str(npz))
    assert [f.code for f in result.findings] == []
    assert [(s.name, s.shape, s.origin) for s in result.inputs] == [
        ("input", (1, 512), "--inputs"), ("sr", (), "--inputs")]
    assert result.run.invented == ()
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.archlint.runtime]\ndims = {"input:1" = 512}\n'
                      'inputs = {sr = 16000}\nsweep = false\n')
    report = invoke("run", "--runs", "1", "--config", str(config), "--format", "json",
                    str(SELECTOR))
    runtime = json.loads(report.output)["models"][0]["runtime"]
    assert runtime["sweep"] == [] and runtime["invented"] == []
    assert {i["name"]: (i["origin"], i["low"], i["high"]) for i in runtime["inputs"]} == {
        "input": ("random", -1.0, 1.0), "sr": ("--input", 16000.0, 16000.0)}


def test_a_given_input_the_model_does_not_have_is_said_and_nothing_runs() -> None:
    result = run_one(SELECTOR, inputs={"rate": "16000"})
    assert result.run.not_run == ("--input rate: the model has no such input "
                                  "(its inputs: input, sr)")


# --- the reference evaluator inside If branches and Loop bodies ---------------------------------

def test_a_recurrent_node_in_each_if_branch_is_compared_on_the_branch_taken() -> None:
    result = run_one(SELECTOR, inputs={"sr": "16000"}, dims={"input:1": 512})
    assert [f.code for f in result.findings] == []
    notes = [n for n in result.notes if n.startswith("reference: ")]
    assert len(notes) == 2, notes
    assert notes[0] == ("reference: LSTM 'lstm_8k' (in main/by_sample_rate.else_branch) not "
                        "checked: the run took the then branch")
    assert notes[1].startswith("reference: LSTM 'lstm_16k' (in main/by_sample_rate.then_branch) "
                               "agrees with onnx.reference (Y max abs diff ")
    other = run_one(SELECTOR, inputs={"sr": "8000"}, dims={"input:1": 256})
    assert any(n.startswith("reference: LSTM 'lstm_8k' (in main/by_sample_rate.else_branch) "
                            "agrees with onnx.reference") for n in other.notes), other.notes


def _in_an_if(tmp_path: Path) -> Path:
    """fixtures/AL510/bad.onnx.txt (a float LSTM) as both branches of an If on ``cond``."""
    import onnx
    from onnx import TensorProto, helper

    inner = onnx.parser.parse_model((FIXTURES / "AL510" / "bad.onnx.txt").read_text())
    branches = {}
    for branch in ("then_branch", "else_branch"):
        graph = onnx.GraphProto()
        graph.CopyFrom(inner.graph)
        graph.name = branch
        del graph.input[:]
        for node in graph.node:
            node.name = f"{branch}_{node.name}"
        branches[branch] = graph
    main = helper.make_graph(
        [helper.make_node("If", ["cond"], [o.name for o in inner.graph.output], name="pick",
                          **branches)],
        "wrapped", [*inner.graph.input,
                    helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        list(inner.graph.output))
    model = helper.make_model(main, opset_imports=list(inner.opset_import))
    model.ir_version = inner.ir_version
    path = tmp_path / "if_lstm.onnx"
    onnx.save(model, path)
    return path


def test_a_difference_inside_an_if_branch_is_al510_on_the_branch_node(tmp_path: Path) -> None:
    # the bad fixture's tolerance: float rounding shows
    result = run_one(_in_an_if(tmp_path), inputs={"cond": "True"}, rtol=0.0, atol=0.0)
    al510 = [f for f in result.findings if f.code == "AL510"]
    assert al510, [f.message for f in result.findings]
    assert {f.location.node for f in al510} == {"then_branch_lstm_0"}
    assert {f.location.graph for f in al510} == {"main/pick.then_branch"}
    assert any("else_branch_lstm_0" in n and "the run took the then branch" in n
               for n in result.notes), result.notes


def test_a_recurrent_node_in_a_loop_body_is_compared_on_the_first_iteration() -> None:
    model = FIXTURES / "AL305" / "good_loop_carried.onnx.txt"
    result = run_one(model, inputs={"n": "2", "go": "True"})
    assert [f.code for f in result.findings] == []
    assert any(n.startswith("reference: LSTM 'lstm' (in main/stream.body) agrees with "
                            "onnx.reference (Y max abs diff") for n in result.notes), result.notes
    idle = run_one(model, inputs={"n": "0", "go": "True"})
    assert "reference: LSTM 'lstm' (in main/stream.body) not checked: the Loop ran no " \
        "iteration on these inputs" in idle.notes


def test_an_input_from_a_npy_file_fixes_its_dims(tmp_path: Path) -> None:
    import numpy as np

    chunk = tmp_path / "chunk.npy"
    np.save(chunk, np.full((3, 512), 0.25, np.float64))  # cast to the declared float32
    result = run_one(SELECTOR, inputs={"input": str(chunk), "sr": "16000"})
    assert [f.code for f in result.findings] == []
    (fed, sr) = result.inputs
    assert (fed.name, fed.dtype, fed.shape, fed.origin, fed.low, fed.high) == (
        "input", "float", (3, 512), "--input", 0.25, 0.25)
    assert "batch=3 (shape of --input input" in result.dims
    assert "input:1=512 (shape of --input input" in result.dims
    assert (sr.shape, sr.values) == ((), "value 16000 (given by --input)")
    assert result.run.sweep == ()  # every dim was given by the array: nothing left to sweep


def test_the_other_dynamo_export_is_caught_by_the_sweep_as_its_manifest_recorded() -> None:
    # fixtures/exported/manifest.json: onnxruntime fails at seq 7 in node_Reshape_236
    manifest = json.loads((FIXTURES / "exported" / "manifest.json").read_text())
    assert "node_Reshape_236" in manifest["lstm_l2_bi_dynamo.onnx"]["ort_check"]
    result = run_one(FIXTURES / "exported" / "lstm_l2_bi_dynamo.onnx")
    assert [(f.code, f.location.node) for f in result.findings] == [
        ("AL513", "node_Reshape_236")]
    assert result.findings[0].actual == "runs at seq=5, fails at seq=7"


@pytest.mark.parametrize(("name", "x_batch", "h_batch"), [
    ("keras_rnn_cell.onnx", "unk__30", "unk__31"), ("keras_gru_cell.onnx", "unk__17", "unk__18")])
def test_dims_an_add_aligns_are_one_size_though_the_inputs_name_them_apart(
    name: str, x_batch: str, h_batch: str
) -> None:
    """A Keras cell step through tf2onnx names x's batch and h's apart (unk__30, unk__31): no
    recurrent node ties them, so each was swept alone, failed on the broadcast in the cell's
    Add and made a false AL513. The Add aligns them: one size, bound and swept as one; as
    the first axes of a Keras model's inputs, it is the batch (2, swept to 3)."""
    result = run_one(FIXTURES / "steps" / name)
    assert [f.code for f in result.findings] == []
    assert result.run.sweep_lines() == (
        f"{x_batch} = {h_batch} 2 -> 3 ({x_batch}=3, {h_batch}=3): ok",)


def test_a_failure_that_stays_when_the_dims_move_together_is_still_al513(
    tmp_path: Path,
) -> None:
    """Two inputs whose sizes only broadcast at 3 (a Reshape bakes 3 x 3): swept alone or
    together, 5 fails; AL513 stays. (The Slice hides from shape inference that the Add
    aligns a with b, so they are two groups, swept alone and together.)"""
    path = tmp_path / "baked.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 17]>
baked (float[a, 4] x, float[b, 4] y_in) => (float[9, 4] z) {
  start = Constant <value: tensor = int64[1] {0}> ()
  end = Constant <value: tensor = int64[1] {9223372036854775807}> ()
  y = Slice (y_in, start, end, start)
  s = Add (x, y)
  shape = Constant <value: tensor = int64[2] {9, 4}> ()
  t = Concat <axis: int = 0> (s, s, s)
  z = Reshape (t, shape)
}""")
    result = run_one(path)
    assert [f.code for f in result.findings] == ["AL513", "AL513"]
    assert [sweep.together for sweep in result.run.sweep] == ["", ""]


def test_sizes_of_which_one_must_not_exceed_the_other_are_not_one_size(tmp_path: Path) -> None:
    """x [a, 4] plus the first a rows of y [b, 4] runs only where a <= b (a Keras 3
    TimeDistributed GRU through tf2onnx runs only where batch <= seq). a at 5 fails, b at 5
    runs, both at 5 run: the sizes are not one, and a's failure stays AL513."""
    path = tmp_path / "prefix.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 17]>
prefix (float[a, 4] x, float[b, 4] y) => (float[a, 4] z) {
  rows = Shape <end: int = 1> (x)
  zero = Constant <value: tensor = int64[1] {0}> ()
  head = Slice (y, zero, rows, zero)
  z = Add (x, head)
}""")
    result = run_one(path)
    assert [(f.code, f.severity.value) for f in result.findings] == [("AL513", "warning")]
    assert [(sweep.dim, sweep.status, sweep.together) for sweep in result.run.sweep] == [
        ("a", "run_failed", ""), ("b", "ok", "")]


# the Slice of all of h hides from shape inference that the Add aligns b1 with b2
_TWO_BATCHES = """<ir_version: 8, opset_import: ["" : 17]>
two (float[t, b1, 3] x, float[b2, 3] h_in) => (float[t, b1, 3] y%s) {
  start = Constant <value: tensor = int64[1] {0}> ()
  end = Constant <value: tensor = int64[1] {9223372036854775807}> ()
  h = Slice (h_in, start, end, start)
  y = Add (x, h)%s
}"""
# row b2 - 1 of y's time axis, which exists only where b2 <= t
_ROW_OF_BATCH = """
  n = Shape <start: int = 0, end: int = 1> (h_in)
  one = Constant <value: tensor = int64[1] {1}> ()
  last = Sub (n, one)
  r = Gather <axis: int = 0> (y, last)"""


def test_a_time_axis_that_runs_alone_does_not_hide_batches_named_apart(tmp_path: Path) -> None:
    """tf2onnx's TF1 graphs name x's batch and h's apart (b1, b2) beside a time axis t of the
    same default size, which runs alone. All three at 5 run, but t ran alone, so that set
    proves nothing; b1 and b2 at 5 with t at 3 run too: one size, no AL513."""
    path = tmp_path / "two.onnx.txt"
    path.write_text(_TWO_BATCHES % ("", ""))
    result = run_one(path)
    assert [f.code for f in result.findings] == []
    assert [(sweep.dim, sweep.status, sweep.together) for sweep in result.run.sweep] == [
        ("t", "ok", ""), ("b1", "run_failed", "b2"), ("b2", "run_failed", "b1")]


def test_batches_named_apart_that_must_not_exceed_the_time_axis_stay_al513(
    tmp_path: Path,
) -> None:
    """The same, where the model also takes row b2 - 1 of the time axis: b1 and b2 at 5 with
    t at 3 fail (index 4 of 3 rows). Only the set with t runs, and t runs alone: the batch
    sizes are one, but the model fails where batch > seq, so both stay AL513."""
    path = tmp_path / "two_rows.onnx.txt"
    path.write_text(_TWO_BATCHES % (", float[1, b1, 3] r", _ROW_OF_BATCH))
    result = run_one(path)
    assert [(f.code, f.severity.value) for f in result.findings] == [
        ("AL513", "warning"), ("AL513", "warning")]
    assert [(sweep.dim, sweep.status, sweep.together) for sweep in result.run.sweep] == [
        ("t", "ok", ""), ("b1", "run_failed", ""), ("b2", "run_failed", "")]


@pytest.mark.parametrize("between", [
    "  picked = Identity (ids)\n",  # a merge's Identity (text2tashkeel's ensemble)
    "  picked = Gather <axis = 1> (ids, last)\n",  # the last token of a decoder's prefix
])
def test_token_ids_are_bounded_by_the_table_they_index_through_what_keeps_them(
        between: str, tmp_path: Path) -> None:
    """Ids reach the embedding Gather through an op that keeps their values: drawn within the
    table's 2 rows, not made up in [0, 3] (which would fail the lookup, an AL514)."""
    weights = ", ".join(["0.1"] * 36)
    path = tmp_path / "ids.onnx.txt"
    path.write_text(f'''<ir_version: 8, opset_import: ["" : 17]>
g (int64[batch, seq] ids) => (float[seq, 1, batch, 3] Y)
<float[2, 3] emb = {{1, 2, 3, 4, 5, 6}}, float[1, 12, 3] W = {{{weights}}},
 float[1, 12, 3] R = {{{weights}}}, int64 last = {{-1}}>
{{
{between}  x = Gather (emb, picked)
  xt = Transpose <perm = [1, 0, 2]> (x)
  Y = LSTM <hidden_size = 3> (xt, W, R)
}}''', encoding="utf-8")
    if "last" in between:  # the picked token is [batch]: one step
        path.write_text(path.read_text().replace(
            "xt = Transpose <perm = [1, 0, 2]> (x)", "xt = Unsqueeze (x, zero)").replace(
            "int64 last = {-1}>", "int64 last = {-1}, int64[1] zero = {0}>").replace(
            "float[seq, 1, batch, 3] Y", "float[1, 1, batch, 3] Y"))
    checked = run_one(path)
    [spec] = checked.run.inputs
    assert spec.values == "ints in [0, 1] (indices into 'emb' (axis 0 has 2))"
    assert [f.code for f in checked.findings] == []


def test_a_dim_that_is_an_expression_of_another_follows_it() -> None:
    """fixtures/dynamo_derived/ (torch 2.13 dynamo, ``dynamic_shapes`` with ``time + 4``):
    f is declared ``[batch, "time + 4", 1]``. Bound as a symbol of its own (5, then swept
    alone), its Concat with x failed at time 7 and made an AL513 error on a model that
    matches torch at every length. It is bound at time + 4 and follows time's sweep."""
    here = FIXTURES / "dynamo_derived"
    manifest = json.loads((here / "manifest.json").read_text())
    assert manifest["inputs"]["f"] == ["batch", "time + 4", 1]
    assert all(manifest["ort_matches_torch"].values())
    result = run_one(here / "lstm_horizon_dynamo.onnx")
    assert [f.code for f in result.findings] == []
    assert result.run.binding == "batch=2, time=5, time + 4=9"
    assert result.run.sweep_lines() == (
        "batch 2 -> 7 (batch=7, time=5, time + 4=9): ok",
        "time 5 -> 7 (batch=2, time=7, time + 4=11): ok",
    )


def test_an_output_that_keeps_the_traced_length_where_it_declares_seq_is_al513(
        tmp_path: Path) -> None:
    """fixtures/AL513/lstmcell_functions_classic.onnx (make_torch_cell_functions.py): an
    LSTMCell called per step, exported with export_modules_as_functions: onnxruntime returns
    5 steps at seq 7 (torch: 7). The output declares [seq, batch, 4]; inference computes 5,
    and the runtime check compared against that 5: every sweep was ok, 0 findings. It
    compares against the declared seq now: AL513, an error that says the graph keeps 5."""
    here = FIXTURES / "AL513"
    runs = json.loads((here / "lstmcell_functions_classic.json").read_text())["runs"]
    assert (runs["seq=7"]["onnxruntime_shape"], runs["seq=7"]["torch_shape"]) == (
        [5, 3, 4], [7, 3, 4])
    result = invoke("run", "--runs", "1", "--format", "json",
                    str(here / "lstmcell_functions_classic.onnx"))
    assert result.exit_code == 1, result.output
    [model] = json.loads(result.output)["models"]
    [output] = model["runtime"]["outputs"]
    assert output["expected"] == "[seq=5, batch=2, 4]"
    [finding] = model["findings"]
    assert (finding["code"], finding["severity"]) == ("AL513", "error")
    assert finding["message"] == (
        "the model runs at seq=5 but fails at seq=7 (seq dim; output(s) y keep 5 where they "
        "declare seq: the graph does not follow it)")
    assert finding["help"].startswith("The output keeps the size the export traced")


@pytest.mark.parametrize(("main", "swept", "kept", "unchanged"), [
    # an LSTMCell chain traced at 5 steps, declared [seq, batch, 4]: nothing follows seq
    ((5, 2, 4), (5, 2, 4), True, True),
    # DeepFilterNet's encoder (livekit-plugins-hush) declares e1 [S, 16, S, 16] and computes
    # [1, 16, S, 16]: axis 0 keeps 1, axis 2 follows S: the declaration is wrong, a warning
    ((1, 16, 1, 16), (1, 16, 3, 16), True, False),
    # the axis that declares the dim moved: not kept
    ((5, 2, 4), (7, 2, 5), False, False),
])
def test_an_output_that_keeps_a_declared_dim_is_told_from_one_declared_wrong(
        main: tuple, swept: tuple, kept: bool, unchanged: bool) -> None:
    from types import SimpleNamespace

    from archlint_rules.al513_size_dependent_run import _kept, _unchanged

    static = ("seq", "batch", 4) if len(main) == 3 else ("seq", 16, "seq", 16)
    base = main[0] if len(main) == 3 else 1
    run = SimpleNamespace(outputs=[SimpleNamespace(name="y", shape=main, static=static)])
    sweep = SimpleNamespace(dim="seq", base=base, size=base + 2, mismatched=("y",),
                            shapes={"y": swept})
    assert (_kept(run, sweep), _unchanged(run, sweep)) == (kept, unchanged)


KERAS2ONNX_NONE = FIXTURES / "keras2onnx" / "lstm_seq_opset7.onnx"


def test_dims_keras2onnx_names_none_are_each_their_own() -> None:
    """fixtures/keras2onnx/ (keras2onnx 1.7.0, opset 7) names every unknown dim ``None``:
    x [None, None, 3]. Read as one symbol, batch was always the sequence length in every run
    and sweep (a defect that shows only when they differ passed), and ``--dim seq=7`` bound
    nothing. Each axis is now its own, carried through inference under its ``input:axis``
    name, so the LSTM's roles reach them."""
    ctx = analyse(load_model(KERAS2ONNX_NONE))
    x, y = ctx.graph.tensor("input_1"), ctx.graph.tensor("lstm")
    assert x is not None and y is not None
    assert (x.shape, y.shape) == (("input_1:0", "input_1:1", 3), ("input_1:0", "input_1:1", 4))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    assert (binding.values["input_1:0"], binding.values["input_1:1"]) == (2, 5)
    bound = bind_dims(ctx.graph, ctx.layers, {"seq": 7, "batch": 3})
    assert (bound.values["input_1:0"], bound.values["input_1:1"], bound.unused) == (3, 7, ())
    [layer] = ctx.layers
    assert layer.inputs["X"].shape == ("input_1:1", "input_1:0", 3)
    result = invoke("run", str(KERAS2ONNX_NONE), "--dim", "seq=7")
    assert "dims: input_1:0=2 (default), input_1:1=7 (--dim seq)" in result.output
    assert "static [input_1:0=2, input_1:1=7, 4]: ok" in result.output


def test_the_worker_and_the_reader_agree_on_dims_named_none() -> None:
    from archlint.declared_types import _PYTHON_NONE
    from archlint.inference_child import PYTHON_NONE
    from archlint.runtime.inputs import axis_key

    assert PYTHON_NONE == _PYTHON_NONE == "None"
    assert axis_key("x", 1) == "x:1"  # what the worker names a `None` dim of input x, axis 1


def test_an_input_dim_a_weight_contracts_is_bound_to_the_weight() -> None:
    """fixtures/feature_inputs/joint_network.onnx (espnet_onnx's joint network): 1-D feature
    inputs declared dynamic, each multiplied by a Linear that fixes it (12, 14). Drawn at 5,
    the product failed and AL502 told the user to fix the MatMul; each is now bound to the
    weight's size and, like a recurrent node's input size, not swept."""
    path = FIXTURES / "feature_inputs" / "joint_network.onnx"
    ctx = analyse(load_model(path))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    assert (binding.values["enc_out_length"], binding.values["dec_out_length"]) == (12, 14)
    assert binding.origin["enc_out_length"] == "fixed by the node it feeds"
    assert ("features", ("enc_out_length",)) in binding.groups
    result = invoke("lint", "--runtime", str(path))
    assert result.exit_code == 0 and "0 findings" in result.output


def test_states_declared_none_are_neither_a_false_warning_nor_untied() -> None:
    """fixtures/keras2onnx/lstm_states_opset8.onnx: x [None, None, 3], h0 and c0 [None, 4].
    The names the worker gives each axis (x:0, h0:0) are archlint's, not the exporter's: no
    AL309 "declared independent" warning (the declaration named nothing); the LSTM ties the
    batches, so one size binds all three."""
    path = FIXTURES / "keras2onnx" / "lstm_states_opset8.onnx"
    result = invoke("lint", str(path))
    assert result.exit_code == 0 and "0 findings" in result.output
    ctx = analyse(load_model(path))
    binding = bind_dims(ctx.graph, ctx.layers, {"batch": 3})
    assert [binding.values[k] for k in ("x:0", "h0:0", "c0:0", "x:1")] == [3, 3, 3, 5]
