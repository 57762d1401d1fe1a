"""predict_placement, the profile loader's validation, the CLI's --target, and real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.recurrent import RecurrentLayer
from archlint.registry import load_rules, select_rules
from archlint.targets import (
    ProfileError,
    UnknownTargetError,
    known_targets,
    load_profiles,
    predict_placement,
    resolve_targets,
)
from archlint.targets.profile import parse_profile, validate_profiles

from .conftest import FIXTURES, invoke, lint_model, run_archlint

TARGETS = FIXTURES / "targets"
ALL_TARGETS = ("onnxruntime-cpu", "onnxruntime-cuda", "tensorrt", "openvino")


def _layer(path: Path, index: int = 0) -> RecurrentLayer:
    return analyse(load_model(path)).layers[index]


def _layer_from_text(text: str, tmp_path: Path) -> RecurrentLayer:
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx.parser.parse_model(text), path)
    return _layer(path)


# --- predict_placement --------------------------------------------------------------------------

def test_the_four_targets_ship() -> None:
    assert known_targets() == tuple(sorted(ALL_TARGETS))


def test_plain_lstm_runs_where_each_target_asks() -> None:
    layer = _layer(FIXTURES / "AL602" / "good.onnx.txt")
    for target in ALL_TARGETS:
        placement = predict_placement(layer, target)
        assert placement.provider == placement.requested == load_profiles()[target].provider
        assert (placement.reasons, placement.fell_back, placement.refused) == ((), False, False)


def test_clipped_lstm_falls_back_from_cuda_to_cpu() -> None:
    placement = predict_placement(_layer(TARGETS / "clip_positive.onnx.txt"), "onnxruntime-cuda")
    assert (placement.requested, placement.provider) == ("CUDAExecutionProvider",
                                                         "CPUExecutionProvider")
    assert placement.fell_back and not placement.refused
    assert placement.landed_on == "onnxruntime-cpu"
    assert [m.entry.id for m in placement.reasons] == ["ort-cuda-fallback-attributes"]
    assert placement.reasons[0].found == "clip=5.0"


def test_zero_clip_on_cuda_falls_back_and_the_cpu_kernel_refuses_it() -> None:
    placement = predict_placement(_layer(TARGETS / "clip_zero.onnx.txt"), "onnxruntime-cuda")
    assert placement.refused and placement.provider is None
    assert placement.refused_by == "onnxruntime-cpu"
    assert [m.entry.id for m in placement.reasons] == ["ort-cuda-fallback-attributes",
                                                       "ort-cpu-clip"]


def test_layout1_stays_on_cuda_and_is_refused_there() -> None:
    """layout is not one of RNNNeedFallbackToCPU's reasons: the cuDNN kernel refuses it."""
    placement = predict_placement(_layer(TARGETS / "layout1.onnx.txt"), "onnxruntime-cuda")
    assert placement.refused_by == "onnxruntime-cuda"
    assert [m.entry.id for m in placement.reasons] == ["ort-cuda-layout"]


def test_layout1_on_openvino_runs_but_is_miscomputed() -> None:
    placement = predict_placement(_layer(TARGETS / "layout1.onnx.txt"), "openvino")
    assert placement.provider == "OpenVINOExecutionProvider"
    assert placement.miscomputed and not placement.refused
    assert [m.entry.id for m in placement.reasons] == ["openvino-layout"]


def test_unknown_target_is_refused_with_the_known_names() -> None:
    layer = _layer(TARGETS / "clip_positive.onnx.txt")
    with pytest.raises(UnknownTargetError) as caught:
        predict_placement(layer, "onnxruntime-rocm")
    assert str(caught.value) == ("unknown target 'onnxruntime-rocm' (known targets: "
                                 "onnxruntime-cpu, onnxruntime-cuda, openvino, tensorrt)")
    assert [p.name for p in resolve_targets(["tensorrt", "openvino", "tensorrt"])] == [
        "tensorrt", "openvino"]


