"""What archlint tells CI about itself (issue 14): alert identities as GitHub computes them,
rules that did not run, GitLab Code Quality, LFS pointers, discovery, colour, statistics."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import onnx
import pytest

from .conftest import FIXTURES, REPO, invoke, run_archlint

AL201_BAD = FIXTURES / "AL201" / "bad.onnx.txt"
SCHEMAS = REPO / "tests" / "schemas"
MASK = (1 << 64) - 1


# --- the upload step's fingerprints, ported from codeql-action src/fingerprints.ts ----------


def _line_hashes(path: Path) -> dict[int, str]:
    """``hash()`` of codeql-action's src/fingerprints.ts: a rolling hash (base 37, window 100)
    over the file read as UTF-8 text, spaces and tabs skipped, CR/CRLF read as LF; each line
    start gets ``hex(hash):n``, n counting earlier lines with the same hash. Long arithmetic
    (signed 64 bits) is done modulo 2**64, which is what ``toUnsigned()`` prints."""
    block, mod = 100, 37
    first_mod = pow(mod, block, 1 << 64)
    window = [0] * block
    line_numbers = [-1] * block
    state = {"hash": 0, "index": 0, "line": 0, "line_start": True, "prev_cr": False}
    counts: dict[str, int] = {}
    out: dict[int, str] = {}

    def output() -> None:
        value = format(state["hash"] & MASK, "x")
        counts[value] = counts.get(value, 0) + 1
        out[line_numbers[state["index"]]] = f"{value}:{counts[value]}"
        line_numbers[state["index"]] = -1

    def update(current: int) -> None:
        begin = window[state["index"]]
        window[state["index"]] = current
        state["hash"] = (mod * state["hash"] + current - first_mod * begin) & MASK
        state["index"] = (state["index"] + 1) % block

    def process(current: int) -> None:
        if current in (0x20, 0x09) or (state["prev_cr"] and current == 0x0A):
            state["prev_cr"] = False
            return
        if current == 0x0D:
            current, state["prev_cr"] = 0x0A, True
        else:
            state["prev_cr"] = False
        if line_numbers[state["index"]] != -1:
            output()
        if state["line_start"]:
            state["line_start"] = False
            state["line"] += 1
            line_numbers[state["index"]] = state["line"]
        if current == 0x0A:
            state["line_start"] = True
        update(current)

    # fs.createReadStream(path, "utf8") then charCodeAt: UTF-16 code units, U+FFFD for bad bytes
    text = path.read_bytes().decode("utf-8", errors="replace").encode("utf-16-le")
    for i in range(0, len(text), 2):
        process(int.from_bytes(text[i:i + 2], "little"))
    process(65535)  # EOF
    for _ in range(block):
        if line_numbers[state["index"]] != -1:
            output()
        update(0)
    return out


def add_fingerprints(sarif: dict[str, Any], source_root: Path) -> dict[str, Any]:
    """``addFingerprints``: results without ``region.startLine`` are left alone; for the others
    the hash of that line fills ``primaryLocationLineHash`` unless one is already there."""
    for run in sarif["runs"]:
        for result in run["results"]:
            location = result["locations"][0]["physicalLocation"]
            line = location.get("region", {}).get("startLine")
            if line is None:
                continue  # "Locations without a line number are unlikely to be source files"
            path = source_root / location["artifactLocation"]["uri"]
            fingerprints = result.setdefault("partialFingerprints", {})
            fingerprints.setdefault("primaryLocationLineHash", _line_hashes(path)[line])
    return sarif


def alert_identities(sarif: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What code scanning matches alerts by: rule, file, primaryLocationLineHash."""
    return [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["partialFingerprints"]["primaryLocationLineHash"])
            for r in sarif["runs"][0]["results"]]


def _binary_model(folder: Path, producer_version: str) -> Path:
    model = onnx.parser.parse_model(AL201_BAD.read_text())
    model.producer_name, model.producer_version = "pytorch", producer_version
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


