"""Behaviour of the shape and attribute rules beyond their fixtures: the symbol policy,
"cannot check" on unknown shapes, one finding per defect, and no crash on any node."""

from __future__ import annotations

from pathlib import Path

import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from archlint.engine import Linter
from archlint.registry import load_rules

from .conftest import lint_text

HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'
OURS = ("AL1", "AL202", "AL203", "AL204", "AL21")


def _codes(text: str, tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    findings = lint_text(HEADER + text, tmp_path, select=OURS)
    return [(f.code, f.location.node, f.location.input or f.location.output) for f in findings]


def _gru(x: str, h0: str) -> str:
    return (f"g ({x} X, float[1, 9, 2] W, float[1, 9, 3] R, {h0} H0) => (float[?, ?, ?, ?] Y) "
            "{ [gru_0] Y = GRU <hidden_size: int = 3, linear_before_reset: int = 1> "
            "(X, W, R, , , H0) }")


def test_same_symbol_is_conformable(tmp_path: Path) -> None:
    assert _codes(_gru("float[seq, batch, 2]", "float[1, batch, 3]"), tmp_path) == []


def test_a_negative_declared_size_is_unknown_not_a_mismatch(tmp_path: Path) -> None:
    # dim_value = -1 is how many hand-edited and converted models say "dynamic";
    # onnxruntime runs X [-1, -1, 2] with an h0 of batch 2: no batch mismatch to report
    assert _codes(_gru("float[-1, -1, 2]", "float[1, 2, 3]"), tmp_path) == []
    assert _codes(_gru("float[5, 2, 2]", "float[1, 2, 3]"), tmp_path) == []
    # a real number still disagrees
    assert _codes(_gru("float[5, 4, 2]", "float[1, 2, 3]"), tmp_path) == [
        ("AL103", "gru_0", "initial_h")]


def test_symbol_against_number_or_other_symbol_is_not_reported(tmp_path: Path) -> None:
    assert _codes(_gru("float[seq, batch, 2]", "float[1, 5, 3]"), tmp_path) == []
    assert _codes(_gru("float[seq, n, 2]", "float[1, m, 3]"), tmp_path) == []


def test_two_different_numbers_are_an_error(tmp_path: Path) -> None:
    assert _codes(_gru("float[4, 2, 2]", "float[1, 5, 3]"), tmp_path) == [
        ("AL103", "gru_0", "initial_h")]


def test_batch_reference_falls_back_to_the_first_known_input(tmp_path: Path) -> None:
    text = ("g (float[seq, batch, 2] X, float[1, 9, 2] W, float[1, 9, 3] R, int32[2] L, "
            "float[1, 3, 3] H0) => (float[?, ?, ?, ?] Y) "
            "{ [gru_0] Y = GRU <hidden_size: int = 3, linear_before_reset: int = 1> "
            "(X, W, R, , L, H0) }")
    findings = lint_text(HEADER + text, tmp_path, select=("AL103",))
    assert [(f.code, f.location.input, f.expected, f.actual) for f in findings] == [
        ("AL103", "initial_h", "[1, 2, 3]", "[1, 3, 3]")]


def test_unknown_shapes_mean_cannot_check(tmp_path: Path) -> None:
    # X and the weights come from ops whose output shapes nothing can infer.
    text = ("g (float[?, ?] A, float[?] S, int64[?] T) => (float[?, ?, ?, ?] Y) "
            "{ X = Reshape (A, T)\n W = Reshape (S, T)\n R = Reshape (S, T)\n"
            "  [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R) }")
    assert _codes(text, tmp_path) == []


def test_wrong_rank_is_one_finding_not_a_cascade(tmp_path: Path) -> None:
    # W [12, 2] is rank 2; AL201 and AL102 must not read its axes as [D, 4H, I].
    text = ("g (float[4, 2, 2] X, float[12, 2] W, float[1, 12, 3] R) => (float[4, 1, 2, 3] Y) "
            "{ [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R) }")
    findings = lint_text(HEADER + text, tmp_path)
    assert [(f.code, f.location.input) for f in findings] == [("AL101", "W")]


def test_missing_hidden_size_with_a_bad_bias_gives_two_findings(tmp_path: Path) -> None:
    text = ("g (float[4, 2, 2] X, float[1, 12, 2] W, float[1, 12, 3] R, float[1, 12] B) "
            "=> (float[4, 1, 2, 3] Y) { [lstm_0] Y = LSTM (X, W, R, B) }")
    findings = lint_text(HEADER + text, tmp_path)
    assert sorted((f.code, f.location.input or f.location.attribute, f.expected)
                  for f in findings) == [("AL201", "B", "[1, 24]"),
                                         ("AL202", "hidden_size", "3")]


def test_untransposed_keras_kernel_is_reported_once_by_al201(tmp_path: Path) -> None:
    # W [1, I=2, 4H=12] instead of [1, 12, 2]: the gate axis and the input axis are both off.
    text = ("g (float[4, 2, 2] X, float[1, 2, 12] W, float[1, 12, 3] R) => (float[4, 1, 2, 3] Y) "
            "{ [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R) }")
    findings = lint_text(HEADER + text, tmp_path)
    assert [(f.code, f.location.input) for f in findings] == [("AL201", "W")]
    assert "untransposed Keras kernel" in (findings[0].help or "")


def test_wrong_typed_hidden_size_is_not_also_missing(tmp_path: Path) -> None:
    text = ("g (float[4, 2, 2] X, float[1, 12, 2] W, float[1, 12, 3] R) => (float[4, 1, 2, 3] Y) "
            "{ [lstm_0] Y = LSTM <hidden_size: string = \"3\"> (X, W, R) }")
    assert _codes(text, tmp_path) == [("AL217", "lstm_0", None)]


_DIMS = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 9, 12, 24]), st.sampled_from(["a", "b"]),
                  st.none())
