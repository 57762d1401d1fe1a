"""AL512: the placement onnxruntime really chose, compared with the target profiles' prediction.

Real CPU sessions on committed models; a patched profile folder (``--profiles``) stands in for
a runtime release that changed, so the comparator itself is never bent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.recurrent import RecurrentLayer
from archlint.registry import load_rules
from archlint.runtime.prediction import compare_placement
from archlint.runtime.settings import RuntimeSettings, SettingsError
from archlint.targets.profile import ProfileError, load_profiles, load_profiles_with

from .conftest import FIXTURES, REPO, invoke, run_archlint
from .runtime_support import Checked, check

EXPORTED = FIXTURES / "exported"
MANIFEST = json.loads((EXPORTED / "manifest.json").read_text())
CLASSIC = sorted(name for name, entry in MANIFEST.items()
                 if name != "_generator" and entry["exporter"] == "classic")
TARGET_MODELS = sorted((FIXTURES / "targets").glob("*.onnx.txt"))
AL512 = [r for r in load_rules().rules if r.code == "AL512"]
CPU_PROFILE = (REPO / "archlint" / "targets" / "profiles" / "onnxruntime-cpu.toml").read_text()


def run_cpu(path: Path, profiles: Path | None = None) -> Checked:
    settings = RuntimeSettings(runs=1, reference=False,
                               profiles=None if profiles is None else str(profiles))
    return check(path, AL512, settings)


def prediction(result: Checked) -> str:
    lines = [line for line in result.placement if line.startswith("prediction")]
    assert len(lines) == 1, result.placement
    return lines[0]


def without_entry(profile: str, entry_id: str) -> str:
    """The profile text with one [[entry]] removed (a runtime release that dropped a check)."""
    blocks = profile.split("[[entry]]")
    kept = [b for b in blocks if f'id = "{entry_id}"' not in b]
    assert len(kept) == len(blocks) - 1
    return "[[entry]]".join(kept)


# --- the built-in profiles describe the installed onnxruntime -----------------------------------

def test_every_classic_export_is_placed_as_the_cpu_profile_predicts() -> None:
    report = invoke("run", "--provider", "cpu", "--runs", "1", "--no-reference",
                    *[str(EXPORTED / name) for name in CLASSIC])
    assert report.exit_code == 0, report.output
    assert f"0 findings (0 errors, 0 warnings, 0 infos) in {len(CLASSIC)} models" in report.output
    blocks = report.output.split("onnxruntime on cpu (CPUExecutionProvider)")[1:]
    assert len(blocks) == len(CLASSIC)
    for name, block in zip(CLASSIC, blocks, strict=True):
        count = len(MANIFEST[name]["recurrent_nodes"])
        assert count >= 1
        assert (f"prediction (onnxruntime-cpu): agrees; {count} of {count} observed recurrent "
                "node(s) as predicted") in block, (name, block)


@pytest.mark.parametrize("path", TARGET_MODELS, ids=[p.name for p in TARGET_MODELS])
def test_every_target_fixture_runs_or_is_refused_as_the_cpu_profile_predicts(path: Path) -> None:
    """Refusals at session creation, at Run, and clean runs: the prediction holds for each."""
    result = run_cpu(path)
    assert [f.code for f in result.findings] == []
    if path.name.endswith("activation_name.onnx.txt"):  # also the DynamicQuantizeLSTM one
        # onnxruntime's message names neither node nor op (rnn_helpers.cc): nothing observed.
        assert prediction(result) == ("prediction (onnxruntime-cpu): no recurrent node "
                                      "observed; not compared")
    else:
        assert prediction(result) == ("prediction (onnxruntime-cpu): agrees; 1 of 1 observed "
                                      "recurrent node(s) as predicted")


# --- a stale profile is reported, both ways -----------------------------------------------------

def test_a_refusal_the_profile_does_not_know_is_reported(tmp_path: Path) -> None:
    """As if a release had dropped its layout check from the profile: the kernel still refuses."""
    (tmp_path / "onnxruntime-cpu.toml").write_text(without_entry(CPU_PROFILE, "ort-cpu-layout"))
    result = run_cpu(FIXTURES / "targets" / "layout1.onnx.txt", tmp_path)
    [finding] = result.findings
    assert finding.code == "AL512"
    assert finding.location.node == "lstm_0"
    assert finding.message.startswith(
        "LSTM 'lstm_0' was refused at session creation, but profile onnxruntime-cpu predicted "
        "CPUExecutionProvider (no profile entry applies): the profile is stale for onnxruntime ")
    assert (finding.expected, finding.actual) == ("CPUExecutionProvider",
                                                  "a refusal at session creation")
    assert "disagrees for 1; 0 of 1" in prediction(result)


def test_a_run_the_profile_says_is_refused_is_reported_with_the_entry() -> None:
    result = run_cpu(FIXTURES / "AL512" / "bad.onnx.txt", FIXTURES / "AL512" / "stale-profiles")
    [finding] = result.findings
    assert (finding.code, finding.location.node, finding.location.attribute) == (
        "AL512", "gru_0", "linear_before_reset")
    assert "(stale-cpu-gru-linear-before-reset)" in finding.message
    assert (finding.expected, finding.actual) == ("a refusal by onnxruntime-cpu",
                                                  "CPUExecutionProvider")
    import onnxruntime

    assert f"stale for onnxruntime {onnxruntime.__version__}" in finding.message


def test_a_run_failure_never_contradicts_a_prediction_that_the_node_runs(tmp_path: Path) -> None:
    """A failed Run may come from the inputs: without ort-cpu-double, nothing is compared."""
    (tmp_path / "onnxruntime-cpu.toml").write_text(without_entry(CPU_PROFILE, "ort-cpu-double"))
    result = run_cpu(FIXTURES / "targets" / "lstm_double.onnx.txt", tmp_path)
    assert result.findings == ()
    assert prediction(result) == ("prediction (onnxruntime-cpu): no recurrent node observed; "
                                  "not compared")


# --- parser profiles hosted by onnxruntime (TensorRT, OpenVINO): on that provider or not --------

def _layer(path: Path) -> tuple[RecurrentLayer, ...]:
    return analyse(load_model(path)).layers


@pytest.mark.parametrize(("placed", "mismatch"), [
    ("TensorrtExecutionProvider", True),  # the parser accepted what the profile says it refuses
    ("CUDAExecutionProvider", False),  # refused by the parser, handed on: as predicted
])
def test_tensorrt_refusal_is_compared_as_on_the_provider_or_not(placed: str,
                                                                mismatch: bool) -> None:
    layers = _layer(FIXTURES / "targets" / "input_forget.onnx.txt")
    profiles = load_profiles()
    result = compare_placement(layers, profiles["tensorrt"], profiles, {"lstm_0": placed})
    assert result.compared == 1
    assert [m.layer.name for m in result.mismatches] == (["lstm_0"] if mismatch else [])
    if mismatch:
        assert result.mismatches[0].predicted == ("a refusal by tensorrt (handed to the next "
                                                  "provider)")
        assert [r.entry.id for r in result.mismatches[0].placement.reasons] == [
            "tensorrt-input-forget"]


def test_a_node_kept_off_tensorrt_that_the_parser_accepts_is_reported() -> None:
    layers = _layer(FIXTURES / "targets" / "clip_positive.onnx.txt")
    profiles = load_profiles()
    [m] = compare_placement(layers, profiles["tensorrt"], profiles,
                            {"lstm_0": "CUDAExecutionProvider"}).mismatches
    assert m.predicted == "acceptance by tensorrt (runs on TensorrtExecutionProvider)"
    assert m.actual == "CUDAExecutionProvider"


def test_openvino_only_reports_a_predicted_refusal_that_ran() -> None:
    """OpenVINO's provider keeps nodes off by its own operator table: off it proves nothing."""
    layers = _layer(FIXTURES / "targets" / "clip_positive.onnx.txt")
    profiles = load_profiles()
    result = compare_placement(layers, profiles["openvino"], profiles,
                               {"lstm_0": "CPUExecutionProvider"})
    assert (result.compared, result.mismatches) == (1, ())