def _sarif_of(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(folder)
    result = invoke("lint", "model.onnx", "--select", "AL201", "--format", "sarif", "--quiet")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_port_reproduces_the_problem_a_line_region_causes(tmp_path: Path) -> None:
    # the old output (region line 1, no primaryLocationLineHash): one identity per file, and a
    # header edit changes it: this is what the port must show for the test below to mean much
    sarif = {"runs": [{"results": [
        {"ruleId": "AL201", "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "model.onnx"}, "region": {"startLine": 1}}}]}
        for _ in range(2)]}]}
    _binary_model(tmp_path, "2.1.0")
    before = alert_identities(add_fingerprints(json.loads(json.dumps(sarif)), tmp_path))
    assert before[0] == before[1]
    _binary_model(tmp_path, "2.2.0")
    after = alert_identities(add_fingerprints(json.loads(json.dumps(sarif)), tmp_path))
    assert after[0] != before[0]


def test_sarif_alert_identities_are_distinct_and_survive_a_header_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _binary_model(tmp_path, "2.1.0")
    first = _sarif_of(tmp_path, monkeypatch)
    for result in first["runs"][0]["results"]:
        assert "region" not in result["locations"][0]["physicalLocation"]
    ids = alert_identities(add_fingerprints(first, tmp_path))
    assert [rule for rule, _, _ in ids] == ["AL201", "AL201"]
    assert len(set(ids)) == 2
    _binary_model(tmp_path, "2.2.0")  # only producer_version changes
    assert alert_identities(add_fingerprints(_sarif_of(tmp_path, monkeypatch), tmp_path)) == ids


def test_sarif_rules_carry_precision_and_problem_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _binary_model(tmp_path, "1")
    (rule,) = _sarif_of(tmp_path, monkeypatch)["runs"][0]["tool"]["driver"]["rules"]
    assert rule["properties"]["precision"] == "high"
    assert rule["properties"]["problem.severity"] == "error"


# --- rules that did not run --------------------------------------------------------------


def test_junit_has_no_passed_case_for_a_rule_that_did_not_run() -> None:
    result = invoke("lint", str(AL201_BAD), "--format", "junit", "--quiet")
    (suite,) = ET.fromstring(result.stdout).findall("testsuite")
    cases = {case.get("name", "").split(":")[0]: case for case in suite.findall("testcase")}
    not_run = [f"AL{n}" for n in (*range(501, 515), 601, 602, 603)]
    for code in not_run:
        (case,) = [c for name, c in cases.items() if name.split()[0] == code]
        skipped = case.find("skipped")
        assert skipped is not None, code
        assert case.find("failure") is None
    assert suite.get("skipped") == str(len(not_run))
    ran = [c for c in suite.findall("testcase") if c.find("skipped") is None]
    assert not {c.get("name", "").split()[0] for c in ran} & set(not_run)
    assert "AL201 hidden-size-mismatch: main/lstm_0" in {c.get("name") for c in ran}


def test_sarif_names_the_rules_not_run() -> None:
    document = json.loads(invoke("lint", str(AL201_BAD), "--format", "sarif").stdout)
    notes = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    skipped = {n["associatedRule"]["id"] for n in notes if "associatedRule" in n}
    assert skipped == {f"AL{n}" for n in (*range(501, 515), 601, 602, 603)}
    with_target = json.loads(invoke("lint", str(AL201_BAD), "--format", "sarif", "--target",
                                    "onnxruntime-cpu").stdout)
    notes = with_target["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert {n["associatedRule"]["id"] for n in notes if "associatedRule" in n} == {
        f"AL{n}" for n in range(501, 515)}


def test_text_summary_says_what_was_checked_and_what_not(tmp_path: Path) -> None:
    no_layer = tmp_path / "mlp.onnx.txt"
    no_layer.write_text('<ir_version: 8, opset_import: ["" : 17]>\n'
                        "g (float[2] x) => (float[2] y) { y = Relu(x) }\n")
    result = invoke("lint", str(AL201_BAD), str(no_layer))
    lines = result.stdout.splitlines()
    assert "checked: 2 recurrent layers in 2 models" in lines
    assert f"no recurrent layer: {no_layer}" in lines
    assert ("not run: AL501-AL514: runtime rule: the model was not run (lint --runtime, or "
            "archlint run)") in lines
    assert "not run: AL601-AL603: needs targets (--target NAME, or targets in the config)" in lines


def test_a_custom_recurrent_op_is_named_as_not_checked(tmp_path: Path) -> None:
    model = tmp_path / "custom.onnx.txt"
    model.write_text('<ir_version: 8, opset_import: ["" : 17, "com.acme" : 1]>\n'
                     "g (float[5,1,3] x) => (float[5,1,4] y) { y = com.acme.FusedLSTM (x) }\n")
    result = invoke("lint", str(model))
    assert (f"not checked: {model}: recurrent-looking ops archlint cannot see into: "
            "main/<FusedLSTM #0> (FusedLSTM)") in result.stdout.splitlines()


def test_the_json_report_says_what_was_not_checked_too(tmp_path: Path) -> None:
    """A JSON consumer sees what the text summary says: the ops archlint could not see into,
    and the layers it counted without checking (AL025)."""
    custom = tmp_path / "custom.onnx.txt"
    custom.write_text('<ir_version: 8, opset_import: ["" : 17, "com.acme" : 1]>\n'
                      "g (float[5,1,3] x) => (float[5,1,4] y) { y = com.acme.FusedLSTM (x) }\n")
    loop_cell = REPO / "fixtures" / "AL025" / "bad.onnx.txt"
    result = invoke("lint", str(custom), str(loop_cell), "--format", "json", "--exit-zero")
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads(
        (REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text()))
    assert [(m["recurrent_layers"], m["unchecked_layers"], m["unseen"])
            for m in report["models"]] == [
        (0, 0, ["main/<FusedLSTM #0> (FusedLSTM)"]), (1, 1, [])]


# --- GitLab Code Quality -------------------------------------------------------------------


def test_gitlab_code_quality_is_valid_and_one_issue_per_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = json.loads((SCHEMAS / "gitlab-code-quality.schema.json").read_text())
    monkeypatch.chdir(REPO)
    result = invoke("lint", "fixtures/AL201/bad.onnx.txt", "fixtures/AL301/bad.onnx.txt",
                    "--format", "gitlab")
    issues = json.loads(result.stdout)
    jsonschema.validate(issues, schema)
    assert result.exit_code == 1
    assert [(i["check_name"], i["severity"], i["location"]["path"]) for i in issues][:2] == [
        ("AL201 hidden-size-mismatch", "major", "fixtures/AL201/bad.onnx.txt")] * 2
    assert len({i["fingerprint"] for i in issues}) == len(issues) == 4
    assert issues[0]["description"].startswith("main/lstm_0: LSTM 'lstm_0' has hidden_size=4")
    # an absolute path under the working directory becomes relative, as GitLab needs
    absolute = json.loads(invoke("lint", str(REPO / "fixtures/AL201/bad.onnx.txt"),
                                 "--format", "gitlab").stdout)
    jsonschema.validate(absolute, schema)
    assert absolute[0]["location"]["path"] == "fixtures/AL201/bad.onnx.txt"
    # the schema can fail: a made-up severity is refused
    broken = [dict(issues[0], severity="high")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


# --- unreadable inputs ---------------------------------------------------------------------


def test_a_git_lfs_pointer_is_named_and_exits_2(tmp_path: Path) -> None:
    pointer = tmp_path / "model.onnx"
    # the layout of https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
    pointer.write_text("version https://git-lfs.github.com/spec/v1\n"
                       f"oid sha256:{'4d7a2146' * 8}\n"
                       "size 12345\n")
    result = run_archlint("lint", str(pointer))
    assert result.returncode == 2
    assert (f"archlint: error: {pointer}: is a Git LFS pointer, not the model: run "
            "`git lfs pull`") in result.stderr.splitlines()


def test_an_html_page_saved_as_a_model_is_named_and_exits_2(tmp_path: Path) -> None:
    """A repository's file page saved under the model's name (a public handwriting model
    committed so): the protobuf parser's 'wire format was corrupt' named no cause."""
    page = tmp_path / "handwriting.onnx"
    page.write_text("\n\n\n<!DOCTYPE html>\n<html\n  lang=\"en\">\n<head><meta charset=\"utf-8\">"
                    "</head><body>handwriting.onnx</body></html>\n")
    result = run_archlint("lint", str(page))
    assert result.returncode == 2
    assert (f"archlint: error: {page}: is an HTML page, not the model: a web page saved under "
            "the model's name (a repository's file page, a login or error page); download the "
            "raw file") in result.stderr.splitlines()


# --- discovery -----------------------------------------------------------------------------


def _model(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx.parser.parse_model(AL201_BAD.read_text()), path)


def _linted(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [m["path"] for m in json.loads(result.stdout)["models"]]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_lint_with_no_path_lints_only_the_repositorys_own_models(tmp_path: Path) -> None:
    _model(tmp_path / "models" / "encoder.onnx")
    _model(tmp_path / ".venv" / "lib" / "python3.11" / "site-packages" / "onnx" / "backend"
           / "test" / "data" / "node" / "test_lstm" / "model.onnx")
    _model(tmp_path / "env2" / "lib" / "model.onnx")  # a venv by its pyvenv.cfg, not its name
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    _model(tmp_path / "build" / "lib" / "copy.onnx")
    _model(tmp_path / "scratch" / "tmp.onnx")
    (tmp_path / ".gitignore").write_text("scratch/\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = run_archlint("lint", "--format", "json", "--quiet", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert _linted(result) == ["models/encoder.onnx"]
    everything = run_archlint("lint", "--format", "json", "--no-respect-gitignore",
                              "--extend-exclude", "models", cwd=tmp_path)
    assert _linted(everything) == ["scratch/tmp.onnx"]
    (tmp_path / "archlint.toml").write_text('exclude = []\nrespect-gitignore = false\n')
    all_models = _linted(run_archlint("lint", ".", "--format", "json", cwd=tmp_path))
    # no excludes at all, yet a folder holding pyvenv.cfg is a virtual environment still
    assert sorted(all_models) == [
        ".venv/lib/python3.11/site-packages/onnx/backend/test/data/node/test_lstm/model.onnx",
        "build/lib/copy.onnx", "models/encoder.onnx", "scratch/tmp.onnx"]
    # a file named on the command line is linted whatever the excludes say
    named = run_archlint("lint", "build/lib/copy.onnx", "--format", "json", "--exclude",
                         "build", cwd=tmp_path)
    assert _linted(named) == ["build/lib/copy.onnx"]


def test_show_settings_says_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "archlint.toml").write_text('ignore = ["AL3"]\nextend-exclude = ["old"]\n')
    result = run_archlint("lint", "--show-settings", "--fail-on", "warning", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    config = tmp_path.resolve() / "archlint.toml"
    assert f'config            = "{config}"  # searched upwards from paths' in lines
    assert 'fail-on           = "warning"  # command line' in lines
    assert f'ignore            = ["AL3"]  # {config}' in lines
    assert f'extend-exclude    = ["old"]  # {config}' in lines
    assert 'select            = ["ALL"]  # default' in lines
    assert "respect-gitignore = true  # default" in lines
    assert any(line.startswith('exclude           = [".bzr", ') and line.endswith("# default")
               for line in lines)


def test_statistics_counts_findings_per_rule() -> None:
    result = invoke("lint", str(AL201_BAD), str(FIXTURES / "AL301" / "bad.onnx.txt"),
                    "--statistics", "--select", "AL201,AL301")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [
        "2  AL201  hidden-size-mismatch (error)",
        "2  AL301  direction-mismatch (error)",
    ]
    assert result.stdout.splitlines()[2].startswith("4 findings (4 errors, 0 warnings, 0 infos)")


# --- colour --------------------------------------------------------------------------------


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run archlint with stdout on a pseudo-terminal; what the terminal received."""
    leader, follower = pty.openpty()
    from .conftest import ARCHLINT

    process = subprocess.Popen([*ARCHLINT, *args], stdout=follower, stderr=subprocess.DEVNULL,
                               env={**os.environ, **env}, cwd=REPO)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_none_with_no_color_or_a_pipe() -> None:
    args = ("lint", "fixtures/AL201/bad.onnx.txt")
    env = {k: "" for k in ("NO_COLOR",)}
    coloured = _on_a_terminal(*args, env=env)
    assert "\x1b[31m\x1b[1merror\x1b[0m" in coloured
    assert "\x1b[35mAL201\x1b[0m" in coloured
    assert "\x1b[" not in _on_a_terminal(*args, env={"NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal(*args, "--color", "never", env=env)
    piped = run_archlint(*args, cwd=REPO, env=env)
    assert "\x1b[" not in piped.stdout and "AL201 error" in piped.stdout
    forced = run_archlint(*args, "--color", "always", cwd=REPO, env=env)
    assert "\x1b[35mAL201\x1b[0m" in forced.stdout


def test_click_errors_look_like_archlints() -> None:
    result = run_archlint("lint", "--format", "yaml", "x.onnx")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        "archlint: error: Invalid value for '--format': 'yaml' is not one of")


def test_one_al003_per_missing_external_data_file(tmp_path: Path) -> None:
    import numpy as np
    from onnx import external_data_helper, helper, numpy_helper

    weights = [numpy_helper.from_array(np.ones((1, 16, 3), np.float32), "W"),
               numpy_helper.from_array(np.ones((1, 16, 4), np.float32), "R"),
               numpy_helper.from_array(np.ones((1, 32), np.float32), "B"),
               numpy_helper.from_array(np.ones((4, 4), np.float32), "P")]
    for tensor in weights[:3]:
        external_data_helper.set_external_data(tensor, "lstm.data")
    external_data_helper.set_external_data(weights[3], "proj.data")
    for tensor in weights:
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=4)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [5, 1, 3])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)], weights)
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    result = invoke("lint", str(path), "--select", "AL003", "--format", "json")
    found = [(f["message"], f["actual"]) for f in json.loads(result.stdout)["models"][0][
        "findings"]]
    assert found == [
        ("external-data file 'lstm.data' is missing; it holds 3 initializers: 'W', 'R', 'B'; "
         "runtimes will fail to load this model", "lstm.data (missing)"),
        ("external-data file 'proj.data' is missing; it holds initializer 'P'; runtimes will "
         "fail to load this model", "proj.data (missing)"),
    ]
    assert result.exit_code == 1


def test_the_bidirectional_worked_example_of_docs_params(tmp_path: Path) -> None:
    """docs/params.md: nn.LSTM(512, 256, bidirectional=True) is 1,576,960 in PyTorch's count
    and 1,574,912 in Keras's. Shapes are all a count reads, so the weights are external data
    that does not exist (and is never opened)."""
    from onnx import helper

    def weight(name: str, dims: list[int]) -> onnx.TensorProto:
        tensor = onnx.TensorProto(name=name, data_type=onnx.TensorProto.FLOAT, dims=dims,
                                   data_location=onnx.TensorProto.EXTERNAL)
        tensor.external_data.add(key="location", value="weights.bin")
        return tensor

    inits = [weight("W", [2, 1024, 512]), weight("R", [2, 1024, 256]), weight("B", [2, 2048])]
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="/rnn/LSTM",
                            hidden_size=256, direction="bidirectional")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, ["T", 1, 512])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)], inits)
    path = tmp_path / "bilstm.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    result = invoke("params", str(path), "--format", "json")
    (layer,) = json.loads(result.stdout)["models"][0]["layers"]
    slots = {s["slot"]: (s["elements"], s["pytorch"], s["keras"]) for s in layer["slots"]}
    assert slots == {"W": (1_048_576,) * 3, "R": (524_288,) * 3, "B": (4096, 4096, 2048)}
    assert invoke("params", str(path), "--expect-params", "1576960", "--convention",
                  "pytorch").exit_code == 0
    keras = invoke("params", str(path), "--expect-params", "1576960", "--convention", "keras")
    assert keras.exit_code == 1
    assert "expected 1,576,960 Keras parameters, found 1,574,912 (2,048 fewer)" in keras.output
