"""Defects of real torch exports that lint missed or understated, each shown by onnxruntime
(a committed fixture with the script that makes it and a manifest, or a run here):

- AL309 on a batch-major h0 (fixtures/AL309/make_torch_h0_batch_major.py): nn.GRU with
  batch_first=True called with h0 shaped like x, [batch, num_layers, hidden]. The classic
  exporter slices h0's axis 0 (its batch, declared dynamic) into the layers' states, whose
  batch axis is then h0's fixed axis 1. onnxruntime refuses batch 3; nothing said so before
  (the state's own shape, [1, 2, 8], no longer carries the symbol AL310 looks for).
- AL302 behind a stale declaration (fixtures/AL302/make_torch_bi_reshape_dynamo.py).
- AL302 on a target of numbers only (fixtures/AL302/make_torch_reshape_count.py).
- AL302 on a length baked after a per-step Linear (fixtures/AL302/make_torch_linear_view_dynamo.py).
- AL302 on a length a simplifier baked around a Gemm (fixtures/AL302/make_onnxsim_gemm.py).
- AL308 on a learned state expanded to the traced batch (fixtures/AL308/make_torch_expand_h0.py).
- AL308 on torch 1.13's packed zero state at the example's batch
  (fixtures/AL308/make_torch1_packed.py).
- AL308 once per state of a stack whose zero states constant folding split per layer
  (fixtures/AL308/make_torch_zero_state_stack.py).
- AL007 on an opset-18 Split in a dynamo export at opset 17
  (fixtures/AL007/make_torch_dynamo_op17.py).
- AL316 where onnxruntime's MatMul+Add fusion turns a fully static stale declaration into a
  fixed-size Reshape.
"""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import FIXTURES, run_archlint

HERE = FIXTURES / "AL309"