def test_openvino_reports_a_predicted_refusal_that_ran_on_it(tmp_path: Path) -> None:
    text = (REPO / "archlint" / "targets" / "profiles" / "openvino.toml").read_text()
    (tmp_path / "openvino.toml").write_text(text + '''
[[entry]]
id = "openvino-test-clip"
kind = "refused"
ops = ["LSTM"]
when = [{ field = "clip", op = "present" }]
expected = "no clip"
reason = "a claim made up for this test"
stage = "conversion"
message = "clip is not supported"
source = "tests/test_runtime_placement.py"
help = "-"
''')
    profiles = load_profiles_with(tmp_path)
    layers = _layer(FIXTURES / "targets" / "clip_positive.onnx.txt")
    [m] = compare_placement(layers, profiles["openvino"], profiles,
                            {"lstm_0": "OpenVINOExecutionProvider"}).mismatches
    assert (m.predicted, m.actual) == ("a refusal by openvino (handed to the next provider)",
                                       "OpenVINOExecutionProvider")


def test_a_failed_session_is_not_compared_for_a_hosted_parser() -> None:
    layers = _layer(FIXTURES / "targets" / "clip_positive.onnx.txt")
    profiles = load_profiles()
    result = compare_placement(layers, profiles["tensorrt"], profiles, {}, refused="lstm_0")
    assert (result.compared, result.mismatches) == (0, ())