_SHAPES = st.one_of(st.none(), st.lists(_DIMS, max_size=5))
_NAMES = st.lists(st.sampled_from(["Tanh", "Sigmoid", "Relu", "Foo", "tanh", "Affine"]),
                  min_size=1, max_size=7)
_FLOATS = st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=1, max_size=4)
_ANY = st.one_of(st.integers(-3, 30), st.floats(-2, 2, allow_nan=False, width=32),
                 st.text("abcTanh", max_size=6), _NAMES, _FLOATS)
# Per attribute: mostly a value of the right type (so the rules get past their guards), and
# sometimes anything at all.
_ATTRS = st.fixed_dictionaries({}, optional={
    "hidden_size": st.one_of(st.integers(-2, 6), _ANY),
    "direction": st.one_of(st.sampled_from(["forward", "reverse", "bidirectional", "up"]), _ANY),
    "layout": st.one_of(st.integers(-1, 3), _ANY),
    "activations": st.one_of(_NAMES, _ANY),
    "activation_alpha": st.one_of(_FLOATS, _ANY),
    "activation_beta": st.one_of(_FLOATS, _ANY),
    "clip": st.one_of(st.floats(-2, 2, allow_nan=False, width=32), _ANY),
    "input_forget": st.one_of(st.integers(-1, 3), _ANY),
    "linear_before_reset": st.one_of(st.integers(-1, 3), _ANY),
    "odd": _ANY,
})
_SLOTS = ("X", "W", "R", "B", "L", "H0", "C0", "P")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["LSTM", "GRU", "RNN"]),
       shapes=st.lists(_SHAPES, min_size=8, max_size=8), attrs=_ATTRS,
       n_inputs=st.integers(1, 8), lens=st.lists(st.integers(-5, 20), max_size=4),
       int64_lens=st.booleans())
def test_no_rule_crashes_on_any_recurrent_node(
    tmp_path: Path, op: str, shapes: list[list[object] | None], attrs: dict[str, object],
    n_inputs: int, lens: list[int], int64_lens: bool,
) -> None:
    slots = _SLOTS[:n_inputs if op == "LSTM" else min(n_inputs, 6)]
    inputs, inits = [], []
    for slot, shape in zip(slots, shapes, strict=False):
        if slot == "L" and lens:
            dtype = TensorProto.INT64 if int64_lens else TensorProto.INT32
            inits.append(helper.make_tensor("L", dtype, [len(lens)], lens))
            continue
        dtype = TensorProto.INT32 if slot == "L" else TensorProto.FLOAT
        inputs.append(helper.make_tensor_value_info(slot, dtype, shape))
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
               for n, s in zip(("Y", "Y_h"), shapes[:2], strict=True)]
    node = helper.make_node(op, slots, ["Y", "Y_h"], name="rec_0", **attrs)
    graph = helper.make_graph([node], "fuzz", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "fuzz.onnx"
    onnx.save_model(model, path)
    report = Linter(load_rules().rules).lint_file(path)
    assert report.error is None
    crashed = [f.message for f in report.findings if f.code == "AL000"]
    assert crashed == []


def test_cell_state_is_hidden_size_wide(tmp_path: Path) -> None:
    # A "cell size" of 5 for an LSTM with H = 3: initial_c must be H wide, like initial_h.
    text = ("g (float[4, 2, 2] X, float[1, 12, 2] W, float[1, 12, 3] R, float[1, 2, 3] H0, "
            "float[1, 2, 5] C0) => (float[4, 1, 2, 3] Y) "
            "{ [lstm_cell] Y = LSTM <hidden_size: int = 3> (X, W, R, , , H0, C0) }")
    findings = lint_text(HEADER + text, tmp_path)
    assert [(f.code, f.location.input, f.expected, f.actual) for f in findings] == [
        ("AL201", "initial_c", "[1, 2, 3]", "[1, 2, 5]")]
    assert "there is no separate cell size" in (findings[0].help or "")
    assert "MatMul" in (findings[0].help or "")


def test_missing_hidden_size_names_the_weights_when_r_has_no_last_axis_known(
    tmp_path: Path,
) -> None:
    text = ("g (float[4, 2, 2] X, float[1, 12, 2] W, float[1, 12, k] R) => (float[4, 1, 2, 3] Y) "
            "{ [lstm_0] Y = LSTM (X, W, R) }")
    findings = lint_text(HEADER + text, tmp_path, select=("AL202",))
    assert [(f.message, f.expected) for f in findings] == [
        ("LSTM 'lstm_0' has no hidden_size attribute; the weights imply hidden_size=3", "3")]