def test_a_batch_major_h0_sliced_as_layers_is_an_error() -> None:
    runs = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert runs["batch=2"] == "runs"
    assert "Input initial_h must have shape {1,3,8}" in runs["batch=3"]
    proc = run_archlint("lint", str(HERE / "torch_gru_h0_batch_major.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["input"], finding["expected"], finding["actual"]) == (
        "AL309", "error", "/gru/GRU", "initial_h", "'batch'", "2")
    assert "'h0' declares 'batch' on axis 0, which the model slices as if it held the layers" \
        in finding["message"]
    assert finding["help"].startswith("'h0' is a batch-major state: PyTorch's h0 and c0 are "
                                      "(num_layers·num_directions, batch, hidden)")


def test_a_baked_length_behind_a_stale_declaration_is_al302() -> None:
    """fixtures/AL302/torch_bi_reshape_dynamo.onnx (make_torch_bi_reshape_dynamo.py): torch's
    dynamo exporter declares the batch-first LSTM output [batch, 5, 16] (AL316) and reshapes
    it to the constant [-1, 5, 16]. Judged against the declaration the target matched; the
    graph computes [batch, time, 16], and onnxruntime fails at 9 steps."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert runs["time=5"]["max_abs_diff_vs_torch"] < 1e-6
    assert "running Reshape node. Name:'node_Reshape_145'" in runs["time=9"]["onnxruntime_error"]
    proc = run_archlint("lint", str(folder / "torch_bi_reshape_dynamo.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = [(f["code"], f["severity"], f["location"]["node"], f["actual"])
             for f in json.loads(proc.stdout)["models"][0]["findings"]]
    assert found == [
        ("AL316", "warning", "node_lstm__0", "[batch, 5, 16]"),
        ("AL302", "error", "node_Reshape_145", "[-1, 5, 16]")]


def test_a_length_baked_after_a_per_step_linear_is_al302(tmp_path: Path) -> None:
    """fixtures/AL302/torch_linear_view_dynamo.onnx (make_torch_linear_view_dynamo.py):
    darts' RNNModel, ``fc(out).view(batch, -1, 2, 1)``, dynamo: the LSTM's output and the
    Linear's are declared [batch, 12, ...] and the view is the constant [-1, 12, 2, 1]. The
    12 needs the factor 12 of batch × time (a warning), but the Linear's declaration shows
    it is the traced time: an error. onnxruntime fails at 7 steps and regroups 24 into a
    batch of 4; ``archlint fix`` copies the axis, and the fixed model keeps batch and time."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "torch_linear_view_dynamo.json").read_text())["runs"]
    assert runs["batch=4,time=12"]["max_abs_diff_vs_torch"] < 1e-6
    assert "running Reshape node. Name:'node_Reshape_152'" \
        in runs["batch=2,time=7"]["onnxruntime_error"]
    assert (runs["batch=2,time=24"]["onnxruntime_shape"],
            runs["batch=2,time=24"]["torch_shape"]) == ([4, 12, 2, 1], [2, 24, 2, 1])
    model = folder / "torch_linear_view_dynamo.onnx"
    proc = run_archlint("lint", str(model), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = [(f["code"], f["severity"], f["location"]["node"], f["expected"], f["actual"])
             for f in json.loads(proc.stdout)["models"][0]["findings"]]
    assert found == [
        ("AL316", "warning", "node_lstm__0", "[batch, time, ?]", "[batch, 12, 16]"),
        ("AL302", "error", "node_Reshape_152", "[-1, 0, 2, 1] with allowzero=0",
         "[-1, 12, 2, 1]")]
    fixed = tmp_path / "fixed.onnx"
    proc = run_archlint("fix", str(model), "-o", str(fixed), "--dim", "batch=4",
                        "--dim", "time=12")
    assert proc.returncode == 0, proc.stderr
    assert "AL302 safe   main/node_Reshape_152: Reshape target [-1, 12, 2, 1] -> " \
        "[-1, 0, 2, 1]" in proc.stdout
    import numpy as np
    import onnx
    import onnxruntime as ort

    output = onnx.load(fixed).graph.output[0]
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == [
        "batch", "time", 2, 1]
    session = ort.InferenceSession(str(fixed), providers=["CPUExecutionProvider"])
    for batch, steps in ((2, 24), (3, 7)):
        feed = np.zeros((batch, steps, 3), dtype=np.float32)
        assert session.run(None, {"x": feed})[0].shape == (batch, steps, 2, 1)


def test_a_length_onnxsim_baked_around_a_gemm_is_al302(tmp_path: Path) -> None:
    """fixtures/AL302/tagger_dynamo_onnxsim.onnx (make_onnxsim_gemm.py): a dynamo export of
    a BiLSTM tagger runs at every length; onnxsim writes its Linear as Reshape [-1, 32], Gemm,
    Reshape [-1, 5, 5] from the stale declaration [batch, 5, 32], and the simplified model
    fails at 7 steps. AL302 judged the last Reshape against the Gemm's [rows, 5]: nothing.
    It reads the rows as the flattened [batch, seq, 5] now; no fix is offered (a 0 would copy
    an axis of the 2-D rows)."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "tagger_dynamo_onnxsim.json").read_text())["runs"]
    assert runs["export seq=7"]["shape"] == [3, 7, 5]
    assert runs["onnxsim seq=5"]["max_abs_diff_vs_torch"] < 1e-6
    assert "running Reshape node. Name:'Reshape_2'" in runs["onnxsim seq=7"]["onnxruntime_error"]
    model = folder / "tagger_dynamo_onnxsim.onnx"
    proc = run_archlint("lint", str(model), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["models"][0]["findings"]
    assert [(f["code"], f["severity"], f["location"]["node"], f["actual"]) for f in findings] == [
        ("AL316", "warning", "node_lstm__0", "[batch, 5, 32]"),
        ("AL302", "error", "Reshape_2", "[-1, 5, 5]")]
    assert findings[1]["message"] == (
        "Reshape 'Reshape_2' has the constant target [-1, 5, 5] for the rows of [batch, seq, 5] "
        "that Reshape 'Reshape_0' flattened for a product: 5 fixes axis 1 ('seq', dynamic in "
        "graph input 'tok'); the input is declared [batch, 5, 5], the traced sizes: the target "
        "is that shape with a -1 in place of one axis")
    proc = run_archlint("fix", str(model), "--diff", "--select", "AL302")
    assert "0 fix(es) to apply" in proc.stdout, proc.stdout


def test_a_length_onnxsim_baked_then_quantized_is_al302() -> None:
    """The same simplified tagger after quantize_dynamic (tagger_dynamo_onnxsim_qdyn.onnx):
    the Gemm between the two Reshapes is DynamicQuantizeLinear, MatMulInteger, Cast and the
    rescaling Mul; the rows are read through them."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "tagger_dynamo_onnxsim.json").read_text())["runs"]
    assert runs["onnxsim+qdyn seq=5"]["shape"] == [3, 5, 5]
    assert "running Reshape node. Name:'Reshape_2'" in \
        runs["onnxsim+qdyn seq=7"]["onnxruntime_error"]
    proc = run_archlint("lint", str(folder / "tagger_dynamo_onnxsim_qdyn.onnx"), "--select",
                        "AL302", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["actual"]) == ("AL302", "error", "Reshape_2", "[-1, 5, 5]")
    assert "for the rows of [batch, seq, 5] that Reshape 'Reshape_0' flattened" \
        in finding["message"]


def test_a_numbers_only_target_on_dynamic_axes_is_al302() -> None:
    """fixtures/AL302/torch_reshape_count_classic.onnx (make_torch_reshape_count.py):
    ``y.reshape(T * B, 2 * H)`` with Python ints, classic exporter: the constant [10, 12] on
    [T, B, 2, 6] fixes the element count; no 0 or -1 aligns with an axis, and the rule said
    nothing. onnxruntime fails at every other time or batch (the opset sweep found it at
    every opset from 9 to 17)."""
    folder = FIXTURES / "AL302"
    runs = json.loads((folder / "torch_reshape_count_classic.json").read_text())["runs"]
    assert runs["T=5,B=2"]["max_abs_diff_vs_torch"] < 1e-6
    assert all("running Reshape node" in runs[key]["onnxruntime_error"]
               for key in ("T=7,B=2", "T=5,B=3"))
    proc = run_archlint("lint", str(folder / "torch_reshape_count_classic.onnx"),
                        "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["input"], finding["actual"]) == (
        "AL302", "error", "/Reshape", "shape", "[10, 12]")
    assert "fixes the element count at 120, so 'T' × 'B' (dynamic in graph input 'x') must " \
        "multiply to 10" in finding["message"]


def test_a_learned_state_expanded_to_the_traced_batch_is_al308() -> None:
    """fixtures/AL308/torch_expand_h0_classic.onnx (make_torch_expand_h0.py): the classic
    exporter writes ``h0.expand(1, B, H)`` (B a Python int) with a Where over constants as the
    shape; onnx's inference leaves the state's batch unknown and AL308 said nothing. The
    folded shape holds batch 2; onnxruntime refuses batch 3."""
    folder = FIXTURES / "AL308"
    runs = json.loads((folder / "torch_expand_h0_classic.json").read_text())["runs"]
    assert runs["B=2"]["max_abs_diff_vs_torch"] < 1e-6
    assert "Input initial_h must have shape {1,3,6}" in runs["B=3"]["onnxruntime_error"]
    proc = run_archlint("lint", str(folder / "torch_expand_h0_classic.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["input"], finding["expected"], finding["actual"]) == (
        "AL308", "error", "/rnn/GRU", "initial_h", "batch 'B' (from Shape(X))", "batch 2")
    assert finding["help"].startswith("Expand it to X's batch")


def test_torch1_packed_zero_state_at_the_example_batch_is_al308() -> None:
    """fixtures/AL308/torch1_packed_{sorted,unsorted}.onnx (make_torch1_packed.py, torch
    1.13.1): pack_padded_sequence's zero state stored as a Constant [1, 3, 5] and expanded to
    X's batch: onnxruntime runs batch 3 alone. With enforce_sorted=False X's batch is sorted
    by length (TopK, Gather), inference names it ``unk__1``, and AL308 said nothing while the
    runtime check blamed the lengths it invented (the old-torch sweep)."""
    folder = FIXTURES / "AL308"
    runs = json.loads((folder / "torch1_packed.json").read_text())["runs"]
    for name in ("sorted", "unsorted"):
        assert runs[name]["3"] == "runs"
        assert runs[name]["2"] == runs[name]["4"] == "invalid expand shape"
        assert "Input initial_h must have shape {1,1,5}" in runs[name]["1"]
    expected = {"sorted": ("error", 1), "unsorted": ("warning", 0)}
    for name, (severity, code) in expected.items():
        proc = run_archlint("lint", str(folder / f"torch1_packed_{name}.onnx"), "--format",
                            "json")
        assert proc.returncode == code, proc.stderr
        [finding] = json.loads(proc.stdout)["models"][0]["findings"]
        assert (finding["code"], finding["severity"], finding["location"]["node"],
                finding["location"]["input"], finding["actual"]) == (
            "AL308", severity, "/rnn/GRU", "initial_h", "batch 3")
    assert "which Expand '/rnn/Expand' expands to X's batch (Shape(X)[1], 'unk__1', " \
        "computed at run time): an Expand broadcasts only an axis of size 1, so the layer " \
        "runs only where X's batch is 3" in finding["message"]
    assert finding["help"].startswith("Store the zeros with batch 1 ([D, 1, H])")


def test_a_lengths_input_cast_and_sorted_before_sequence_lens_is_bounded_by_seq() -> None:
    """torch writes a lengths input as Cast(lengths, int32) before sequence_lens, and sorts it
    with TopK for enforce_sorted=False: the runtime check drew it in [0, 3] as unbounded
    (0-length rows), and blamed the failure of torch 1.13's baked state on those made-up
    lengths (AL514). Bounded by the sequence, the failure is the model's."""
    # the sorted export's state fixes the batch the check starts at (3): it fails at 7
    expected = {"sorted": ("AL513", "/rnn/Expand"), "unsorted": ("AL502", "/rnn/Expand")}
    for name, (code, node) in expected.items():
        proc = run_archlint("run", str(FIXTURES / "AL308" / f"torch1_packed_{name}.onnx"),
                            "--format", "json")
        assert proc.returncode == 1, proc.stderr
        [model] = json.loads(proc.stdout)["models"]
        [lengths] = [spec for spec in model["runtime"]["inputs"] if spec["name"] == "lengths"]
        assert lengths["values"] == "ints in [1, 5] (sequence_lens of /rnn/GRU, <= seq=5)"
        assert [(f["code"], f["severity"], f["location"]["node"]) for f in model["findings"]
                ] == [(code, "error", node)]


def test_folded_zero_states_of_a_stack_are_one_finding_per_state() -> None:
    """fixtures/AL308/torch_zero_state_stack.onnx: h0 and c0 = torch.zeros(2, 3, 5) for a
    2-layer LSTM; constant folding stores each layer's slice as a Constant of its own, and
    AL308 said the one defect four times (the old-torch sweep). One finding per state, at the
    first layer, naming the other layer."""
    folder = FIXTURES / "AL308"
    runs = json.loads((folder / "torch_zero_state_stack.json").read_text())["runs"]
    assert runs["3"] == "runs" and runs["2"] != "runs"
    proc = run_archlint("lint", str(folder / "torch_zero_state_stack.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["models"][0]["findings"]
    assert sorted((f["code"], f["location"]["node"], f["location"]["input"], f["actual"])
                  for f in findings) == [("AL308", "/rnn/LSTM", "initial_c", "batch 3"),
                                         ("AL308", "/rnn/LSTM", "initial_h", "batch 3")]
    for finding in findings:
        assert finding["message"].endswith(
            f"(and the {finding['location']['input']} of /rnn/LSTM_1: the same constant "
            "values)")


_FUSED = """<ir_version: 8, opset_import: ["" : 17]>
fused (float[seq, 2, 4] X) => (float[2, 5, 2] out)
<float[2, 5, 3] flat>
{
  Y, Y_h = GRU <hidden_size: int = 3, linear_before_reset: int = 1> (X, W, R, B)
  Ys = Squeeze (Y, one)
  flat = Transpose <perm: ints = [1, 0, 2]> (Ys)
  prod = MatMul (flat, P)
  out = Add (prod, bias)
}"""


def _fused_model(path: Path) -> Path:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.parser.parse_model(_FUSED)
    rng = np.random.default_rng(0)
    values = {"W": (1, 9, 4), "R": (1, 9, 3), "B": (1, 18), "P": (3, 2), "bias": (2,)}
    model.graph.initializer.extend(
        numpy_helper.from_array(rng.uniform(-1, 1, dims).astype(np.float32), name)
        for name, dims in values.items())
    model.graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    onnx.save(model, path)
    return path


def test_a_fully_static_stale_declaration_that_onnxruntime_fuses_is_an_error(
    tmp_path: Path,
) -> None:
    """torch's dynamo exporter fixed the batch (2) and declared the batch-first GRU output
    [2, 5, 3] with seq dynamic on X. onnxruntime's MatMul+Add fusion reshapes the head's
    input to the constant [10, 3] it computes from that declaration: at 7 steps the model
    fails (with optimisations off, or without the declaration, it runs). AL316 is then an
    error, not the warning a declaration with a symbol in it gets."""
    import numpy as np
    import onnxruntime as ort

    path = _fused_model(tmp_path / "fused.onnx")
    x = np.zeros((7, 2, 4), np.float32)
    for level, runs in ((ort.GraphOptimizationLevel.ORT_ENABLE_ALL, False),
                        (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, True)):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        options.log_severity_level = 4
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        try:
            session.run(None, {"X": x})
            ran = True
        except Exception as exc:  # onnxruntime's own error classes
            assert "gemm_input_reshape" in str(exc)
            ran = False
        assert ran is runs
    proc = run_archlint("lint", str(path), "--select", "AL316", "--format", "json")
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["actual"]) == (
        "AL316", "error", "[2, 5, 3]")
    assert "onnxruntime's MatMul+Add fusion (on by default) reshapes it for MatMul" in \
        finding["message"]


def test_an_opset_18_split_in_a_dynamo_export_at_opset_17_is_al007() -> None:
    """fixtures/AL007/torch_lstm_cell_dynamo_op17.onnx (make_torch_dynamo_op17.py): the
    dynamo exporter asked for opset 17 keeps Split's opset-18 num_outputs; onnx's inference
    passes it, onnxruntime refuses the model, and lint said only AL025 (the opset sweep)."""
    folder = FIXTURES / "AL007"
    record = json.loads((folder / "torch_lstm_cell_dynamo_op17.json").read_text())
    assert "INVALID_GRAPH" in record["load"] and "node_Split_0" in record["load"]
    proc = run_archlint("lint", str(folder / "torch_lstm_cell_dynamo_op17.onnx"),
                        "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = sorted((f["code"], f["severity"], f["location"]["node"], f["location"]["attribute"])
                   for f in json.loads(proc.stdout)["models"][0]["findings"])
    assert found == [("AL007", "error", "node_Split_0", "num_outputs"),
                     ("AL025", "info", "node_linear", None)]