# --- the profile folder: validated like the built-in profiles -----------------------------------

def test_a_profile_folder_replaces_only_the_profiles_it_names() -> None:
    profiles = load_profiles_with(FIXTURES / "AL512" / "stale-profiles")
    assert "stale-cpu-gru-linear-before-reset" in {e.id for e in
                                                   profiles["onnxruntime-cpu"].entries}
    assert profiles["onnxruntime-cuda"] is load_profiles()["onnxruntime-cuda"]
    assert load_profiles_with(None) is load_profiles()


def test_a_bad_profile_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    broken = CPU_PROFILE.replace('id = "ort-cpu-clip"\nkind = "refused"',
                                 'id = "ort-cpu-clip"\nkind = "refuses"')
    assert broken != CPU_PROFILE
    (tmp_path / "onnxruntime-cpu.toml").write_text(broken)
    good = str(FIXTURES / "AL512" / "good.onnx.txt")
    proc = run_archlint("run", "--profiles", str(tmp_path), good)
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == (f"archlint: error: {tmp_path / 'onnxruntime-cpu.toml'} entry ort-cpu-clip: "
                    "kind must be one of refused, miscomputed, fallback, differs, got 'refuses'")


@pytest.mark.parametrize(("files", "message"), [
    (None, "profiles: not a folder"),
    ({}, "profiles: no *.toml profile file in the folder"),
    ({"a.toml": CPU_PROFILE, "b.toml": CPU_PROFILE},
     "b.toml: profile 'onnxruntime-cpu' is also defined in"),
    ({"mine.toml": CPU_PROFILE.replace('name = "onnxruntime-cpu"', 'name = "my-cpu"')},
     "mine.toml entry ort-cpu-layout: the id is also used by profile 'onnxruntime-cpu'"),
    ({"cuda.toml": "[profile\n"}, "cuda.toml: not valid TOML"),
])
def test_profile_folder_errors_name_the_file(tmp_path: Path, files: dict[str, str] | None,
                                             message: str) -> None:
    folder = tmp_path / "profiles"
    if files is not None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profiles_with(folder)
    good = str(FIXTURES / "AL512" / "good.onnx.txt")
    proc = run_archlint("run", "--profiles", str(folder), good)
    assert (proc.returncode, len(proc.stderr.splitlines())) == (2, 1), proc.stderr
    assert message in proc.stderr


def test_profiles_setting_must_be_a_string() -> None:
    assert RuntimeSettings.from_mapping({"profiles": "p"}).profiles == "p"
    with pytest.raises(SettingsError, match="profiles must be a string"):
        RuntimeSettings.from_mapping({"profiles": 3})


