"""The runtime check for real: onnxruntime sessions in child processes, on committed models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import onnx
import pytest

from archlint.registry import load_rules
from archlint.runtime.check import available_providers
from archlint.runtime.settings import RuntimeSettings, SettingsError

from .conftest import FIXTURES, REPO, invoke, run_archlint
from .runtime_support import Checked, check

EXPORTED = FIXTURES / "exported"
MANIFEST = json.loads((EXPORTED / "manifest.json").read_text())
CLASSIC = sorted(name for name, entry in MANIFEST.items()
                 if name != "_generator" and entry["exporter"] == "classic")
RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]


def run_one(path: Path, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def codes(result: Checked) -> list[str]:
    return [f.code for f in result.findings]


# --- acceptance: the PyTorch exports run clean, with shapes as inferred -----------------------

def test_every_classic_export_runs_on_cpu_with_the_inferred_shapes() -> None:
    report = invoke("run", "--provider", "cpu", "--runs", "1",
                    *[str(EXPORTED / name) for name in CLASSIC])
    assert report.exit_code == 0, report.output
    assert f"0 findings (0 errors, 0 warnings, 0 infos) in {len(CLASSIC)} models" in report.output
    blocks = report.output.split("onnxruntime on cpu (CPUExecutionProvider)")[1:]
    assert len(blocks) == len(CLASSIC)
    for name, block in zip(CLASSIC, blocks, strict=True):
        outputs = [line for line in block.splitlines() if line.startswith("    output ")]
        assert len(outputs) == len(MANIFEST[name]["onnx_output_names"]), (name, block)
        assert all(line.endswith(": ok") for line in outputs), (name, outputs)
        for line in outputs:  # every static dim is a number or a bound symbol: all checked
            static = line.split(", static [", 1)[1].split("]:", 1)[0]
            assert all(d.isdigit() or "=" in d for d in static.split(", ")), (name, line)
        assert "dims: seq=5 (default), batch=2 (default)" in block or \
            "dims: batch=2 (default), seq=5 (default)" in block, (name, block)


def test_bound_dims_are_stated_and_used() -> None:
    result = run_one(EXPORTED / "lstm_l2_bi_classic.onnx", dims={"batch": 3, "seq": 7, "beam": 2})
    assert codes(result) == []
    assert "--dim beam: this model has no such symbolic dimension" in result.notes
    assert result.dims == "seq=7 (--dim), batch=3 (--dim)"
    assert result.outputs[0] == "output float32[7, 3, 6], static [seq=7, batch=3, 6]: ok"


@pytest.mark.parametrize(("name", "seq", "batch"), [
    ("k2_simple_rnn.onnx", "unk__453", "unk__452"),  # tf2onnx's Loop over transpose(x)
    ("k2_gru_reset_before.onnx", "unk__291", "unk__290"),
])
def test_a_loop_cells_seq_and_batch_are_bound_by_role(name: str, seq: str, batch: str) -> None:
    """A Keras layer tf2onnx exports as a Loop has no LSTM/GRU/RNN node whose X says which
    axis is seq: its steps Gather axis 0 of the transposed x, so x's axis 1 is seq and axis 0
    batch. `--dim seq` and `--dim batch` bind them (before: "no such symbolic dimension", and
    both 3). Without them both stay 3, each swept to 5: generic ops may tie batch to seq,
    which the role defaults (batch 2 -> 3, seq 5 -> 7) would never try above seq."""
    path = FIXTURES / "keras" / name
    bound = run_one(path, dims={"seq": 10, "batch": 4})
    assert codes(bound) == []
    assert bound.dims == f"{batch}=4 (--dim batch), {seq}=10 (--dim seq)"
    assert not any("no such symbolic dimension" in note for note in bound.notes)
    [x] = bound.inputs
    assert x.shape[:2] == (4, 10)
    default = run_one(path)
    assert default.dims == f"{batch}=3 (default), {seq}=3 (default)"
    assert [(sweep.dim, sweep.base, sweep.size) for sweep in default.run.sweep] \
        == [(batch, 3, 5), (seq, 3, 5)]
    only_seq = run_one(path, dims={"seq": 10})
    assert only_seq.dims == f"{batch}=3 (default), {seq}=10 (--dim seq)"


@pytest.mark.parametrize(("name", "batch"), [
    ("k2_lstm_unrolled.onnx", "unk__2748"), ("k2_gru_unrolled.onnx", "unk__2778")])
def test_an_unrolled_layers_batch_is_bound_by_role(name: str, batch: str) -> None:
    """Keras unroll=True: tf2onnx slices x's fixed steps (axis 1) one by one; the other axis
    of x, its only dynamic one, is batch."""
    result = run_one(FIXTURES / "keras" / name, dims={"batch": 4})
    assert codes(result) == []
    assert result.dims == f"{batch}=4 (--dim batch)"
    assert not any("no such symbolic dimension" in note for note in result.notes)
    [x] = result.inputs
    assert x.shape[0] == 4


def test_an_opset_8_scan_reads_its_steps_from_axis_1() -> None:
    """Scan-8 reads [batch, seq, ...] (sequence_lens first); later Scans axis 0 unless
    scan_input_axes says otherwise."""
    from archlint.engine import analyse
    from archlint.loader import load_model

    ctx = analyse(load_model(FIXTURES / "tf1_scan" / "gru_lengths_opset8.onnx"))
    assert [(layer.cell.sequence_axis if layer.cell else None) for layer in ctx.recognised] \
        == [1]
    ctx = analyse(load_model(FIXTURES / "tf1_scan" / "gru.onnx"))
    assert [(layer.cell.sequence_axis if layer.cell else None) for layer in ctx.recognised] \
        == [0]


def test_token_ids_stay_inside_the_embedding() -> None:
    result = run_one(EXPORTED / "embed_lstm.onnx", dims={"seq": 50, "batch": 20})
    assert codes(result) == []
    [tokens] = result.inputs
    assert tokens.values == "ints in [0, 9] (indices into 'embed.weight' (axis 0 has 10))"


SEQ_LENS_MODEL = """
<ir_version: 8, opset_import: ["" : 14]>
seq_lens (float[seq, batch, 2] X, int32[batch] lens, float[1, 12, 2] W, float[1, 12, 3] R)
    => (float[seq, 1, batch, 3] Y)
{
  [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R, , lens)
}
"""


def test_sequence_lens_stay_within_seq_and_the_reference_skip_is_said(tmp_path: Path) -> None:
    path = tmp_path / "seq_lens.onnx.txt"
    path.write_text(SEQ_LENS_MODEL)
    result = run_one(path, dims={"seq": 4, "batch": 6}, seed=3)
    assert codes(result) == []
    lens = next(spec for spec in result.inputs if spec.name == "lens")
    assert lens.values == "ints in [1, 4] (sequence_lens of lstm_0, <= seq=4)"
    assert any("not checked: sequence_lens" in note and "ignores sequence_lens" in note
               for note in result.notes), result.notes


TWO_LSTMS = """
<ir_version: 8, opset_import: ["" : 14]>
two (float[4, 2, 2] X, float[4, 2] X2, float[1, 12, 2] W, float[1, 12, 3] R)
    => (float[4, 1, 2, 3] Y, float[1, 2, 3] Y2)
{
  [lstm_ok] Y = LSTM <hidden_size: int = 3> (X, W, R)
  [lstm_flat] , Y2 = LSTM <hidden_size: int = 3> (X2, W, R)
}
"""


def test_a_session_failure_is_placed_on_the_node_onnxruntime_names(tmp_path: Path) -> None:
    path = tmp_path / "two.onnx.txt"
    path.write_text(TWO_LSTMS)
    [finding] = run_one(path).findings
    assert (finding.code, finding.location.node, finding.location.node_index) == (
        "AL501", "lstm_flat", 1)
    assert finding.message.endswith(
        "Node (lstm_flat) Op (LSTM) [ShapeInferenceError] First input tensor must have rank 3")


def test_a_recurrent_op_below_opset_7_is_told_why_it_has_no_kernel() -> None:
    """torch 0.3 exported nn.LSTM at opset 6 (a public onnx_to_tensorflow example): LSTM-1,
    for which onnxruntime registers no kernel. AL501's help listed layout=1, hidden_size and
    clip, none of which applies; it names the op's version and the target that finds it."""
    [finding] = run_one(FIXTURES / "targets" / "op_version_below_7.onnx.txt").findings
    assert (finding.code, finding.location.node) == ("AL501", "lstm_0")
    assert finding.message.endswith("Could not find an implementation for LSTM(1) node with "
                                    "name 'lstm_0'")
    assert finding.help == (
        "onnxruntime registers no kernel for LSTM-1, the LSTM of opsets below 7: export at "
        "opset 7 or later, or convert the model with onnx.version_converter.convert_version("
        "model, 14); --target onnxruntime-cpu reports it without a run (AL601).")