def test_bidirectional_reverse_pass_comparison_fills_default_alphas(tmp_path: Path) -> None:
    """onnx-tensorrt fills missing alphas per activation before comparing the two passes."""
    text = """<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 1, 4] X, float[2, 12, 4] W, float[2, 12, 3] R) => (float[2, 2, 1, 3] Y) {
  Y = LSTM <hidden_size: int = 3, direction: string = "bidirectional",
            activations: strings = ["HardSigmoid", "Tanh", "Tanh", "HardSigmoid", "Tanh", "Tanh"],
            activation_alpha: floats = [0.2]> (X, W, R)
}"""
    # The forward pass takes 0.2, the reverse pass gets HardSigmoid's default 0.2: equal.
    layer = _layer_from_text(text, tmp_path)
    assert predict_placement(layer, "tensorrt").reasons == ()
    layer = _layer_from_text(text.replace("[0.2]", "[0.2, 0.25]"), tmp_path)
    assert [m.entry.id for m in predict_placement(layer, "tensorrt").reasons] == [
        "tensorrt-reverse-activation-parameters"]


# --- profile validation -------------------------------------------------------------------------

_HEAD = """[profile]
name = "x"
runtime = "r"
provider = "P"
versions = "1"
source = "s"
summary = "s"
"""
_ENTRY = """[[entry]]
id = "x-1"
kind = "refused"
ops = ["LSTM"]
when = [{ field = "layout", op = "ne", value = 0 }]
reason = "r"
stage = "session creation"
message = "m"
source = "s"
expected = "e"
help = "h"
"""


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('field = "layout"', 'field = "layuot"', "x.toml entry x-1: unknown field 'layuot'"),
        ('op = "ne"', 'op = "neq"', "x.toml entry x-1: unknown op 'neq'"),
        ('kind = "refused"', 'kind = "broken"', "kind must be one of refused, miscomputed, "
         "fallback, differs, got 'broken'"),
        ('message = "m"', 'message = "{nope}"', "placeholder(s) nope are not fields"),
        ('message = "m"\n', "", "a refused entry must quote the runtime's message"),
        ('ops = ["LSTM"]', 'ops = ["Conv"]', "ops must list some of LSTM, GRU, RNN"),
        ('value = 0 }', 'value = "zero" }', "layout is a number, got 'zero'"),
        ('help = "h"', 'hlep = "h"', "unknown key(s) hlep"),
        ('help = "h"', 'help = "h"\nattribute = "lay_out"', "'lay_out' is not a recurrent attr"),
        ('help = "h"', 'help = "h"\ninput = "Q"', "input 'Q' is not a recurrent input slot"),
        ('kind = "refused"', 'kind = "fallback"', "a fallback entry needs the profile's "
         "'fallback' target"),
    ],
)
def test_a_malformed_profile_is_refused_naming_file_and_entry(
    old: str, new: str, error: str
) -> None:
    text = _HEAD + _ENTRY.replace(old, new, 1)
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "x.toml")
    assert error in str(caught.value)


def test_fallback_targets_must_exist_and_not_cycle() -> None:
    a = parse_profile(_HEAD + 'fallback = "y"\n' + _ENTRY, "a.toml")
    b = parse_profile(_HEAD.replace('"x"', '"y"', 1) + 'fallback = "x"\n'
                      + _ENTRY.replace("x-1", "y-1"), "b.toml")
    with pytest.raises(ProfileError, match="fallback target 'y' has no profile"):
        validate_profiles([a])
    with pytest.raises(ProfileError, match="fallback cycle x -> y -> x"):
        validate_profiles([a, b])


def test_shipped_profiles_state_versions_and_sources() -> None:
    for profile in load_profiles().values():
        assert profile.versions and profile.source
        for entry in profile.entries:
            assert entry.source and entry.versions and entry.id.startswith(
                profile.name.replace("onnxruntime", "ort"))


# --- onnxruntime facts the profiles rely on (verified on the installed runtime) -----------------

