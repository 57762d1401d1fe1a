"""Hostile input, round two (issue 18): each class of fault, on models the tests build.

Every case asserts the exit code and the one line a user sees; output in every format is read
as GitHub's runner reads it (no line that starts a workflow command, no control character).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint.render_names import json_text, safe_text

from .conftest import FIXTURES, run_archlint
from .hostile_support import (
    EVIL,
    EVIL_FILE,
    control_characters,
    evil_model,
    long_chain,
    workflow_commands,
)

EXPORTED_LSTM = FIXTURES / "exported" / "lstm_4_2.onnx"

# --- the one escaping function -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    ("lstm_0", "lstm_0"),
    ("a\x1b]52;c;ZXZpbA==\x07b", "a\\x1b]52;c;ZXZpbA==\\x07b"),
    ("a\nb\rc\td\x00e\x85f\x7f", "a\\nb\\rc\\td\\x00e\\x85f\\x7f"),
    ("abc\u202edef\u2066", "abc\\u202edef\\u2066"),
    ("::error::x", "\\::error::x"),
    ("  ::add-mask::x", "  \\::add-mask::x"),
    ("node ##[error]x", "node ##\\[error]x"),
    ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),  # printable non-ASCII stays as it is
    ("\udcffbad.onnx", "\\xffbad.onnx"),  # an undecodable file name byte (surrogateescape)
])
def test_safe_text_escapes_and_keeps_names_recognisable(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown
    assert safe_text(shown) == shown  # idempotent: a message built from safe names is safe


def test_json_keeps_names_exact_but_never_a_workflow_command() -> None:
    text = json_text({"node": EVIL, "file": "\udcffx"})
    assert workflow_commands(text) == [] and control_characters(text) == []
    assert json.loads(text) == {"node": EVIL, "file": "\\xffx"}


@pytest.fixture(scope="module")
def evil_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three copies of a model with hostile node, tensor and metadata names: one under a
    plain name, one under a hostile name, one under a name that is not UTF-8."""
    folder = tmp_path_factory.mktemp("evil")
    model = evil_model()
    onnx.save_model(model, folder / "plain.onnx")
    onnx.save_model(model, folder / EVIL_FILE)
    with open(os.fsencode(folder) + b"/\xff.onnx", "wb") as handle:  # noqa: PTH123
        handle.write(model.SerializeToString())
    return folder


def _run(*args: str) -> tuple[int, str, str]:
    proc = run_archlint(*args, env={"PYTHONIOENCODING": "utf-8"})
    return proc.returncode, proc.stdout, proc.stderr


def _assert_clean(text: str, allowed_commands: int = 0) -> None:
    assert control_characters(text) == []
    assert len(workflow_commands(text)) == allowed_commands, workflow_commands(text)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_lint_output_in_every_format_has_no_control_character_or_forged_command(
    evil_folder: Path, fmt: str
) -> None:
    code, out, err = _run("lint", str(evil_folder), "--format", fmt)
    assert code == 1, err
    assert "internal error" not in err
    # 3 models x (AL201 on lstm, AL201 on gru, AL010 for the stale metadata entry)
    _assert_clean(out, allowed_commands=9 if fmt == "github" else 0)
    _assert_clean(err)
    if fmt == "github":
        assert all(line.startswith(("::error file=", "::warning file="))
                   for line in out.splitlines())
    if fmt == "junit":
        root = ET.fromstring(out)  # well-formed XML 1.0
        assert root.get("failures") == "9"
    if fmt in ("json", "sarif"):
        data = json.loads(out)
        if fmt == "json":
            nodes = {f["location"]["node"] for m in data["models"] for f in m["findings"]}
            assert EVIL + "lstm_0" in nodes  # the exact name, for machines
            assert any(m["path"].endswith("\\xff.onnx") for m in data["models"])


def test_text_line_shows_the_escaped_name(evil_folder: Path) -> None:
    code, out, _ = _run("lint", str(evil_folder / "plain.onnx"), "--select", "AL201")
    assert code == 1
    first = out.splitlines()[0]
    assert first == (
        f"{evil_folder / 'plain.onnx'}:main/{safe_text(EVIL)}lstm_0: AL201 error: LSTM "
        f"'{safe_text(EVIL)}lstm_0' has hidden_size=4 but W and R imply hidden_size=3")
    assert first.count("\\x1b]52;c;") == 2


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json"])
def test_params_output_in_every_format_is_clean(evil_folder: Path, fmt: str) -> None:
    code, out, err = _run("params", str(evil_folder), "--format", fmt)
    assert code == 0, err
    _assert_clean(out)
    _assert_clean(err)
    assert "LSTM" in out