# --- nodes without a name: onnxruntime's profile names them <op type>_<its own index> ------------

UNNAMED = FIXTURES / "unnamed" / "two_lstms.onnx.txt"


def test_recurrent_nodes_without_a_name_are_matched_in_model_order() -> None:
    result = run_cpu(UNNAMED)
    assert result.findings == ()
    assert [line for line in result.placement if line.startswith("LSTM ")] == [
        "LSTM '<LSTM #1>' (onnxruntime's 'LSTM_0'): CPUExecutionProvider",
        "LSTM '<LSTM #3>' (onnxruntime's 'LSTM_2'): CPUExecutionProvider"]
    assert [(p.name, p.node.id if p.node else None) for p in result.run.placed] == [
        ("LSTM_0", "main/1"), ("LSTM_2", "main/3")]
    assert prediction(result) == ("prediction (onnxruntime-cpu): agrees; 2 of 2 observed "
                                  "recurrent node(s) as predicted")


def test_a_stale_profile_is_reported_on_a_node_without_a_name(tmp_path: Path) -> None:
    unnamed = tmp_path / "gru.onnx.txt"
    unnamed.write_text((FIXTURES / "AL512" / "bad.onnx.txt").read_text().replace("[gru_0] ", ""))
    result = run_cpu(unnamed, FIXTURES / "AL512" / "stale-profiles")
    [finding] = result.findings
    assert (finding.code, finding.location.node, finding.location.node_index) == (
        "AL512", "", 0)
    assert finding.message.startswith("GRU '<GRU #0>' ran on CPUExecutionProvider, but ")
    assert "(stale-cpu-gru-linear-before-reset)" in finding.message


def test_unnamed_nodes_are_matched_only_when_the_profile_lines_up() -> None:
    from archlint.runtime.placement import unnamed_in_profile

    ctx = analyse(load_model(UNNAMED))
    rows = [["LSTM_0", "LSTM", "CPUExecutionProvider"], ["LSTM_2", "LSTM", "CPUExecutionProvider"]]
    assert {k: v.id for k, v in unnamed_in_profile(rows, ctx).items()} == {
        "LSTM_0": "main/1", "LSTM_2": "main/3"}
    # one LSTM missing from the profile (fused or not run): neither is guessed
    assert unnamed_in_profile(rows[1:], ctx) == {}
    # another op's generated name is not one of them
    assert unnamed_in_profile([*rows, ["Squeeze_1", "Squeeze", "CPUExecutionProvider"]],
                              ctx).keys() == {"LSTM_0", "LSTM_2"}


def test_a_name_the_model_gives_a_node_is_not_taken_for_a_generated_one(tmp_path: Path) -> None:
    from archlint.runtime.placement import unnamed_in_profile

    # the second LSTM is named LSTM_7, as onnxruntime would name an unnamed one
    named = tmp_path / "named.onnx.txt"
    named.write_text(UNNAMED.read_text().replace("  Y2, Y2h = LSTM", "  [LSTM_7] Y2, Y2h = LSTM"))
    ctx = analyse(load_model(named))
    rows = [["LSTM_0", "LSTM", "CPUExecutionProvider"], ["LSTM_7", "LSTM", "CPUExecutionProvider"]]
    assert {k: v.id for k, v in unnamed_in_profile(rows, ctx).items()} == {"LSTM_0": "main/1"}
    result = run_cpu(named)
    assert [line for line in result.placement if line.startswith("LSTM ")] == [
        "LSTM '<LSTM #1>' (onnxruntime's 'LSTM_0'): CPUExecutionProvider",
        "LSTM 'LSTM_7': CPUExecutionProvider"]


def test_recurrent_nodes_that_share_a_name_are_said_not_told_apart() -> None:
    result = run_cpu(FIXTURES / "functions" / "two_calls.onnx.txt")
    assert "'lstm': 2 recurrent nodes share this name, so the profile does not tell them " \
        "apart" in result.placement