def test_gru_without_linear_before_reset_runs_on_cpu_with_the_default_0(tmp_path: Path) -> None:
    """The research question: is a missing linear_before_reset an error on onnxruntime 1.32?
    No. The schema default (0) is filled in, the session is created and the result equals an
    explicit linear_before_reset=0, so the CPU profile has no entry for it (the CUDA profile
    does: cuDNN only implements 1)."""
    import onnxruntime as ort

    text = (TARGETS / "gru_default_linear_before_reset.onnx.txt").read_text()
    rng = np.random.default_rng(0)
    feeds = {"X": rng.standard_normal((2, 1, 4)).astype(np.float32),
             "W": rng.standard_normal((1, 9, 4)).astype(np.float32),
             "R": rng.standard_normal((1, 9, 3)).astype(np.float32)}
    outputs = {}
    for variant, attrs in (("absent", ""), ("0", ", linear_before_reset: int = 0"),
                           ("1", ", linear_before_reset: int = 1")):
        model = onnx.parser.parse_model(
            text.replace("<hidden_size: int = 3>", f"<hidden_size: int = 3{attrs}>"))
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        outputs[variant] = session.run(None, feeds)[0]
    np.testing.assert_array_equal(outputs["absent"], outputs["0"])
    assert not np.allclose(outputs["absent"], outputs["1"])
    findings = lint_model(onnx.parser.parse_model(text), tmp_path, select=["AL6"])
    assert findings == ()  # no targets selected: the AL6 rules stay silent


def test_forward_rnn_with_the_default_pair_of_activations_runs(tmp_path: Path) -> None:
    """onnxruntime accepts ["Tanh", "Tanh"] on a one-direction RNN; the profile says so too."""
    import onnxruntime as ort

    text = (TARGETS / "rnn_activation_count.onnx.txt").read_text().replace(
        '["Tanh", "Tanh", "Tanh"]', '["Tanh", "Tanh"]')
    model = onnx.parser.parse_model(text)
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    layer = _layer_from_text(text, tmp_path)
    assert predict_placement(layer, "onnxruntime-cpu").reasons == ()


def test_backend_corpus_refusals_match_onnxruntime(backend_recurrent_cases: list,
                                                   tmp_path: Path) -> None:
    """On the onnx package's own test models, the CPU profile predicts exactly the sessions
    onnxruntime refuses (test_*_batchwise are layout=1)."""
    import onnxruntime as ort

    predicted, observed = {}, {}
    for case in backend_recurrent_cases:
        path = tmp_path / f"{case.name}.onnx"
        onnx.save_model(case.model, path)
        layers = analyse(load_model(path)).layers
        predicted[case.name] = any(predict_placement(la, "onnxruntime-cpu").refused
                                   for la in layers)
        try:
            ort.InferenceSession(case.model.SerializeToString(),
                                 providers=["CPUExecutionProvider"])
            observed[case.name] = False
        except Exception:
            observed[case.name] = True
    assert predicted == observed
    assert any(observed.values()) and not all(observed.values())


@pytest.mark.parametrize("target", ["onnxruntime-cpu", "onnxruntime-cuda", "tensorrt", "openvino"])
def test_exported_pytorch_models_have_no_target_errors(target: str, tmp_path: Path) -> None:
    """PyTorch exports layout=0, linear_before_reset=1 and default activations: every target
    runs them where asked."""
    rules = select_rules(load_rules().rules, ["AL6"])
    from archlint.app import discover
    from archlint.engine import Linter

    report = Linter(rules, options={"targets": (target,)}).lint_targets(
        discover([str(FIXTURES / "exported")]))
    assert report.errors == ()
    assert len(report.models) >= 40
    assert [f"{f.location.model} {f.message}" for f in report.findings] == []


# --- command line -------------------------------------------------------------------------------

def test_clipped_lstm_under_cuda_names_node_and_reason_and_cpu_is_clean() -> None:
    model = str(TARGETS / "clip_positive.onnx.txt")
    result = invoke("lint", model, "--target", "onnxruntime-cuda", "--fail-on", "warning")
    assert result.exit_code == 1
    assert ":main/lstm_0: AL602 warning: LSTM 'lstm_0' on onnxruntime-cuda runs on " \
           "CPUExecutionProvider, not CUDAExecutionProvider: [ort-cuda-fallback-attributes] " \
           "cuDNN has no cell clip" in result.output
    assert "session.disable_cpu_ep_fallback=1" in result.output
    result = invoke("lint", model, "--target", "onnxruntime-cpu", "--fail-on", "warning")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1].startswith("0 findings")
    assert not [line for line in result.output.splitlines()
                if any(f" {s}: " in line for s in ("error", "warning", "info"))]