def test_run_output_and_stderr_are_clean(evil_folder: Path) -> None:
    code, out, err = _run("run", str(evil_folder / "plain.onnx"))
    assert code in (0, 1), err
    assert "internal error" not in err
    _assert_clean(out)
    _assert_clean(err)
    assert "    input " + safe_text(EVIL) + "X float[5, 2, 4]" in out


def test_unreadable_hostile_file_name_is_one_clean_line(tmp_path: Path) -> None:
    bad = tmp_path / EVIL_FILE
    bad.write_bytes(b"not a model")
    code, out, err = _run("lint", str(bad), "--format", "github")
    assert code == 2
    _assert_clean(err)
    _assert_clean(out, allowed_commands=1)
    assert err.splitlines()[-1] == (
        f"archlint: error: {safe_text(str(bad))}: not an ONNX model (not a protobuf "
        "ModelProto): Error parsing message with type 'onnx.ModelProto': Wire format was corrupt")


def test_baseline_of_an_undecodable_file_name_is_written_and_read(
    evil_folder: Path, tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    code, _, err = _run("lint", str(evil_folder), "--write-baseline", str(baseline))
    assert code == 0, err
    code, out, err = _run("lint", str(evil_folder), "--baseline", str(baseline))
    assert code == 0, err
    assert out.splitlines()[-1].startswith(
        "0 findings (0 errors, 0 warnings, 0 infos) in 3 models, 9 in baseline")


# --- configs and baselines ------------------------------------------------------------------

DEEP_TOML = "[tool.archlint]\nx = " + "[" * 5000 + "]" * 5000 + "\n"


@pytest.mark.parametrize(("content", "reason"), [
    (b'[tool.archlint]\nselect = ["AL2"\n',
     "invalid TOML: Unclosed array (at end of document)"),
    (b'[tool.archlint]\nselect = ["AL2\xff"]\n', "not UTF-8 text (byte 30)"),
    (DEEP_TOML.encode(), "nested too deeply"),
    (b"[tool.archlint.params]\nmax-params = " + b"9" * 100_000 + b"\n",
     "invalid TOML: Exceeds the limit (4300 digits) for integer string conversion: value has "
     "100000 digits; use sys.set_int_max_str_digits() to increase the limit"),
    (b"\x00\x01\x02archlint", "binary file (holds NUL bytes), expected text"),
])
def test_broken_pyproject_is_one_line_not_a_silent_fallback(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / "pyproject.toml").write_bytes(content)
    model = tmp_path / "m.onnx"
    model.write_bytes(EXPORTED_LSTM.read_bytes())
    code, out, err = _run("lint", str(model))
    assert (code, out) == (2, "")
    assert err == f"archlint: error: {tmp_path / 'pyproject.toml'}: {reason}\n"


def test_pyproject_with_a_bom_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'\xef\xbb\xbf[tool.archlint]\nselect = ["AL9"]\n')
    model = tmp_path / "m.onnx"
    model.write_bytes(EXPORTED_LSTM.read_bytes())
    code, _, err = _run("lint", str(model))
    assert code == 2
    assert "unknown rule code or prefix: AL9" in err  # the config was read, BOM and all


@pytest.mark.parametrize(("target", "reason"), [
    ("/dev/zero", "not a regular file (a FIFO, a device or a socket)"),
    ("fifo", "not a regular file (a FIFO, a device or a socket)"),
    ("deep.json", "nested too deeply"),
    ("digits.json", None),
    ("latin1.json", "not UTF-8 text (byte 7)"),
])
def test_hostile_baseline_is_one_line(tmp_path: Path, target: str, reason: str | None) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "digits.json").write_text('{"a": ' + "9" * 100_000 + "}")
    (tmp_path / "latin1.json").write_bytes('{"a": "\xe9"}'.encode("latin-1"))
    path = target if target.startswith("/") else str(tmp_path / target)
    code, out, err = _run("lint", str(EXPORTED_LSTM), "--baseline", path)
    assert (code, out) == (2, "")
    if reason is None:
        assert err.startswith(f"archlint: error: {path}: baseline is not JSON: Exceeds the limit")
    else:
        assert err == f"archlint: error: {path}: cannot read baseline: {reason}\n"


