"""``archlint fix`` on every fixable rule's bad fixtures: the rule's own fix is applied to a
copy, the copy re-lints clean for that code with no new finding, its graph holds the repair,
onnxruntime proves the safe fixes and measures the unsafe ones, and the input's bytes never
change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import ModelProto, NodeProto, numpy_helper

import archlint
from archlint.api import Safety
from archlint.cli import cli
from archlint.fixes import FixResult

from .conftest import FIXTURES


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _node(model: ModelProto, name: str) -> NodeProto:
    return next(n for n in model.graph.node if n.name == name)


def _producer(model: ModelProto, tensor: str) -> NodeProto:
    return next(n for n in model.graph.node if tensor in n.output)


def _attr(node: NodeProto, name: str) -> object:
    attr = next((a for a in node.attribute if a.name == name), None)
    return None if attr is None else onnx.helper.get_attribute_value(attr)


def _const(model: ModelProto, name: str) -> list[int]:
    init = next((t for t in model.graph.initializer if t.name == name), None)
    if init is not None:
        return [int(v) for v in numpy_helper.to_array(init).ravel()]
    node = _producer(model, name)
    return [int(v) for v in numpy_helper.to_array(node.attribute[0].t).ravel()]


def _al105(m: ModelProto) -> None:
    cast = _producer(m, _node(m, "lstm_0").input[4])
    assert (cast.op_type, list(cast.input), _attr(cast, "to")) == ("Cast", ["L"], 6)


def _al201(m: ModelProto) -> None:
    assert _attr(_node(m, "lstm_0"), "hidden_size") == 3
    y = next(o for o in m.graph.output if o.name == "Y")
    assert y.type.tensor_type.shape.dim[3].dim_value == 3  # the declared H follows


def _al202(m: ModelProto) -> None:
    assert _attr(_node(m, "lstm_0"), "hidden_size") == 3
    assert _attr(_node(m, "rnn_0"), "hidden_size") == 5


def _al210(m: ModelProto) -> None:
    assert _attr(_node(m, "lstm_0"), "direction") == b"bidirectional"
    assert _attr(_node(m, "rnn_0"), "direction") == b"sideways"  # no guess for this one


def _al215(m: ModelProto) -> None:
    assert _attr(_node(m, "lstm_0"), "linear_before_reset") is None
    assert _attr(_node(m, "gru_0"), "input_forget") is None
    assert _attr(_node(m, "gru_0"), "hidden_size") == 3


def _al217(m: ModelProto) -> None:
    assert _attr(_node(m, "lstm_0"), "hidden_size") == 3
    assert next(a for a in _node(m, "lstm_0").attribute if a.name == "hidden_size").type == (
        onnx.AttributeProto.INT)
    assert _attr(_node(m, "lstm_1"), "direction") == 0  # an int direction: no guess


def _al302(m: ModelProto) -> None:
    assert _const(m, _node(m, "flatten").input[1]) == [0, -1, 6]


def _al303(m: ModelProto) -> None:
    flatten = _node(m, "flatten")
    transpose = _producer(m, flatten.input[0])
    assert (transpose.op_type, list(transpose.input)) == ("Transpose", ["Y"])
    assert _attr(transpose, "perm") == [0, 2, 1, 3]
    assert _const(m, flatten.input[1]) == [0, 0, -1]


def _al303_state(m: ModelProto) -> None:
    transpose = _producer(m, _node(m, "view").input[0])
    assert (transpose.op_type, list(transpose.input)) == ("Transpose", ["Y_h"])
    assert _attr(transpose, "perm") == [1, 0, 2]
    assert _node(m, "view").input[1] == "target"  # computed target: kept


def _al304(m: ModelProto) -> None:
    assert _attr(_node(m, "to_sbhd"), "perm") == [0, 2, 1, 3]


def _al304_state(m: ModelProto) -> None:
    assert _attr(_node(m, "batch_first"), "perm") == [1, 0, 2]


def _rows(m: ModelProto, layer: str, slot: int) -> tuple[str, list[int], list[int], list[int]]:
    s = _producer(m, _node(m, layer).input[slot])
    assert s.op_type == "Slice"
    return s.input[0], _const(m, s.input[1]), _const(m, s.input[2]), _const(m, s.input[3])


def _al305(m: ModelProto) -> None:
    assert _rows(m, "gru_0", 5) == ("H0", [0], [1], [0])
    assert _rows(m, "gru_1", 5) == ("H0", [1], [2], [0])


def _al305_packed(m: ModelProto) -> None:
    assert _rows(m, "lstm", 5) == ("state", [0], [1], [0])
    assert _rows(m, "lstm", 6) == ("state", [1], [2], [0])


def _al306(m: ModelProto) -> None:
    assert list(_node(m, "cat_h").input) == ["Yh0", "Yh1"]
    assert list(_node(m, "cat_c").input) == ["Yc0", "Yh1"]  # the Y_h/Y_c mix: no guess


def _al310(m: ModelProto) -> None:
    transpose = _producer(m, _node(m, "lstm_bf").input[5])
    assert (transpose.op_type, list(transpose.input)) == ("Transpose", ["h0"])
    assert _attr(transpose, "perm") == [1, 0, 2]


# fixture, safety, [(code, node)] fixed, check of the fixed graph, codes left by design
CASES: list[tuple[str, Safety, list[tuple[str, str]], Callable[[ModelProto], None], list[str]]] = [
    ("AL105/bad", Safety.SAFE, [("AL105", "lstm_0")], _al105, []),
    ("AL201/bad", Safety.SAFE, [("AL201", "lstm_0")], _al201, ["AL201"]),  # gru_0's B
    ("AL202/bad", Safety.SAFE, [("AL202", "lstm_0"), ("AL202", "rnn_0")], _al202, []),
    ("AL210/bad", Safety.SAFE, [("AL210", "lstm_0")], _al210, ["AL210"]),  # 'sideways'
    ("AL215/bad", Safety.SAFE, [("AL215", "lstm_0"), ("AL215", "gru_0")], _al215, []),
    ("AL217/bad", Safety.SAFE, [("AL217", "lstm_0")], _al217, ["AL217"]),
    ("AL302/bad", Safety.SAFE, [("AL302", "flatten")], _al302, []),
    ("AL303/bad", Safety.UNSAFE, [("AL303", "flatten")], _al303, []),
    ("AL303/bad_state", Safety.UNSAFE, [("AL303", "view")], _al303_state, []),
    ("AL304/bad", Safety.UNSAFE, [("AL304", "to_sbhd")], _al304, []),
    ("AL304/bad_state", Safety.UNSAFE, [("AL304", "batch_first")], _al304_state, []),
    ("AL305/bad", Safety.UNSAFE, [("AL305", "gru_0"), ("AL305", "gru_1")], _al305, []),
    ("AL305/bad_packed", Safety.UNSAFE, [("AL305", "lstm"), ("AL305", "lstm")],
     _al305_packed, []),
    ("AL306/bad", Safety.UNSAFE, [("AL306", "cat_h")], _al306, ["AL306"]),  # cat_c's mix
    ("AL310/bad", Safety.UNSAFE, [("AL310", "lstm_bf")], _al310, ["AL204"]),
]


def _fix(path: Path, tmp_path: Path, unsafe: bool) -> tuple[FixResult, Path]:
    out = tmp_path / "fixed.onnx"
    before = _sha(path)
    result = archlint.fix(path, out, unsafe_fixes=unsafe)
    assert _sha(path) == before  # the input's bytes never change
    return result, out


@pytest.mark.parametrize(("fixture", "safety", "fixed", "check", "left"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_rule_fixes_its_bad_fixture(
    tmp_path: Path, fixture: str, safety: Safety, fixed: list[tuple[str, str]],
    check: Callable[[ModelProto], None], left: list[str],
) -> None:
    path = FIXTURES / f"{fixture}.onnx.txt"
    result, out = _fix(path, tmp_path, unsafe=safety is Safety.UNSAFE)
    assert sorted((a.code, a.node) for a in result.applied) == sorted(fixed)
    assert {a.safety for a in result.applied} == {safety}
    assert result.problems == ()
    assert result.new == () and result.remaining == ()
    fixed_codes = {code for code, _ in fixed}
    assert sorted(f.code for f in result.after if f.code in fixed_codes) == sorted(
        c for c in left if c in fixed_codes)
    assert {f.code for f in result.after} <= set(left)
    assert result.written and out.is_file()
    written = onnx.load(str(out))
    if not left:  # a finding left by design may be one the checker rejects
        onnx.checker.check_model(written)
    check(written)
    check(result.model)
    # the fixed file lints as the result said
    assert sorted(f.code for f in archlint.lint(out).findings) == sorted(
        f.code for f in result.after)


@pytest.mark.parametrize(("fixture", "safety", "fixed", "check", "left"),
                         [c for c in CASES if c[1] is Safety.UNSAFE],
                         ids=[c[0] for c in CASES if c[1] is Safety.UNSAFE])
def test_unsafe_fixes_wait_for_the_flag(
    tmp_path: Path, fixture: str, safety: Safety, fixed: list[tuple[str, str]],
    check: Callable[[ModelProto], None], left: list[str],
) -> None:
    path = FIXTURES / f"{fixture}.onnx.txt"
    result, out = _fix(path, tmp_path, unsafe=False)
    assert result.applied == ()
    assert {(s.code, s.node) for s in result.skipped} == set(fixed)
    assert all(s.reason == "unsafe: needs --unsafe-fixes" for s in result.skipped)
    assert not out.exists()


def test_a_safe_fix_gives_identical_outputs_in_onnxruntime(tmp_path: Path) -> None:
    result, _ = _fix(FIXTURES / "AL302/bad.onnx.txt", tmp_path, unsafe=False)
    comparison = result.comparison
    assert comparison is not None
    assert comparison.original_error is None and comparison.fixed_error is None
    assert [(o.name, o.changed) for o in comparison.outputs] == [("out", False)]
    assert comparison.outputs[0].difference.max_abs == 0.0


def test_an_unsafe_fix_reports_which_outputs_changed_and_by_how_much(tmp_path: Path) -> None:
    result, _ = _fix(FIXTURES / "AL306/bad.onnx.txt", tmp_path, unsafe=True)
    comparison = result.comparison
    assert comparison is not None
    changes = {o.name: o for o in comparison.outputs}
    assert comparison.changed == ("h_n",)  # Y1 and c_n are untouched by the reorder
    assert changes["h_n"].difference.max_abs > 0.01
    assert changes["Y1"].difference.max_abs == 0.0


def test_a_fix_where_the_original_did_not_run_makes_it_run(tmp_path: Path) -> None:
    result, _ = _fix(FIXTURES / "AL202/bad.onnx.txt", tmp_path, unsafe=False)
    assert result.comparison is not None
    assert "hidden_size" in (result.comparison.original_error or "")
    assert result.comparison.fixed_error is None


def test_a_model_in_memory_is_not_modified() -> None:
    proto = onnx.parser.parse_model((FIXTURES / "AL201/bad.onnx.txt").read_text())
    before = proto.SerializeToString()
    result = archlint.fix(proto)
    assert proto.SerializeToString() == before
    assert result.model is not proto and [a.code for a in result.applied] == ["AL201"]
    assert not result.written


def test_select_and_ignore_choose_the_fixes(tmp_path: Path) -> None:
    path = FIXTURES / "AL306/bad.onnx.txt"
    assert archlint.fix(path, unsafe_fixes=True, ignore=["AL306"]).applied == ()
    assert [a.code for a in archlint.fix(path, unsafe_fixes=True, select=["AL3"]).applied] == [
        "AL306"]


EXPAND = """
<ir_version: 8, opset_import: ["" : 17]>
expand_bad (float[seq, batch, 4] X, float[1, 12, 4] W, float[1, 12, 3] R)
    => (float[5, 1, batch, 3] out)
{
  [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R)
  [shape] target = Constant <value: tensor = int64[4] {5, 1, 1, 3}> ()
  [expand] out = Expand (Y, target)
}
"""


def test_a_baked_expand_keeps_the_input_axis_after_the_unsafe_fix() -> None:
    proto = onnx.parser.parse_model(EXPAND)
    assert [f.code for f in archlint.lint(proto).findings] == ["AL302"]
    assert archlint.fix(proto).applied == ()  # 1 differs where seq was 1: unsafe
    result = archlint.fix(proto, unsafe_fixes=True)
    assert [(a.code, a.node, a.safety) for a in result.applied] == [
        ("AL302", "expand", Safety.UNSAFE)]
    assert _const(result.model, _node(result.model, "expand").input[1]) == [1, 1, 1, 3]
    assert result.comparison is not None and result.comparison.changed == ()


ROWS_FOLD = """
<ir_version: 8, opset_import: ["" : 17]>
rows_fold (float[seq, batch, 4] X, float[2, 12, 4] W, float[2, 12, 3] R)
    => (float[N, 6] out)
{
  [lstm_bi] Y, Y_h, Y_c = LSTM <hidden_size: int = 3, direction: string = "bidirectional"> (X, W, R)
  [target] shape = Constant <value: tensor = int64[2] {-1, 6}> ()
  [flatten] out = Reshape (Y, shape)
}
"""


def test_al303_keeps_a_target_without_copied_axes() -> None:
    """Y flattened to [seq·batch, 6] rows: the Transpose goes in, [-1, 6] still means rows of
    (seq, batch) with forward H then backward H, so it stays."""
    proto = onnx.parser.parse_model(ROWS_FOLD)
    result = archlint.fix(proto, unsafe_fixes=True)
    assert [(a.code, a.node) for a in result.applied] == [("AL303", "flatten")]
    flatten = _node(result.model, "flatten")
    assert _attr(_producer(result.model, flatten.input[0]), "perm") == [0, 2, 1, 3]
    assert _const(result.model, flatten.input[1]) == [-1, 6]
    assert result.after == () and result.problems == ()


def test_cli_refuses_an_output_folder_that_does_not_exist(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fix", str(FIXTURES / "AL302/bad.onnx.txt"), "-o",
                                      str(tmp_path / "nowhere" / "fixed.onnx")])
    assert result.exit_code == 2
    assert "no such folder for the fixed model" in result.output


# --- the command -----------------------------------------------------------------------------


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    dst.write_bytes(src.read_bytes())
    return dst


def test_cli_refuses_output_equal_to_input_without_in_place(tmp_path: Path) -> None:
    model = _copy(FIXTURES / "AL302/bad.onnx.txt", tmp_path)
    before = _sha(model)
    result = CliRunner().invoke(cli, ["fix", str(model), "-o", str(model)])
    assert result.exit_code == 2
    assert "pass --in-place" in result.output
    assert _sha(model) == before


def test_cli_in_place_rewrites_the_input(tmp_path: Path) -> None:
    model = _copy(FIXTURES / "AL302/bad.onnx.txt", tmp_path)
    result = CliRunner().invoke(cli, ["fix", str(model), "-o", str(model), "--in-place"])
    assert result.exit_code == 0, result.output
    assert archlint.lint(model).findings == ()
    assert [p.name for p in tmp_path.iterdir()] == [model.name]  # no temporary file left


def test_cli_diff_writes_nothing(tmp_path: Path) -> None:
    model = _copy(FIXTURES / "AL303/bad.onnx.txt", tmp_path)
    result = CliRunner().invoke(cli, ["fix", str(model), "--diff", "--unsafe-fixes"])
    assert result.exit_code == 0, result.output
    assert "AL303 unsafe main/flatten: insert Transpose perm=[0, 2, 1, 3]" in result.output
    assert "out: changed (max abs diff" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [model.name]


def test_cli_json_report_lists_each_fix_and_the_proof(tmp_path: Path) -> None:
    import json

    out = tmp_path / "fixed.onnx"
    result = CliRunner().invoke(cli, ["fix", str(FIXTURES / "AL305/bad.onnx.txt"), "-o",
                                      str(out), "--unsafe-fixes", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["written"] and report["verified"] and report["problems"] == []
    assert [(a["code"], a["node"], a["safety"]) for a in report["applied"]] == [
        ("AL305", "gru_0", "unsafe"), ("AL305", "gru_1", "unsafe")]
    assert [f["code"] for f in report["findings_before"]] == ["AL305", "AL305"]
    assert report["findings_after"] == []
    changed = {o["name"]: o["changed"] for o in report["onnxruntime"]["outputs"]}
    assert changed == {"Y1": True, "h_n": True}


def test_cli_needs_an_output_or_diff(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fix", str(FIXTURES / "AL302/bad.onnx.txt")])
    assert result.exit_code == 2
    assert "give -o FILE" in result.output


def test_cli_lists_skipped_unsafe_fixes(tmp_path: Path) -> None:
    out = tmp_path / "fixed.onnx"
    result = CliRunner().invoke(cli, ["fix", str(FIXTURES / "AL304/bad.onnx.txt"), "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped AL304 main/to_sbhd" in result.output and "--unsafe-fixes" in result.output
    assert not out.exists()


# --- external data ---------------------------------------------------------------------------


def test_external_data_is_kept_beside_the_output_and_never_loaded(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    model = onnx.load(str(FIXTURES / "exported_defects/gru_l2_bi_dynamo.onnx"))
    path = source / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.data", size_threshold=100)  # the targets stay inline
    hashes = {p.name: _sha(p) for p in source.iterdir()}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = archlint.fix(path, out_dir / "fixed.onnx")
    assert [a.code for a in result.applied] == ["AL302"]
    assert {p.name: _sha(p) for p in source.iterdir()} == hashes
    assert _sha(out_dir / "model.data") == hashes["model.data"]
    # the weights stayed on disk: the fixed ModelProto refers to them, holds no bytes of them
    external = [t for t in result.model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert len(external) > 4 and all(not t.raw_data for t in external)
    assert result.comparison is not None and result.comparison.changed == ()
    assert result.comparison.original_error is None and result.comparison.fixed_error is None
    import onnxruntime as ort

    session = ort.InferenceSession(str(out_dir / "fixed.onnx"),
                                   providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((7, 3, 4)).astype(np.float32)
    assert session.run(None, {"x": x})[0].shape == (7, 3, 6)


def test_a_fix_that_fails_its_proof_is_not_written(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard itself: AL303's fix declared safe (it is not) changes an output, so the
    runtime proof fails, nothing is written and the command exits 1."""
    from archlint_rules.al303_direction_interleaved_with_batch import (
        DirectionInterleavedWithBatch,
    )

    from archlint.api import Fix

    real = DirectionInterleavedWithBatch.fix

    def claimed_safe(self: DirectionInterleavedWithBatch, finding: object, editor: object
                     ) -> Fix | None:
        fix = real(self, finding, editor)  # type: ignore[arg-type]
        return None if fix is None else Fix(fix.description, Safety.SAFE, fix.apply)

    monkeypatch.setattr(DirectionInterleavedWithBatch, "fix", claimed_safe)
    out = tmp_path / "fixed.onnx"
    result = CliRunner().invoke(cli, ["fix", str(FIXTURES / "AL303/bad.onnx.txt"), "-o",
                                      str(out)])
    assert result.exit_code == 1, result.output
    assert "problem: safe fixes changed output out in onnxruntime" in result.output
    assert "not written" in result.output
    assert list(tmp_path.iterdir()) == []  # no model, no temporary file