def test_several_targets_and_json_output() -> None:
    result = invoke("lint", str(TARGETS / "layout1.onnx.txt"), "--format", "json",
                    *[arg for t in ALL_TARGETS for arg in ("--target", t)])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["models"][0]["findings"]
    assert sorted((f["code"], f["message"].split("[")[1].split("]")[0]) for f in findings) == [
        ("AL601", "openvino-layout"), ("AL601", "ort-cpu-layout"), ("AL601", "ort-cuda-layout"),
        ("AL601", "tensorrt-layout")]
    assert len({f["fingerprint"] for f in findings}) == 4


def test_without_target_the_target_rules_are_silent() -> None:
    result = invoke("lint", str(TARGETS / "layout1.onnx.txt"), "--select", "AL6")
    *coverage, summary = result.output.splitlines()
    assert (result.exit_code, summary.split(" [")[0]) == (
        0, "0 findings (0 errors, 0 warnings, 0 infos) in 1 model")
    # silent, and the summary says they did not run rather than that they passed
    assert coverage[-1] == ("not run: AL601-AL603: needs targets (--target NAME, or targets "
                            "in the config)")


def test_unknown_target_exits_2_with_one_line_listing_the_known_ones() -> None:
    proc = run_archlint("lint", str(TARGETS / "layout1.onnx.txt"), "--target", "onnxruntime-cpu",
                        "--target", "trt")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("archlint: error: unknown target 'trt' (known targets: "
                                   "onnxruntime-cpu, onnxruntime-cuda, openvino, tensorrt)")
    assert proc.stdout == ""


def test_same_refusal_reached_two_ways_gives_two_distinct_findings() -> None:
    """clip=0 under cpu (refused) and under cuda (falls back, then refused): two findings with
    different fingerprints, so a baseline can tell them apart."""
    result = invoke("lint", str(TARGETS / "clip_zero.onnx.txt"), "--format", "json",
                    "--target", "onnxruntime-cpu", "--target", "onnxruntime-cuda")
    findings = json.loads(result.stdout)["models"][0]["findings"]
    # AL214 (clip must be positive, by the spec) fires with or without targets
    findings = [f for f in findings if f["code"].startswith("AL6")]
    assert [f["code"] for f in findings] == ["AL601", "AL601"]
    assert len({f["fingerprint"] for f in findings}) == 2
    assert any("falls back from onnxruntime-cuda to onnxruntime-cpu, which refuses it" in
               f["message"] for f in findings)


@pytest.mark.parametrize(
    ("op_and_attrs", "falls_back"),
    [
        ('RNN <hidden_size: int = 3, activations: strings = ["Tanh", "Tanh"]>', False),
        ('RNN <hidden_size: int = 3, activations: strings = ["TANH"]>', False),
        ('RNN <hidden_size: int = 3, activations: strings = ["Relu"]>', True),
        ('RNN <hidden_size: int = 3>', False),
    ],
)
def test_cuda_activation_check_compares_like_onnxruntime(
    op_and_attrs: str, falls_back: bool, tmp_path: Path
) -> None:
    """RNNNeedFallbackToCPU: lower(activations[i]) against {"tanh", "tanh"}, listed ones only."""
    text = f"""<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 1, 4] X, float[1, 3, 4] W, float[1, 3, 3] R) => (float[2, 1, 1, 3] Y) {{
  Y = {op_and_attrs} (X, W, R)
}}"""
    placement = predict_placement(_layer_from_text(text, tmp_path), "onnxruntime-cuda")
    assert placement.fell_back is falls_back


# --- the condition language ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"field": "clip", "op": "present"}, False),
        ({"field": "clip", "op": "absent"}, True),
        ({"field": "clip", "op": "le", "value": 0}, False),  # unknown never compares
        ({"not": {"field": "clip", "op": "gt", "value": 0}}, True),  # "not proven > 0"
        ({"field": "hidden_size", "op": "eq", "value": 3}, True),
        ({"field": "input_forget", "op": "eq", "value": 0}, True),  # spec default applied
        ({"field": "activation_count", "op": "ne", "ref": "expected_activation_count"}, False),
        ({"field": "effective_activations", "op": "any_not_in", "value": ["Sigmoid", "Tanh"]},
         False),
        ({"field": "inputs", "op": "contains", "value": "P"}, False),
        ({"any": [{"field": "layout", "op": "eq", "value": 1},
                  {"field": "op_type", "op": "in", "value": ["LSTM"]}]}, True),
        ({"all": [{"field": "layout", "op": "eq", "value": 1},
                  {"field": "op_type", "op": "in", "value": ["LSTM"]}]}, False),
    ],
)
def test_condition_semantics(condition: dict[str, object], holds: bool) -> None:
    from archlint.targets.conditions import evaluate, parse_condition

    plain = _layer(FIXTURES / "AL602" / "good.onnx.txt")  # LSTM, hidden_size=3, no clip
    assert (evaluate(parse_condition(condition, "t"), plain) is not None) is holds