def test_config_that_is_a_binary_file_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "archlint.toml"
    binary.write_bytes(bytes(range(256)))
    code, _, err = _run("lint", str(EXPORTED_LSTM), "--config", str(binary))
    assert code == 2
    assert err == f"archlint: error: {binary}: binary file (holds NUL bytes), expected text\n"


# --- loading ---------------------------------------------------------------------------------


def test_symlink_loop_as_model_path(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").symlink_to(tmp_path / "b.onnx")
    (tmp_path / "b.onnx").symlink_to(tmp_path / "a.onnx")
    code, _, err = _run("lint", str(tmp_path / "a.onnx"))
    assert code == 2
    assert err == f"archlint: error: {tmp_path / 'a.onnx'}: symlink loop\n"


def test_huge_non_model_file_is_refused_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.onnx"
    with huge.open("wb") as handle:  # sparse: 3 GB on paper, nothing on disk
        handle.truncate(3 * 1024**3)
    code, _, err = _run("lint", str(huge))
    assert code == 2
    assert err == (f"archlint: error: {huge}: too large for an ONNX model (3,221,225,472 bytes; "
                   "at most 2,147,483,648, the protobuf limit: weights go in external data)\n")


def test_text_dim_beyond_int64(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx.txt"
    path.write_text('<ir_version: 8, opset_import: ["" : 17]>\n'
                    "g (float[99999999999999999999999, 2] X) => (float[2] Y) { Y = Relu(X) }\n")
    code, _, err = _run("lint", str(path))
    assert code == 2
    assert err == (f"archlint: error: {path}: invalid ONNX text format: a number does not fit "
                   "in 64 bits\n")


def _nested_if_text(depth: int) -> str:
    body = "y = Identity(x)"
    for i in range(depth):
        body = (f"y = If(c) <then_branch: graph = t{i} () => (float[2] y) {{ {body} }}, "
                f"else_branch: graph = e{i} () => (float[2] y) {{ y = Identity(x) }}>")
    return ('<ir_version: 8, opset_import: ["" : 17]>\n'
            "g (bool c, float[2] x) => (float[2] y) {\n" + body + "\n}\n")


def test_deeply_nested_text_model_is_refused_before_the_parser(tmp_path: Path) -> None:
    deep = tmp_path / "deep.onnx.txt"
    deep.write_text(_nested_if_text(5000))
    good = tmp_path / "good.onnx"
    good.write_bytes(EXPORTED_LSTM.read_bytes())
    code, _, err = _run("lint", "-j", "2", str(deep), str(good))
    assert code == 2  # no segfault, and the other model is still linted
    assert err.splitlines() == [
        f"archlint: error: {deep}: ONNX text nested 5001 graphs deep (at most 32 are parsed)"]


def _nested_functions(depth: int) -> onnx.ModelProto:
    """About 2 KB: each local function calls the previous one twice (2^depth nodes inlined)."""
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    functions = [helper.make_function("local", "f0", ["x"], ["y"],
                                      [helper.make_node("Relu", ["x"], ["y"])], opsets)]
    for i in range(1, depth):
        functions.append(helper.make_function("local", f"f{i}", ["x"], ["y"], [
            helper.make_node(f"f{i - 1}", ["x"], ["a"], domain="local"),
            helper.make_node(f"f{i - 1}", ["a"], ["y"], domain="local")], opsets))
    graph = helper.make_graph(
        [helper.make_node(f"f{depth - 1}", ["X"], ["Y"], domain="local")], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph, opset_imports=opsets, functions=functions)


def test_nested_local_functions_are_refused_not_passed(tmp_path: Path) -> None:
    model = _nested_functions(24)
    assert len(model.SerializeToString()) < 2048
    path = tmp_path / "nested.onnx"
    onnx.save_model(model, path)
    proc = run_archlint("lint", str(path), timeout=60)  # was 300 s of inference, then exit 0
    assert proc.returncode == 2
    assert proc.stderr == (f"archlint: error: {path}: not analysed: model-local functions "
                           "expand to more than 100,000 nodes when inlined (calls nested in "
                           "calls)\n")


def test_a_big_file_refused_after_its_early_inference_started_stops_that_inference(
    tmp_path: Path,
) -> None:
    """A file over EARLY_INFERENCE_BYTES goes to inference before it is parsed; when the
    parse then refuses it (functions that expand without end), the worker busy with it is
    stopped at once, and the next model is inferred by a fresh one."""
    from archlint import inference, loader

    model = _nested_functions(40)  # 2^40 nodes inlined: inference would never end
    ballast = numpy_helper.from_array(np.zeros(300_000, np.float32), "ballast")
    model.graph.initializer.append(ballast)
    assert len(model.SerializeToString()) > inference.EARLY_INFERENCE_BYTES
    bomb, good = tmp_path / "bomb.onnx", FIXTURES / "exported" / "lstm_l2_bi_classic.onnx"
    onnx.save_model(model, bomb)
    with pytest.raises(loader.LoadError, match="not analysed: model-local functions"):
        loader.load_model(bomb)
    assert inference._WORKER == [] and inference._OUTSTANDING == []  # stopped, not waited for
    after = loader.load_model(good)
    assert after.inference_error is None and after.inferred.graph.value_info


# --- runtime: a model that never ran is not a pass ------------------------------------------


@pytest.mark.parametrize(("declared", "reason", "severity"), [
    ("float[1000000, 1000000, 8] X", "input 'X' would take 32,000,000,000,000 bytes "
     "(float[1000000, 1000000, 8]; at most 1,073,741,824): bind smaller dims with --dim",
     "error"),
    # text archlint does not draw: the caller gives it (--input), the model is not blamed
    ("string[2] X", "input 'X' is a string tensor: random inputs are drawn only for numbers "
     "and booleans", "warning"),
])
def test_run_on_a_model_it_cannot_feed_is_a_finding(
    tmp_path: Path, declared: str, reason: str, severity: str
) -> None:
    path = tmp_path / "m.onnx.txt"
    path.write_text(f'<ir_version: 8, opset_import: ["" : 17]>\ng ({declared}) => '
                    f"({declared.split('[')[0]} Y) {{ Y = Identity(X) }}\n")
    code, out, err = _run("run", str(path))
    assert code == (1 if severity == "error" else 0), out + err
    assert (f"{path}: AL501 {severity}: onnxruntime was not given the model: {reason}"
            in out.splitlines())


def test_a_negative_declared_size_is_a_free_dim_as_onnxruntime_reads_it(tmp_path: Path) -> None:
    # not ONNX, but a common hand edit (dim_value = -1) and what some converters write:
    # onnxruntime runs such an input at any size, so archlint binds it as an unnamed dim
    path = tmp_path / "m.onnx.txt"
    path.write_text('<ir_version: 8, opset_import: ["" : 17]>\n'
                    "g (float[-4, 2] X) => (float[-4, 2] Y) { Y = Identity(X) }\n")
    code, out, err = _run("run", str(path))
    assert code == 0, out + err
    assert "    dims: X:0=1 (default, unnamed dim)" in out.splitlines()
    assert "    input X float[1, 2] uniform in [-1, 1)" in out.splitlines()
    assert " AL501 " not in out


def test_results_cut_short_are_not_results(tmp_path: Path) -> None:
    import numpy as np

    from archlint.runtime.check import _arrays
    from archlint.runtime.child import read_results

    whole = tmp_path / "main.npz"
    np.savez(whole, o0=np.ones((64, 64), dtype=np.float32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert _arrays(cut) == {}
    assert set(_arrays(whole)) == {"o0"}
    # a result JSON cut short (the child was killed while writing it) is no result
    (tmp_path / "main.json").write_text('{"status": "ok", "outp')
    (tmp_path / "compare.json").write_text('{"status": "ok"}')
    assert read_results([{"id": "main"}, {"id": "compare"}], tmp_path) == {
        "compare": {"status": "ok"}}


def test_run_timeout_is_one_deadline_for_inference_and_run(tmp_path: Path) -> None:
    """A model whose static inference takes most of a second (0.7 s on a fast machine, 1.5 s
    on a slow one): with a deadline of a fifth of a second, inference gets that long (AL001
    says so) rather than its own 300 s, and the run what is left (at least a second)."""
    onnx.save_model(long_chain(), tmp_path / "chain.onnx")
    (tmp_path / "archlint.toml").write_text("[runtime]\ntimeout = 0.2\n")
    proc = run_archlint("lint", "--runtime", "--select", "AL001,AL504",
                        str(tmp_path / "chain.onnx"), timeout=120)
    assert proc.returncode in (0, 1), proc.stderr  # 1 when the run, too, ran out of time
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"{tmp_path / 'chain.onnx'}: AL001 warning: ONNX shape inference failed: "
                        "onnx shape inference did not finish in 0.2 s (with data propagation); "
                        "shapes were not inferred")
    # AL504, when the run ran out of time too, names the deadline the user set
    assert all("within 0.2s " in line for line in lines if " AL504 " in line)


# --- external data the static lint judges ----------------------------------------------------


def _external(tensor: TensorProto, location: str, **extra: str) -> TensorProto:
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in {"location": location, **extra}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.ClearField("float_data")
    return tensor


def _model_with(nodes: list[onnx.NodeProto], **kwargs: object) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [], [
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        **kwargs)  # type: ignore[arg-type]
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("local", 1)])


def _constant(location: str, **extra: str) -> onnx.NodeProto:
    value = _external(helper.make_tensor("c", TensorProto.FLOAT, [2], [1.0, 2.0]), location,
                      **extra)
    return helper.make_node("Constant", [], ["Y"], name="const", value=value)


def _function_constant() -> onnx.ModelProto:
    model = _model_with([helper.make_node("F", [], ["Y"], domain="local", name="call")])
    body = helper.make_function("local", "F", [], ["y"], [
        helper.make_node("Constant", [], ["y"], name="inner",
                         value=_external(helper.make_tensor("c", TensorProto.FLOAT, [2],
                                                            [1.0, 2.0]), "/etc/passwd"))],
        [helper.make_opsetid("", 17)])
    model.functions.append(body)
    return model


def _tensors_attribute() -> onnx.ModelProto:
    node = helper.make_node("Identity", ["X"], ["Y"], name="id")
    attr = node.attribute.add()
    attr.name, attr.type = "stash", onnx.AttributeProto.TENSORS
    attr.tensors.append(_external(helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, 2.0]),
                                  "../secret.bin"))
    model = _model_with([node])
    model.graph.input.append(helper.make_tensor_value_info("X", TensorProto.FLOAT, [2]))
    return model