def test_an_unconverted_framework_op_is_told_as_such(tmp_path: Path) -> None:
    """tf2onnx 1.16 left a Keras LSTM as TensorFlow's CudnnRNNV3 (a public model its author
    later deleted as broken): onnxruntime refuses the graph, and AL501's help pointed at
    layout and attributes."""
    path = tmp_path / "unconverted.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 13]>
g (float[5, 2, 3] x) => (float[5, 2, 4] y)
{
  [lstm_1] y = CudnnRNNV3 (x)
}
""")
    [finding] = run_one(path).findings
    assert finding.code == "AL501"
    assert "No Op registered for CudnnRNNV3 with domain_version of 13" in finding.message
    assert finding.help == (
        "onnxruntime knows no op CudnnRNNV3 in the ONNX domain: an op of the exporting "
        "framework left unconverted (AL005 names it without a run, and what converts "
        "instead); re-export so that none remains.")


# --- acceptance: crashes and hangs become findings -------------------------------------------

def test_an_abort_in_onnxruntime_is_a_finding_and_archlint_survives() -> None:
    proc = run_archlint("run", str(EXPORTED / "gru_l1_uni_sf_h0.onnx"),
                        str(EXPORTED / "lstm_4_2.onnx"), "--dim", "batch=0", timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    lines = [line for line in proc.stdout.splitlines() if " AL503 " in line]
    assert len(lines) == 2
    assert all("crashed with SIGABRT during run" in line
               and "terminate called without an active exception" in line for line in lines)
    assert "2 findings (2 errors, 0 warnings, 0 infos) in 2 models" in proc.stdout


def test_a_hang_is_killed_at_the_timeout() -> None:
    proc = run_archlint("run", str(FIXTURES / "AL504" / "bad.onnx.txt"), "--timeout", "2",
                        timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert ("AL504 error: onnxruntime did not finish within 2s during run (the requested "
            "providers) on cpu; the child process was killed") in proc.stdout


def test_the_timed_out_child_is_killed_and_reaped(tmp_path: Path) -> None:
    import numpy as np

    from archlint.runtime.child import run_worker

    np.savez(tmp_path / "inputs.npz", X=np.ones(3, dtype=np.float32))
    job = {"id": "main", "model": str(FIXTURES / "AL504" / "bad.onnx.txt"),
           "providers": ["CPUExecutionProvider"], "inputs": "inputs.npz", "runs": 1}
    outcome = run_worker({"jobs": [job]}, tmp_path, timeout=2)
    assert outcome.timed_out and outcome.stage == ("main", "run")
    assert outcome.results == {}
    assert outcome.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)  # no such process: killed, and waited for (no zombie)


def test_a_fixed_zero_batch_gru_crash_is_placed_in_run() -> None:
    result = run_one(FIXTURES / "AL503" / "bad.onnx.txt")
    assert codes(result) == ["AL503"]
    assert result.findings[0].actual == "SIGABRT"
    assert result.findings[0].source == "onnxruntime"


def test_a_crash_creating_the_session_says_so_and_how_to_tell_its_cause() -> None:
    """A float16 conversion of a 2-layer bidirectional LSTM that onnxruntime 1.32 dies on
    while it creates the session, and loads at ORT_ENABLE_BASIC (fixtures/AL503/manifest.json,
    make_fp16_crash.py): no input can be blamed, so the help points at the optimization level."""
    result = run_one(FIXTURES / "AL503" / "fp16_lstm_head.onnx")
    if "AL503" not in codes(result):
        pytest.skip("this onnxruntime creates the session (1.32.0 died with SIGSEGV)")
    (finding,) = [f for f in result.findings if f.code == "AL503"]
    assert "during session creation (the requested providers)" in finding.message
    assert finding.help.startswith("The runtime aborted while creating its session, before any "
                                   "input was fed")
    assert "ORT_ENABLE_BASIC" in finding.help


@pytest.mark.parametrize("case", ["rnn_direction_sideways", "gru_hidden_size_zero",
                                  "lstm_clip_negative"])
def test_a_node_refused_for_what_the_spec_forbids_blames_no_profile(case: str) -> None:
    """onnxruntime refuses each at session creation for an attribute value the spec forbids
    (fixtures/ort/): AL501 quotes it; no profile describes such a node, so AL512 does not
    call the profile stale (a sideways RNN did)."""
    result = run_one(FIXTURES / "ort" / f"{case}.onnx.txt")
    assert "AL501" in codes(result)
    assert "AL512" not in codes(result)


# --- acceptance: a missing provider is a finding, never a silent CPU run ---------------------

@pytest.mark.skipif("CUDAExecutionProvider" in available_providers(),
                    reason="CUDA is installed here")
def test_cuda_without_onnxruntime_gpu_names_the_package_and_runs_nothing() -> None:
    report = invoke("run", str(EXPORTED / "lstm_4_2.onnx"), "--provider", "cuda")
    assert report.exit_code == 1
    assert ("AL505 error: execution provider CUDAExecutionProvider is not available in the "
            "installed onnxruntime") in report.output
    assert "help: Install onnxruntime-gpu (pip install onnxruntime-gpu" in report.output
    assert "(CUDAExecutionProvider): not run\n" in report.output
    assert "    output " not in report.output and "    placement:" not in report.output
    assert "timing" not in report.output


def test_unknown_provider_name_is_a_usage_error() -> None:
    proc = run_archlint("run", str(EXPORTED / "lstm_4_2.onnx"), "--provider", "gpu")
    assert proc.returncode == 2
    assert proc.stderr.startswith("archlint: error: unknown execution provider 'gpu'")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--dim", "batch"), "--dim 'batch': expected NAME=VALUE, such as batch=4"),
    (("--dim", "batch=two"), "--dim 'batch=two': 'two' is not an integer"),
    (("--timeout", "0"), "timeout must be > 0 and at most 604800 seconds, got 0.0"),
    # issue 18: no internal error, and no NaN tolerance that lets every comparison pass
    (("--timeout", "inf"), "timeout must be > 0 and at most 604800 seconds, got inf"),
    (("--timeout", "nan"), "timeout must be > 0 and at most 604800 seconds, got nan"),
    (("--timeout", "1e300"), "timeout must be > 0 and at most 604800 seconds, got 1e+300"),
    (("--rtol", "nan"), "rtol must be a finite number >= 0, got nan"),
    (("--atol", "inf"), "atol must be a finite number >= 0, got inf"),
    (("--dim", "batch=99999999999999999999"),
     "--dim 'batch=99999999999999999999': a dimension cannot exceed 2,147,483,647"),
])
def test_bad_settings_are_one_line_usage_errors(args: tuple[str, ...], message: str) -> None:
    report = invoke("run", str(EXPORTED / "lstm_4_2.onnx"), *args)
    assert report.exit_code == 2
    assert report.output == f"archlint: error: {message}\n"


# --- acceptance: genuine numeric differences --------------------------------------------------

def test_fp16_conversion_against_its_fp32_original() -> None:
    fp16, fp32 = FIXTURES / "AL511" / "bad.onnx", FIXTURES / "AL511" / "lstm_fp32.onnx"
    assert {i.type.tensor_type.elem_type for i in onnx.load(fp16).graph.input} == {
        onnx.TensorProto.FLOAT16}
    tight = run_one(fp16, compare_model=str(fp32), rtol=0.0, atol=1e-6)
    found = [f for f in tight.findings if f.code == "AL511"]
    assert sorted(f.location.tensor or "" for f in found) == ["c_n", "h_n", "output"]
    for finding in found:
        assert "max abs diff" in finding.message and "max rel diff" in finding.message
        max_abs = float(finding.actual.split(",")[0].removeprefix("max abs "))  # type: ignore[union-attr]
        assert 1e-6 < max_abs < 1e-2  # fp16 rounding: above the tight atol, far below 1
    default = run_one(fp16, compare_model=str(fp32))
    assert codes(default) == []
    assert sum("compare_model: output" in n and "agrees" in n for n in default.notes) == 3


def test_compare_model_through_the_cli_reports_output_names() -> None:
    report = invoke("run", str(FIXTURES / "AL511" / "good.onnx"), "--compare-model",
                    str(FIXTURES / "AL511" / "lstm_fp32.onnx"), "--rtol", "0", "--atol", "1e-6",
                    "--no-reference")
    assert report.exit_code == 1
    assert "AL511 error: output 'output' differs in " in report.output
    assert "AL510" not in report.output  # --no-reference


def test_compare_provider_cpu_against_cpu_agrees_exactly() -> None:
    result = run_one(EXPORTED / "gru_l2_bi_sf_h0.onnx", compare="cpu", rtol=0.0, atol=0.0,
                     reference=False)
    assert codes(result) == []
    notes = [n for n in result.notes if n.startswith("compare: ")]
    assert len(notes) == 2 and all("max abs diff 0," in n for n in notes), notes


def test_backend_recurrent_cases_agree_with_the_reference_evaluator(
    backend_recurrent_cases: list, tmp_path: Path
) -> None:
    checked = 0
    for case in backend_recurrent_cases:
        path = tmp_path / f"{case.name}.onnx"
        onnx.save(case.model, path)
        result = run_one(path)
        layouts = {a.i for n in case.model.graph.node for a in n.attribute if a.name == "layout"}
        if layouts == {1}:  # onnxruntime refuses layout=1 at session creation
            assert codes(result) == ["AL501"], case.name
            assert "layout == 1" in result.findings[0].message
            continue
        assert codes(result) == [], (case.name, result.findings)
        reference = [n for n in result.notes if n.startswith("reference: ")]
        assert len(reference) == 1, (case.name, result.notes)
        if "sequence_lens" in reference[0]:
            assert "not checked" in reference[0]
            continue
        assert "agrees with onnx.reference" in reference[0], (case.name, reference)
        checked += 1
    assert checked >= 12


def test_reference_check_says_what_it_cannot_represent(tmp_path: Path) -> None:
    text = (FIXTURES / "AL510" / "good.onnx.txt").read_text().replace(
        "LSTM <hidden_size: int = 3>", "LSTM <hidden_size: int = 3, clip: float = 0.5>")
    path = tmp_path / "clip.onnx.txt"
    path.write_text(text)
    result = run_one(path)
    assert "reference: LSTM 'lstm_0' not checked: the reference evaluator ignores clip" in \
        result.notes


def test_reference_check_fetches_what_the_node_computes_in_a_qdq_model() -> None:
    """onnxruntime's optimiser moves the QuantizeLinear/DequantizeLinear pair after the GRU's
    Transpose and Reshape up to its Y: fetched from an optimised session, Y is quantized
    (0.004 off onnx.reference). The reference check runs the model as written."""
    result = run_one(FIXTURES / "qdq" / "sources_stack_lstm_gru_qdq.onnx")
    assert [f.code for f in result.findings if f.code == "AL510"] == []
    [gru] = [n for n in result.notes if n.startswith("reference: GRU '/gru/GRU'")]
    assert "agrees with onnx.reference" in gru, gru


# --- placement -------------------------------------------------------------------------------

def test_placement_names_the_recurrent_nodes_and_their_provider() -> None:
    result = run_one(EXPORTED / "gru_linear_head.onnx")
    assert result.placement[0].endswith("on CPUExecutionProvider")
    assert [line for line in result.placement[1:]] == [
        "GRU '/rnn/GRU': CPUExecutionProvider",
        "prediction (onnxruntime-cpu): agrees; 1 of 1 observed recurrent node(s) as predicted"]


def test_a_recurrent_node_on_cpu_under_a_gpu_provider_is_a_warning() -> None:
    """The placement rows are a real CPU profile; only the request is CUDA (no GPU in CI)."""
    from archlint.engine import Linter, analyse
    from archlint.loader import load_model
    from archlint.runtime.placement import placement
    from archlint.runtime.result import JobOutcome, RuntimeRun

    path = EXPORTED / "gru_linear_head.onnx"
    ctx = analyse(load_model(path))
    rows = [["/rnn/GRU", "GRU", "CPUExecutionProvider"], ["/head/Gemm", "Gemm",
                                                           "CUDAExecutionProvider"]]
    providers = ("CUDAExecutionProvider", "CPUExecutionProvider")
    placed, lines = placement(rows, ctx, providers)
    assert lines == ("2 nodes ran: 1 on CPUExecutionProvider, 1 on CUDAExecutionProvider",
                     "GRU '/rnn/GRU': CPUExecutionProvider")
    run = RuntimeRun(str(path), RuntimeSettings(providers=("cuda", "cpu")), providers,
                     providers, dims="none", main=JobOutcome("ok", "cuda, cpu"), placed=placed)
    [finding] = Linter(RUNTIME_RULES).check_run(run, ctx)
    assert (finding.code, finding.severity.value, finding.location.node) == (
        "AL506", "warning", "/rnn/GRU")
    assert finding.message == ("GRU '/rnn/GRU' ran on CPUExecutionProvider, not on "
                               "CUDAExecutionProvider")


# --- lint --runtime ----------------------------------------------------------------------------

def test_lint_runtime_runs_every_model_of_a_folder(tmp_path: Path) -> None:
    shutil.copy(EXPORTED / "lstm_4_2.onnx", tmp_path / "a_clean.onnx")
    (tmp_path / "b_double.onnx").write_bytes(onnx.parser.parse_model(
        (FIXTURES / "AL502" / "bad.onnx.txt").read_text()).SerializeToString())
    (tmp_path / "c_zero_batch.onnx").write_bytes(onnx.parser.parse_model(
        (FIXTURES / "AL503" / "bad.onnx.txt").read_text()).SerializeToString())
    proc = run_archlint("lint", "--runtime", str(tmp_path), "--format", "json", timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, json.loads(
        (REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text()))
    by_model = {Path(m["path"]).name: [(f["code"], f["source"]) for f in m["findings"]]
                for m in report["models"]}
    assert by_model["a_clean.onnx"] == []
    assert ("AL502", "onnxruntime") in by_model["b_double.onnx"]
    assert ("AL503", "onnxruntime") in by_model["c_zero_batch.onnx"]


def test_the_runtime_modules_do_not_import_onnxruntime_until_asked() -> None:
    code = ("import sys\nimport archlint.cli, archlint.cli.run, archlint.app\n"
            "import archlint.runtime.check\n"
            "import archlint.runtime.inputs\nprint('onnxruntime' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "False"


def test_lint_without_runtime_finds_no_runtime_codes() -> None:
    report = invoke("lint", str(FIXTURES / "AL502" / "bad.onnx.txt"), "--select", "AL5")
    assert report.exit_code == 0
    assert "0 findings" in report.output


def test_explain_a_runtime_rule() -> None:
    report = invoke("explain", "AL505")
    assert report.exit_code == 0
    assert report.output.startswith("AL505 provider-unavailable (error)")
    assert "onnxruntime-gpu" in report.output


# --- settings --------------------------------------------------------------------------------

def test_settings_from_a_config_table() -> None:
    settings = RuntimeSettings.from_mapping({"providers": ["cuda", "cpu"],
                                             "dims": {"batch": 4, "seq": 32}, "rtol": 1e-4,
                                             "atol": 0, "timeout": 30, "seed": 7})
    assert settings.providers == ("cuda", "cpu")
    assert dict(settings.dims) == {"batch": 4, "seq": 32}
    assert (settings.rtol, settings.atol, settings.timeout, settings.seed) == (1e-4, 0.0, 30.0, 7)
    with pytest.raises(SettingsError, match="unknown runtime setting"):
        RuntimeSettings.from_mapping({"provider": "cpu"})
    with pytest.raises(SettingsError, match="timeout must be a number"):
        RuntimeSettings.from_mapping({"timeout": "long"})



def test_run_refuses_unsafe_external_data_and_does_not_pass_silently() -> None:
    """onnxruntime is never handed a location outside the model's folder, and a model that was
    not run fails the check (AL501: no session was created); ``lint --runtime`` adds the static
    finding that names the tensor and its location."""
    result = invoke("run", str(FIXTURES / "AL002" / "bad.onnx"))
    assert result.exit_code == 1
    assert "not run: external data of 'W' is unsafe or missing (location contains '..')" in \
        result.output
    assert ("AL501 error: onnxruntime was not given the model: external data of 'W' is unsafe "
            "or missing (location contains '..'); see AL002/AL003") in result.output
    both = invoke("lint", "--runtime", str(FIXTURES / "AL002" / "bad.onnx"))
    assert both.exit_code == 1
    assert "AL002 error: initializer 'W' has external-data location '../../etc/passwd'" in \
        both.output
    assert "AL501 error: onnxruntime was not given the model" in both.output
    missing = invoke("run", str(FIXTURES / "AL003" / "bad.onnx"))
    assert missing.exit_code == 1
    assert "AL501 error: onnxruntime was not given the model: external data of" in missing.output