def test_target_rules_never_crash_on_odd_nodes(tmp_path: Path) -> None:
    """Invalid direction, wrong attribute types, float lengths: no AL000, no exception."""
    text = """<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 1, 4] X, float[1, 12, 4] W, float[1, 12, 3] R, float[1, 9, 4] Wg,
   float[1, 9, 3] Rg) => (float[2, 1, 1, 3] Y, float[2, 1, 1, 3] Y2, float[2, 1, 1, 3] Y3) {
  lens = Constant <value: tensor = float[1] {2.5}> ()
  [a] Y = LSTM <hidden_size: int = 3, direction: string = "sideways",
                activations: strings = ["Sigmoid"], activation_alpha: floats = []> (X, W, R)
  [b] Y2 = GRU <hidden_size: float = 3.0, clip: string = "x"> (X, Wg, Rg, , lens)
  [c] Y3 = LSTM <hidden_size: int = 3, direction: string = "bidirectional",
                 activations: strings = []> (X, W, R)
}"""
    model = onnx.parser.parse_model(text)
    findings = []
    for target in ALL_TARGETS:
        path = tmp_path / f"{target}.onnx"
        onnx.save_model(model, path)
        from archlint.engine import Linter

        report = Linter(select_rules(load_rules().rules, ["AL6"]),
                        options={"targets": (target,)}).lint_file(path)
        assert report.error is None
        findings += [f.code for f in report.findings]
    assert "AL000" not in findings


# --- comparing a prediction with what onnxruntime really does -----------------------------------

def _observed_cpu_providers(model: onnx.ModelProto, tmp_path: Path) -> dict[str, str]:
    """Node name -> provider, from onnxruntime's own profiler (a real session and run)."""
    import onnxruntime as ort

    from .test_targets import _zeros

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "ort_profile")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    session.run(None, _zeros(model))
    events = json.loads(Path(session.end_profiling()).read_text())
    return {e["name"].removesuffix("_kernel_time"): e["args"]["provider"]
            for e in events if e.get("cat") == "Node" and "provider" in e.get("args", {})}


@pytest.mark.parametrize("name", ["clip_positive", "input_forget", "peephole",
                                  "gru_default_linear_before_reset", "sequence_lens_input"])
def test_cpu_prediction_agrees_with_onnxruntime_placement(name: str, tmp_path: Path) -> None:
    path = TARGETS / f"{name}.onnx.txt"
    observed = _observed_cpu_providers(onnx.parser.parse_model(path.read_text()), tmp_path)
    layer = _layer(path)
    assert observed[layer.name] == "CPUExecutionProvider"
    assert predict_placement(layer, "onnxruntime-cpu").disagreement(observed[layer.name]) is None


def test_cpu_prediction_of_a_refusal_agrees_with_a_failed_session() -> None:
    placement = predict_placement(_layer(TARGETS / "layout1.onnx.txt"), "onnxruntime-cpu")
    assert placement.disagreement(None) is None
    assert placement.disagreement("CPUExecutionProvider") == (
        "profile onnxruntime-cpu predicted a refusal by onnxruntime-cpu for lstm_0 "
        "(ort-cpu-layout), but the runtime gave CPUExecutionProvider: the profile does not "
        "describe this runtime version (see docs/targets.md)")


def test_a_node_observed_on_cuda_that_the_profile_sends_to_cpu_is_a_disagreement() -> None:
    placement = predict_placement(_layer(TARGETS / "clip_positive.onnx.txt"), "onnxruntime-cuda")
    assert placement.disagreement("CPUExecutionProvider") is None
    assert placement.disagreement("CUDAExecutionProvider") == (
        "profile onnxruntime-cuda predicted CPUExecutionProvider for lstm_0 "
        "(ort-cuda-fallback-attributes), but the runtime gave CUDAExecutionProvider: the profile "
        "does not describe this runtime version (see docs/targets.md)")