def _sparse_value() -> onnx.ModelProto:
    values = _external(helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]), "/etc/shadow")
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(values, indices, [4])
    return _model_with([helper.make_node("Constant", [], ["Y"], name="sp", sparse_value=sparse)])


def _sparse_initializer() -> onnx.ModelProto:
    values = _external(helper.make_tensor("s", TensorProto.FLOAT, [1], [1.0]), "../../w.bin")
    indices = helper.make_tensor("s_i", TensorProto.INT64, [1], [0])
    model = _model_with([helper.make_node("Identity", ["s"], ["Y"], name="id")])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    return model


def _loop_body_initializer() -> onnx.ModelProto:
    stored = _external(helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0]), "/etc/hosts")
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "w"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])], initializer=[stored])
    model = _model_with([helper.make_node("Loop", ["n", "", "v0"], ["Y"], name="loop",
                                          body=body)])
    model.graph.input.extend([helper.make_tensor_value_info("n", TensorProto.INT64, []),
                              helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])])
    return model


@pytest.mark.parametrize(("build", "kind", "location", "problem"), [
    (_loop_body_initializer, "initializer", "/etc/hosts", "absolute location"),
    (_function_constant, "function local.F Constant 'inner' attribute value", "/etc/passwd",
     "absolute location"),
    (_tensors_attribute, "Identity 'id' attribute stash", "../secret.bin",
     "location contains '..'"),
    (_sparse_value, "Constant 'sp' attribute sparse_value", "/etc/shadow", "absolute location"),
    (_sparse_initializer, "sparse initializer", "../../w.bin", "location contains '..'"),
])
def test_external_data_outside_initializers_is_reported(
    tmp_path: Path, build: object, kind: str, location: str, problem: str
) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(build().SerializeToString())  # type: ignore[operator]
    code, out, _ = _run("lint", str(path), "--select", "AL002")
    assert code == 1
    tensor = out.split("'")[0]
    assert f"AL002 error: {kind} " in out, out
    assert f"has external-data location {location!r}: {problem}; archlint did not open it" \
        in out, tensor


@pytest.mark.parametrize(("setup", "problem"), [
    ("folder", "location names a folder, not a data file"),
    ("hardlink", "data file has 2 hard links (it may be a file from outside the folder)"),
    ("offset", "offset 64 and length 8 reach past the end of the data file (16 bytes)"),
    ("bad-offset", "external-data offset '-1' is not a non-negative integer"),
])
def test_data_files_judged_by_stat(tmp_path: Path, setup: str, problem: str) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    extra: dict[str, str] = {}
    if setup == "folder":
        (model_dir / "w.bin").mkdir()
    elif setup == "hardlink":
        outside = tmp_path / "secret"
        outside.write_bytes(b"\x00" * 16)
        os.link(outside, model_dir / "w.bin")
    else:
        (model_dir / "w.bin").write_bytes(b"\x00" * 16)
        extra = {"offset": "64", "length": "8"} if setup == "offset" else {"offset": "-1"}
    onnx.save_model(_model_with([_constant("w.bin", **extra)]), model_dir / "m.onnx")
    code, out, _ = _run("lint", str(model_dir / "m.onnx"), "--select", "AL002")
    assert code == 1
    assert out.splitlines()[0] == (
        f"{model_dir / 'm.onnx'}: AL002 error: Constant 'const' attribute value 'c' has "
        f"external-data location 'w.bin': {problem}; archlint did not open it")
    # and `run` never hands it to onnxruntime: not run, which is not a pass
    code, out, _ = _run("run", str(model_dir / "m.onnx"))
    assert code == 1
    assert "AL501 error: onnxruntime was not given the model: external data of 'c'" in out


# --- never write over a model ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["lint", "run", "params"])
def test_output_naming_a_model_is_refused(tmp_path: Path, command: str) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(EXPORTED_LSTM.read_bytes())
    before = model.read_bytes()
    code, out, err = _run(command, str(model), "--output", str(model))
    assert (code, out) == (2, "")
    assert err == (f"archlint: error: {model}: --output would overwrite a model being read "
                   f"({model})\n")
    assert model.read_bytes() == before


def test_a_click_parameter_error_escapes_the_path_it_quotes(tmp_path: Path) -> None:
    """click's own errors quote what the user passed (click writes paths with repr today;
    archlint's error line escapes again so a change in click cannot let a name through)."""
    folder = tmp_path / "x\n::error::forged"
    folder.mkdir()
    model = FIXTURES / "AL201" / "good.onnx.txt"
    proc = run_archlint("lint", str(model), "--baseline", str(folder),
                        env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 2
    assert workflow_commands(proc.stderr) == []
    assert control_characters(proc.stderr) == []
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("archlint: error:")]
    assert "x\\n::error::forged" in line


def test_an_empty_name_at_a_required_input_is_al004() -> None:
    """fixtures/AL004/empty_input_classic.onnx (torch 2.13's classic exporter on
    pytorch-forecasting's lagged-target assignment): ``Add('', '')`` and ``Expand('', shape)``.
    An empty name marks an omitted optional input; at an input every version of the op
    requires, it is a missing tensor: onnxruntime refuses the graph, and the static lint gave
    only AL001's warning."""
    import onnxruntime as ort

    path = FIXTURES / "AL004" / "empty_input_classic.onnx"
    with pytest.raises(Exception, match="INVALID_GRAPH"):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    code, out, _ = _run("lint", str(path), "--select", "AL004")
    assert code == 1
    lines = [line for line in out.splitlines() if ": AL004 error: " in line]
    assert [line.split(": AL004 error: ")[1].split(" has no tensor")[0] for line in lines] == [
        "Add '/Add'", "Expand '/Expand'", "Expand '/Expand_1'"]
    assert "has no tensor at input 0, 1, which Add requires" in lines[0]
