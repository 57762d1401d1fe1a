"""Layout rules AL302-AL313: each bad fixture is a real model that onnxruntime runs (silent
bugs, with the wrong numbers shown) or fails on at another size (baked shapes), and archlint
names the exact node; the good fixture and the real exports stay clean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from archlint.engine import Linter
from archlint.registry import load_rules, select_rules

from .conftest import FIXTURES, invoke, lint_text
from .layout_support import codes_and_nodes, fixture_model, lint, run_ort

EXPORTED = FIXTURES / "exported"


# --- AL302 baked shape -----------------------------------------------------------------------
def test_al302_flags_the_dynamo_export_reshape_that_onnxruntime_fails_on() -> None:
    findings = lint(EXPORTED / "lstm_l2_bi_dynamo.onnx")
    assert codes_and_nodes(findings) == [("AL302", "node_Reshape_236")]
    finding = findings[0]
    assert finding.actual == "[5, -1, 6]"
    assert finding.expected == "[0, -1, 6] with allowzero=0"
    assert "'seq'" in finding.message and "'x'" in finding.message
    model = onnx.load(EXPORTED / "lstm_l2_bi_dynamo.onnx")
    assert run_ort(model, {"seq": 5, "batch": 3})["output"].shape == (5, 3, 6)
    with pytest.raises(OrtFail,
                       match="node_Reshape_236"):
        run_ort(model, {"seq": 7, "batch": 3})


def test_al302_classic_export_is_clean_and_runs_at_any_length() -> None:
    assert lint(EXPORTED / "lstm_l2_bi_classic.onnx") == ()
    model = onnx.load(EXPORTED / "lstm_l2_bi_classic.onnx")
    assert run_ort(model, {"seq": 7, "batch": 3})["output"].shape == (7, 3, 6)


def test_al302_fixture_fails_in_onnxruntime_at_another_sequence_length() -> None:
    bad = fixture_model("AL302", "bad")
    assert run_ort(bad, {"seq": 5, "batch": 2})["out"].shape == (5, 2, 6)
    with pytest.raises(OrtFail, match="flatten"):
        run_ort(bad, {"seq": 7, "batch": 2})
    good = fixture_model("AL302", "good")
    assert run_ort(good, {"seq": 7, "batch": 2})["out"].shape == (7, 2, 6)
    assert codes_and_nodes(lint(FIXTURES / "AL302" / "bad.onnx.txt")) == [("AL302", "flatten")]


# --- AL303 / AL304: folding the direction axis ------------------------------------------------
def _pytorch_order(y: np.ndarray) -> np.ndarray:
    """What PyTorch returns for a bidirectional Y [seq, 2, batch, H]: [seq, batch, 2·H]."""
    seq, _, batch, hidden = y.shape
    return np.concatenate([y[:, 0], y[:, 1]], axis=-1).reshape(seq, batch, 2 * hidden)


@pytest.mark.parametrize(("code", "node"), [("AL303", "flatten"), ("AL304", "to_sbhd")])
def test_misfolded_direction_runs_silently_with_wrong_features(code: str, node: str) -> None:
    dims = {"seq": 4, "batch": 3}
    good = run_ort(fixture_model(code, "good"), dims)["out"]
    bad = run_ort(fixture_model(code, "bad"), dims)["out"]
    assert bad.shape == good.shape == (4, 3, 6)  # runs, same shape: nothing fails
    assert not np.allclose(bad, good)  # ...but the features are others
    assert codes_and_nodes(lint(FIXTURES / code / "bad.onnx.txt")) == [(code, node)]


def test_good_fold_matches_pytorch_order() -> None:
    model = fixture_model("AL303", "good")
    model.graph.output.append(
        onnx.helper.make_tensor_value_info("Y", 1, None))
    out = run_ort(model, {"seq": 4, "batch": 3})
    np.testing.assert_allclose(out["out"], _pytorch_order(out["Y"]))


# --- AL311 PyTorch GRU linear_before_reset ------------------------------------------------------
def test_al311_linear_before_reset_changes_the_numbers() -> None:
    dims = {"seq": 4, "batch": 2}
    bad = run_ort(fixture_model("AL311", "bad"), dims)["Y"]
    good = run_ort(fixture_model("AL311", "good"), dims)["Y"]
    assert bad.shape == good.shape
    assert not np.allclose(bad, good)
    assert codes_and_nodes(lint(FIXTURES / "AL311" / "bad.onnx.txt")) == [("AL311", "gru_0")]


def test_al311_ignores_other_producers(tmp_path) -> None:
    text = (FIXTURES / "AL311" / "bad.onnx.txt").read_text().replace('"pytorch"', '"tf2onnx"')
    path = tmp_path / "other.onnx.txt"
    path.write_text(text)
    assert lint(path, ["AL311"]) == ()


# --- AL305 / AL306 / AL307: multi-layer and h/c state wiring -----------------------------------
@pytest.mark.parametrize(("code", "output", "nodes"), [
    ("AL305", "Y1", ["gru_0", "gru_1"]),
    ("AL306", "h_n", ["cat_h", "cat_c"]),
    ("AL307", "Y2", ["decoder", "side"]),
])
def test_state_wiring_bugs_run_silently_with_other_numbers(
    code: str, output: str, nodes: list[str]
) -> None:
    dims = {"seq": 4, "seq2": 3, "batch": 2}
    good = run_ort(fixture_model(code, "good"), dims)
    bad = run_ort(fixture_model(code, "bad"), dims)
    assert bad[output].shape == good[output].shape
    assert not np.allclose(bad[output], good[output])
    assert codes_and_nodes(lint(FIXTURES / code / "bad.onnx.txt")) == [(code, n) for n in nodes]


def test_al305_expected_rows_follow_layer_index() -> None:
    findings = lint(FIXTURES / "AL305" / "bad.onnx.txt", ["AL305"])
    assert [(f.location.node, f.expected, f.actual) for f in findings] == [
        ("gru_0", "rows [0, 1)", "rows [1, 2)"), ("gru_1", "rows [1, 2)", "rows [0, 1)")]


def test_al307_side_lstm_also_differs_when_c_is_fed_h() -> None:
    dims = {"seq": 4, "seq2": 3, "batch": 2}
    good = run_ort(fixture_model("AL307", "good"), dims)["Y3"]
    bad = run_ort(fixture_model("AL307", "bad"), dims)["Y3"]
    assert not np.allclose(bad, good)


# --- AL308 / AL309 / AL312: the batch axis of the states ----------------------------------------
@pytest.mark.parametrize(("code", "output", "nodes"), [
    ("AL308", "Y", ["lstm_0", "lstm_0"]),
    ("AL309", "Y", ["lstm_0", "lstm_0"]),
    ("AL312", "Y1", ["lstm_1"]),
])
def test_state_batch_bugs_work_for_batch_1_only(code: str, output: str, nodes: list[str]) -> None:
    bad = fixture_model(code, "bad")
    assert run_ort(bad, {"seq": 4, "batch": 1, "N": 1})[output].shape[-2] == 1
    with pytest.raises((OrtFail, InvalidArgument)):
        run_ort(bad, {"seq": 4, "batch": 2, "N": 2})
    good = run_ort(fixture_model(code, "good"), {"seq": 4, "batch": 2})
    assert good[output].shape[-2] == 2
    assert codes_and_nodes(lint(FIXTURES / code / "bad.onnx.txt")) == [(code, n) for n in nodes]


def test_al309_severity_depends_on_fixed_or_other_symbol() -> None:
    findings = lint(FIXTURES / "AL309" / "bad.onnx.txt", ["AL309"])
    assert [(f.location.input, f.severity.value, f.actual) for f in findings] == [
        ("initial_c", "error", "1"), ("initial_h", "warning", "'N'")]


def test_al312_names_the_direction_axis() -> None:
    [finding] = lint(FIXTURES / "AL312" / "bad.onnx.txt", ["AL312"])
    assert "axis 1 of 'Y0'" in finding.message
    assert finding.actual == "D axis of Y of LSTM 'lstm_0'"


# --- AL310: state layout vs the layout attribute -------------------------------------------------
def test_al310_layout1_with_seq_major_state_is_silent_in_the_reference_runtime() -> None:
    from onnx.reference import ReferenceEvaluator

    good, bad = fixture_model("AL310", "good"), fixture_model("AL310", "bad")
    # onnxruntime's CPU kernels refuse layout=1 outright; onnx's reference runtime runs it.
    with pytest.raises(OrtFail, match="layout"):
        run_ort(good, {"seq": 4, "batch": 3})
    rng = np.random.default_rng(0)
    feeds = {"X": rng.standard_normal((3, 4, 4)), "h0": rng.standard_normal((1, 3, 3)),
             "W": rng.standard_normal((1, 12, 4)), "R": rng.standard_normal((1, 12, 3))}
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    y_good = ReferenceEvaluator(good).run(None, feeds)[0]
    y_bad = ReferenceEvaluator(bad).run(None, feeds)[0]
    assert y_bad.shape == y_good.shape == (3, 4, 1, 3)  # runs, right shape
    assert not np.allclose(y_bad, y_good)  # ...from the wrong initial state
    assert codes_and_nodes(lint(FIXTURES / "AL310" / "bad.onnx.txt")) == [("AL310", "lstm_bf")]


def test_al310_reverse_batch_major_state_on_layout0_fails_for_batch_2(tmp_path) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    rev (float[seq, batch, 4] X, float[batch, 1, 3] h0, float[1, 9, 4] W, float[1, 9, 3] R)
        => (float[seq, 1, batch, 3] Y)
    { [gru_sf] Y, Y_h = GRU <hidden_size: int = 3> (X, W, R, , , h0) }"""
    model = onnx.parser.parse_model(text)
    assert run_ort(model, {"seq": 4, "batch": 1})["Y"].shape == (4, 1, 1, 3)
    with pytest.raises(OrtFail):
        run_ort(model, {"seq": 4, "batch": 2})
    path = tmp_path / "rev.onnx"
    onnx.save_model(model, path)
    findings = lint(path)
    assert codes_and_nodes(findings) == [("AL310", "gru_sf")]
    assert findings[0].expected == "[D, batch, H]"


# --- AL313: stacked input size -----------------------------------------------------------------
def test_al313_stacked_input_size_fails_in_onnxruntime_only_at_run_time() -> None:
    bad = fixture_model("AL313", "bad")
    session = ort.InferenceSession(bad.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session is not None  # it loads: the mismatch is invisible until run time
    with pytest.raises((OrtFail, InvalidArgument)):
        run_ort(bad, {"seq": 4, "batch": 2})
    assert run_ort(fixture_model("AL313", "good"), {"seq": 4, "batch": 2})["Y1"].shape == \
        (4, 1, 2, 3)
    [finding] = lint(FIXTURES / "AL313" / "bad.onnx.txt")
    assert (finding.code, finding.location.node, finding.expected, finding.actual) == (
        "AL313", "lstm_1", "I = D·H = 6", "I = 3")


# --- robustness: models the rules do not understand ---------------------------------------------
ODD_MODELS = {
    "transpose_without_perm_and_computed_reshape": """
      odd (float[seq, batch, 4] X, float[2, 12, 4] W, float[2, 12, 3] R, int64[3] T)
          => (float[a, b, c] out) {
        [lstm] Y, Yh = LSTM <hidden_size: int = 3, direction: string = "bidirectional"> (X, W, R)
        [t] Yt = Transpose (Y)
        [r] out = Reshape (Yt, T)
      }""",
    "bad_perm_and_gather_of_states": """
      odd (float[seq, batch, 4] X, float[1, 12, 4] W, float[1, 12, 3] R, float[4, batch, 3] S,
           int64[2] idx) => (float[a, b, c, d] out) {
        [g] h = Gather <axis: int = 0> (S, idx)
        [lstm] Y, Yh, Yc = LSTM <hidden_size: int = 3> (X, W, R, , , h, h)
        [t] out = Transpose <perm: ints = [0, 0, 1, 2]> (Y)
      }""",
    "negative_slice_step_and_unknown_direction": """
      odd (float[seq, batch, 4] X, float[2, 9, 4] W, float[2, 9, 3] R, float[4, batch, 3] S)
          => (float[a, b, c, d] Y) {
        [s] st = Constant <value: tensor = int64[1] {3}> ()
        [e] en = Constant <value: tensor = int64[1] {0}> ()
        [ax] ax = Constant <value: tensor = int64[1] {0}> ()
        [step] sp = Constant <value: tensor = int64[1] {-1}> ()
        [sl] h = Slice (S, st, en, ax, sp)
        [gru] Y, Yh = GRU <hidden_size: int = 3, direction: string = "sideways"> (X, W, R, , , h)
        [cat] hn = Concat <axis: int = 2> (Yh)
      }""",
    "state_shape_from_float_mul": """
      odd (float[seq, batch, 4] X, float[1, 3, 4] W, float[1, 3, 3] R) => (float[a, b, c] out) {
        [sh] s = Shape (X)
        [m] s2 = Mul (s, s)
        [z] h0 = ConstantOfShape (s2)
        [rnn] Y, Yh = RNN <hidden_size: int = 3> (X, W, R, , , h0)
        [e] out = Expand (Yh, s2)
      }""",
}


@pytest.mark.parametrize("name", sorted(ODD_MODELS))
def test_layout_rules_never_crash_on_odd_models(name: str, tmp_path) -> None:
    text = '<ir_version: 8, opset_import: ["" : 17]>\n' + ODD_MODELS[name]
    path = tmp_path / f"{name}.onnx"
    onnx.save_model(onnx.parser.parse_model(text), path)
    findings = lint(path, ["AL3"])
    assert [f.message for f in findings if f.code == "AL000"] == []


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_layout_rules_never_crash_on_mutated_exports(data: st.DataObject, tmp_path) -> None:
    """Random perms, Constant values and dropped inputs in real exports: no rule crashes."""
    name = data.draw(st.sampled_from(["lstm_l2_bi_classic.onnx", "lstm_l2_bi_dynamo.onnx",
                                      "gru_l3_bi_bf_h0.onnx", "lstm_l2_bi_sf_h0.onnx"]))
    model = onnx.load(EXPORTED / name)
    nodes = list(model.graph.node)
    for _ in range(data.draw(st.integers(1, 6))):
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        small_ints = st.lists(st.integers(-3, 7), min_size=0, max_size=5)
        if node.op_type == "Transpose":
            del node.attribute[:]
            node.attribute.append(onnx.helper.make_attribute(
                "perm", data.draw(small_ints), attr_type=onnx.AttributeProto.INTS))
        elif node.op_type == "Constant":
            values = data.draw(small_ints)
            del node.attribute[:]
            node.attribute.append(onnx.helper.make_attribute(
                "value", onnx.helper.make_tensor("v", onnx.TensorProto.INT64, [len(values)],
                                                 values)))
        elif len(node.input) > 1 and data.draw(st.booleans()):
            node.input[data.draw(st.integers(1, len(node.input) - 1))] = ""
    path = tmp_path / "mutated.onnx"
    onnx.save_model(model, path)
    report = Linter(select_rules(load_rules().rules, ["AL3"])).lint_file(path)
    assert [f.message for f in report.findings if f.code == "AL000"] == []


_AL302_MORE = """<ir_version: 8, opset_import: ["" : 17]>
more (float[seq, batch, 4] X, float[1, 12, 4] W, float[1, 12, 3] R)
    => (float[seq, 1, batch, 3] out, float[1, batch, 3] hb, float[1, a, 3] flat) {
  [lstm] Y, Yh, Yc = LSTM <hidden_size: int = 3> (X, W, R)
  [bias_shape] s = Constant <value: tensor = int64[4] {5, 1, 2, 3}> ()
  [bias] b = ConstantOfShape (s)
  [add] out = Add (Y, b)
  [h_shape] hs = Constant <value: tensor = int64[3] {1, 2, 3}> ()
  [expand_h] hb = Expand (Yh, hs)
  [unit] us = Constant <value: tensor = int64[3] {1, -1, 3}> ()
  [unit_axis] flat = Reshape (Y, us)
}"""


def test_al302_constant_of_shape_and_expand_bake_seq_and_batch(tmp_path) -> None:
    model = onnx.parser.parse_model(_AL302_MORE)
    assert run_ort(model, {"seq": 5, "batch": 2})["out"].shape == (5, 1, 2, 3)
    for dims in ({"seq": 7, "batch": 2}, {"seq": 5, "batch": 3}):
        with pytest.raises((OrtFail, InvalidArgument)):
            run_ort(model, dims)
    path = tmp_path / "more.onnx"
    onnx.save_model(model, path)
    findings = lint(path, ["AL302"])
    # Reshape [1, -1, 3] inserts a unit axis and merges the rest: nothing is baked there.
    assert [(f.location.node, f.actual) for f in findings] == [
        ("bias", "[5, 1, 2, 3]"), ("expand_h", "[1, 2, 3]")]
    assert "'batch'" in findings[1].message and "'seq'" not in findings[1].message


def test_al307_gru_encoder_hidden_state_may_seed_a_cell_state(tmp_path) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    seed (float[seq, batch, 4] X, float[1, 9, 4] Wg, float[1, 9, 3] Rg, float[1, 12, 4] W,
          float[1, 12, 3] R) => (float[seq, 1, batch, 3] Y2) {
      [enc] Y, h = GRU <hidden_size: int = 3, linear_before_reset: int = 1> (X, Wg, Rg)
      [dec] Y2, h2, c2 = LSTM <hidden_size: int = 3> (X, W, R, , , h, h)
    }"""
    path = tmp_path / "seed.onnx"
    onnx.save_model(onnx.parser.parse_model(text), path)
    assert lint(path, ["AL307"]) == ()


# --- real exports with defects (fixtures/exported_defects, made by its script) ------------------
DEFECTS = FIXTURES / "exported_defects"


def test_real_export_with_dynamic_axes_on_x_only_is_flagged_once_per_state_input() -> None:
    path = DEFECTS / "lstm_l2_bi_x_only_dynamic.onnx"
    findings = lint(path)
    assert [(f.code, f.location.node, f.location.input, f.actual) for f in findings] == [
        ("AL309", "/LSTM", "initial_c", "2"), ("AL309", "/LSTM", "initial_h", "2")]
    assert all(f.severity.value == "error" for f in findings)
    model = onnx.load(path)
    assert run_ort(model, {"seq": 7, "batch": 2})["out"].shape == (7, 2, 6)
    states = {n: np.zeros((4, 3, 3), np.float32) for n in ("h0", "c0")}
    with pytest.raises(InvalidArgument, match="h0"):  # batch-3 states are refused at the door
        run_ort(model, {"seq": 7, "batch": 3}, values=states)
    with pytest.raises(OrtFail, match="initial_h"):  # batch-2 states do not fit batch-3 x
        run_ort(model, {"seq": 7, "batch": 3})


def test_real_dynamo_gru_export_bakes_the_sequence_length() -> None:
    path = DEFECTS / "gru_l2_bi_dynamo.onnx"
    assert codes_and_nodes(lint(path)) == [("AL302", "node_Reshape_178")]
    model = onnx.load(path)
    assert run_ort(model, {"seq": 5, "batch": 3})["getitem"].shape == (5, 3, 6)
    with pytest.raises(OrtFail, match="node_Reshape_178"):
        run_ort(model, {"seq": 7, "batch": 3})


@pytest.mark.parametrize(("path", "reshape", "output"), [
    # nn.LSTM(4, 5): Y [seq, batch, 1, 5] loses its direction axis in a Reshape to [5, -1, 5]:
    # the size-1 axis no longer hides that the 5 stands for seq
    (DEFECTS / "lstm_uni_dynamo.onnx", "node_Reshape_83", "getitem"),
    # nn.LSTM(4, 5, num_layers=2) called with (h0, c0): the same Reshape after the second layer
    (DEFECTS / "lstm_l2_states_dynamo.onnx", "node_Reshape_128", "y"),
    # ... and quantize_dynamic's copy: both layers DynamicQuantizeLSTM (read as LSTMs by
    # inference)
    (FIXTURES / "dynamic_quantized" / "exported_defects_lstm_l2_states_dynamo_dynamic.onnx",
     "node_Reshape_128", "y"),
], ids=["one-direction", "streaming", "streaming-dynamic-quantized"])
def test_real_dynamo_export_of_a_one_direction_lstm_bakes_the_sequence_length(
    path: Path, reshape: str, output: str,
) -> None:
    [finding] = lint(path)
    assert (finding.code, finding.location.node, finding.expected, finding.actual) == (
        "AL302", reshape, "[0, -1, 5] with allowzero=0", "[5, -1, 5]")
    model = onnx.load(path)
    assert run_ort(model, {"seq": 5, "batch": 3})[output].shape == (5, 3, 5)
    with pytest.raises(OrtFail, match=reshape):
        run_ort(model, {"seq": 7, "batch": 3})


def test_real_export_of_the_last_layers_states_viewed_as_batch_rows() -> None:
    """h_n[-2:].reshape(batch, -1) of a 2-layer bidirectional LSTM: h_n is the Concat of the
    layers' Y_h and [-2:] a Slice of the last layer's rows, the same [D, batch, H] as its
    Y_h; the Reshape folds D into batch (the walk stopped at the Concat: no finding)."""
    path = DEFECTS / "lstm_l2_bi_hn_last_view_classic.onnx"
    [finding] = lint(path)
    assert (finding.code, finding.location.node, finding.expected) == (
        "AL303", "/Reshape", "Transpose perm=[1, 0, 2] before the Reshape")
    assert "Y_h of bidirectional LSTM '/lstm/LSTM_1'" in finding.message
    entry = json.loads((DEFECTS / "manifest.json").read_text())[path.name]
    assert entry["max_abs_diff_to_torch_cat_of_the_last_layer"] > 0.1
    assert run_ort(onnx.load(path), {"seq": 7, "batch": 3})["y"].shape == (3, 6)


_STACKED_STATES = """
<ir_version: 8, opset_import: ["" : 17]>
stacked (float[seq, batch, 4] X, float[2, 12, 4] W1, float[2, 12, 3] R1, float[2, 12, 6] W2,
         float[2, 12, 3] R2) => (float[batch, {width}] features)
{{
  [lstm_1] Y1, H1 = LSTM <hidden_size: int = 3, direction: string = "bidirectional"> (X, W1, R1)
  [to_seq] T1 = Transpose <perm = [0, 2, 1, 3]> (Y1)
  [merge] X2 = Reshape (T1, merge_shape)
  [lstm_2] Y2, H2 = LSTM <hidden_size: int = 3, direction: string = "bidirectional"> (X2, W2, R2)
  [h_n] h_n = Concat <axis: int = 0> (H1, H2)
  [rows] picked = Slice (h_n, starts, ends, axes)
  [view] features = Reshape (picked, target)
}}
"""


@pytest.mark.parametrize(("starts", "ends", "width", "found"), [
    (-2, 2**62, 6, ["view"]),  # h_n[-2:]: the last layer's two rows
    (2, 4, 6, ["view"]),
    (0, 2, 6, ["view"]),  # the first layer's
    (-4, 2**62, 12, []),  # both layers: not one Y_h (no claim)
    (1, 3, 6, []),  # one row of each layer
    (-1, 2**62, 3, []),  # one direction: nothing to interleave
])
def test_a_state_sliced_out_of_the_stacks_h_n_is_followed_to_its_reshape(
    tmp_path: Path, starts: int, ends: int, width: int, found: list[str],
) -> None:
    model = onnx.parser.parse_model(_STACKED_STATES.format(width=width))
    model.graph.initializer.extend([
        onnx.numpy_helper.from_array(np.array([0, 0, -1], np.int64), "merge_shape"),
        onnx.numpy_helper.from_array(np.array([starts], np.int64), "starts"),
        onnx.numpy_helper.from_array(np.array([ends], np.int64), "ends"),
        onnx.numpy_helper.from_array(np.array([0], np.int64), "axes"),
        onnx.numpy_helper.from_array(np.array([-1, width], np.int64), "target"),
    ])
    path = tmp_path / "stacked.onnx"
    onnx.save(model, path)
    assert [f.location.node for f in lint(path, ["AL303"])] == found


def test_real_dynamo_export_of_a_flattening_view_needs_a_multiple_of_the_example_length(
) -> None:
    """y.contiguous().view(batch, -1) of a time-major LSTM: the target [-1, 25] bakes seq x H.
    It runs where seq x batch is a multiple of 5 (regrouping rows), fails elsewhere."""
    path = DEFECTS / "lstm_view_flat_dynamo.onnx"
    [finding] = lint(path)
    assert (finding.code, finding.severity.value, finding.location.node, finding.actual) == (
        "AL302", "warning", "node_Reshape_91", "[-1, 25]")
    assert "need a factor 5" in finding.message and "'seq' × 'batch'" in finding.message
    model = onnx.load(path)
    [output] = [o.name for o in model.graph.output]
    assert run_ort(model, {"seq": 5, "batch": 3})[output].shape == (3, 25)
    assert run_ort(model, {"seq": 10, "batch": 2})[output].shape == (4, 25)  # torch: (2, 50)
    with pytest.raises(OrtFail, match="node_Reshape_91"):
        run_ort(model, {"seq": 7, "batch": 3})


@pytest.mark.parametrize(("shape", "target", "factor"), [
    (("seq", "batch", 1, 5), (-1, 25), 5),
    (("seq", "batch", 2, 3), (-1, 6), None),  # the numbers come from the fixed axes
    (("batch", "seq", 4), (-1, 2), None),
    (("seq", "batch", 5), (0, -1, 10), None),  # a 0 copies an axis: aligned, not multiplied
    (("seq", "batch", 5), (-1, 10), 2),
    (("seq", None, 5), (-1, 10), None),  # an unknown axis may be anything
    (("seq", "other", 5), (-1, 10), None),  # a symbol no graph input declares
    ((3, 5), (-1, 10), None),  # nothing dynamic
])
def test_dynamic_factor(shape, target, factor) -> None:
    from archlint_rules.al302_baked_shape_after_recurrent import _dynamic_factor

    assert _dynamic_factor(shape, target, {"seq": "x", "batch": "x"}) == factor


@pytest.mark.parametrize(("declared", "shape", "target", "baked"), [
    # darts' fc(out).view(batch, -1, 2, 1) traced at 12 steps: the 12 is the traced time
    (("batch", 12, 2), ("batch", "time", 2), (-1, 12, 2, 1), [(1, 1, "time")]),
    ((12, "batch", 2), ("time", "batch", 2), (12, -1, 2), [(0, 0, "time")]),
    (("batch", 12, 2), ("batch", "time", 2), (-1, 24, 1), []),  # not the declaration
    (("batch", 12, 2), ("batch", "time", 2), (-1, 2), []),  # the -1 takes time too
    (("batch", 12, 2), ("batch", "time", 2), (2, -1, 2), []),  # the -1 at the traced axis
    (("batch", 12, 2), ("batch", "other", 2), (-1, 12, 2), []),  # no graph input's symbol
    (("batch", 12, 2), ("batch", "time", 2), (0, 12, 2), []),  # a 0: aligned elsewhere
    (("batch", 12, 2), ("batch", "time", 2), (-1, 12, 2, -1), []),  # two -1: not a Reshape
])
def test_traced_axes(declared, shape, target, baked) -> None:
    from archlint_rules.al302_baked_shape_after_recurrent import _traced_axes

    assert _traced_axes(declared, shape, target, {"time": "x", "batch": "x"}) == baked


def test_real_dynamo_export_of_a_batch_first_bilstm_with_a_head_declares_the_example_length(
) -> None:
    """X keeps seq dynamic, but the transposed Y and the output are declared with the export
    example's 5: onnxruntime runs seq 7 and its output does not match the declaration."""
    path = DEFECTS / "lstm_bi_bf_head_dynamo.onnx"
    findings = lint(path, ["ALL"])
    assert [(f.code, f.location.node, f.location.tensor, f.expected, f.actual)
            for f in findings] == [("AL316", "node_lstm__0", "getitem", "[batch, seq, ?]",
                                    "[batch, 5, 6]")]
    model = onnx.load(path)
    declared = [d.dim_param or d.dim_value for d in
                model.graph.output[0].type.tensor_type.shape.dim]
    assert declared == ["batch", 5, 2]
    assert run_ort(model, {"batch": 3, "seq": 7})["linear"].shape == (3, 7, 2)


def test_real_dynamo_export_of_a_projected_lstm_is_an_error_that_names_proj_size() -> None:
    path = DEFECTS / "lstm_proj_dynamo.onnx"
    findings = lint(path, ["ALL"])
    assert [(f.code, f.severity.value, f.location.input or f.location.output, f.actual)
            for f in findings if f.code != "AL001"] == [
        ("AL201", "error", "Y_c", "[1, 2, 6]"), ("AL201", "error", "initial_c", "[1, 2, 6]")]
    assert all("proj_size" in (f.help or "") for f in findings if f.code == "AL201")
    # onnx's inference refuses the declared Y_c too: a warning that it could not check
    assert [f.severity.value for f in findings if f.code == "AL001"] == ["warning"]
    with pytest.raises(OrtFail, match="initial_c must have shape"):
        run_ort(onnx.load(path), {})


def test_al308_one_finding_for_a_constant_state_sliced_for_a_whole_stack(tmp_path) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    stack (float[seq, batch, 4] X, float[1, 9, 4] W0, float[1, 9, 3] R0, float[1, 9, 3] W1,
           float[1, 9, 3] R1) => (float[seq, 1, batch, 3] Y1) {
      [shape] s = Constant <value: tensor = int64[3] {2, 1, 3}> ()
      [zeros] z = ConstantOfShape (s)
      [a0] a0 = Constant <value: tensor = int64[1] {0}> ()
      [a1] a1 = Constant <value: tensor = int64[1] {1}> ()
      [a2] a2 = Constant <value: tensor = int64[1] {2}> ()
      [s0] h0 = Slice (z, a0, a1, a0)
      [s1] h1 = Slice (z, a1, a2, a0)
      [gru_0] Y0, Yh0 = GRU <hidden_size: int = 3> (X, W0, R0, , , h0)
      [sq] X1 = Squeeze (Y0, a1)
      [gru_1] Y1, Yh1 = GRU <hidden_size: int = 3> (X1, W1, R1, , , h1)
    }"""
    model = onnx.parser.parse_model(text)
    assert run_ort(model, {"seq": 3, "batch": 1})["Y1"].shape == (3, 1, 1, 3)
    with pytest.raises(OrtFail):
        run_ort(model, {"seq": 3, "batch": 2})
    path = tmp_path / "stack.onnx"
    onnx.save_model(model, path)
    assert codes_and_nodes(lint(path)) == [("AL308", "gru_0")]


# --- correct alternatives stay clean ------------------------------------------------------------
_FOLDS = """<ir_version: 8, opset_import: ["" : 17]>
folds (float[seq, batch, 4] X, float[batch, seq, 4] Xb, float[2, 12, 4] W, float[2, 12, 3] R)
    => (float[batch, seq, 6] bf, float[batch, seq, 6] l1, float[seq, batch, 6] cat) {
  [lstm] Y, Yh, Yc = LSTM <hidden_size: int = 3, direction: string = "bidirectional"> (X, W, R)
  [to_bsdh] Yb = Transpose <perm: ints = [2, 0, 1, 3]> (Y)
  [keep] t = Constant <value: tensor = int64[3] {0, 0, -1}> ()
  [flat_bf] bf = Reshape (Yb, t)
  [lstm_l1] Y1, Yh1, Yc1 = LSTM <hidden_size: int = 3, direction: string = "bidirectional",
                                 layout: int = 1> (Xb, W, R)
  [flat_l1] l1 = Reshape (Y1, t)
  [zero] i0 = Constant <value_int: int = 0> ()
  [one] i1 = Constant <value_int: int = 1> ()
  [fw] f = Gather <axis: int = 1> (Y, i0)
  [bw] b = Gather <axis: int = 1> (Y, i1)
  [concat] cat = Concat <axis: int = -1> (f, b)
}"""


def test_correct_folds_are_clean(tmp_path) -> None:
    """Batch-first output ([2, 0, 1, 3]), layout=1 Y flattened as is, Gather + Concat."""
    path = tmp_path / "folds.onnx"
    onnx.save_model(onnx.parser.parse_model(_FOLDS), path)
    assert lint(path) == ()
    # the same graph with the batch-first Transpose mistyped is caught
    broken = tmp_path / "broken.onnx"
    onnx.save_model(onnx.parser.parse_model(_FOLDS.replace("[2, 0, 1, 3]", "[2, 0, 3, 1]")), broken)
    [finding] = lint(broken)
    assert (finding.code, finding.location.node, finding.expected) == (
        "AL304", "to_bsdh", "[2, 0, 1, 3]")


def test_al306_an_output_declared_for_the_stack_that_holds_one_layer(tmp_path) -> None:
    """h_n declared [2, batch, 3] (2 layers) but Identity(Yh1): layer 0's state is dropped,
    and onnxruntime returns one row; c_n declared [1, batch, 3] as Cast(Yc1) is what it says."""
    text = (FIXTURES / "AL306" / "good.onnx.txt").read_text()
    text = text.replace("[cat_h] h_n = Concat <axis: int = 0> (Yh0, Yh1)",
                        "[pass_h] h_n = Identity (Yh1)")
    text = text.replace("[cat_c] c_n = Concat <axis: int = 0> (Yc0, Yc1)",
                        "[pass_c] c_n = Cast <to: int = 1> (Yc1)")
    text = text.replace("float[2, batch, 3] c_n", "float[1, batch, 3] c_n")
    path = tmp_path / "dropped.onnx.txt"
    path.write_text(text)
    findings = lint(path, ["AL306"])
    assert [(f.location.node, f.location.output, f.expected, f.actual) for f in findings] == [
        ("lstm_1", "Y_h", "Concat(axis=0) of the 2 layers' Y_h in layer order (2 rows)",
         "Y_h of layer 1 (1 row)")]
    assert "'h_n'" in findings[0].message
    model = onnx.parser.parse_model(text.split("\n", 1)[1])
    assert run_ort(model, {"seq": 4, "batch": 2})["h_n"].shape == (1, 2, 3)


def test_al306_concat_on_another_axis(tmp_path) -> None:
    text = (FIXTURES / "AL306" / "good.onnx.txt").read_text()
    text = text.replace("[cat_h] h_n = Concat <axis: int = 0>",
                        "[cat_h] h_n = Concat <axis: int = 2>")
    text = text.replace("float[2, batch, 3] h_n", "float[1, batch, 6] h_n")
    path = tmp_path / "axis.onnx.txt"
    path.write_text(text)
    findings = lint(path, ["AL306"])
    assert [(f.location.node, f.location.attribute, f.expected, f.actual) for f in findings] == [
        ("cat_h", "axis", "0", "2")]


_BATCH_FIRST_VIEW = """
<ir_version: 8, opset_import: ["" : 17]>
view (float[5, batch, 4] X, float[1, 16, 4] W, float[1, 16, 4] R) => (float[{out}] Z)
{{
  [lstm_0] Y = LSTM <hidden_size: int = 4> (X, W, R)
  axes = Constant <value: tensor = int64[1] {{1}}> ()
  Ys = Squeeze (Y, axes)
  Yb = Transpose <perm = [1, 0, 2]> (Ys)
  target = Constant <value: tensor = int64[{n}] {{{target}}}> ()
  [view] Z = Reshape (Yb, target)
}}
"""


@pytest.mark.parametrize(("target", "out", "found"), [
    ([2, -1], "2, 40", ["view"]),  # the example's batch 2, baked: [2, 60] at batch 3
    ([-1, 20], "batch, 20", []),  # rows follow batch
    ([0, -1], "batch, 20", []),  # 0 copies batch
    ([-1, 5, 4], "batch, 5, 4", []),
])
def test_a_constant_first_axis_where_the_input_leads_with_batch_is_a_warning(
    tmp_path: Path, target: list[int], out: str, found: list[str],
) -> None:
    """paddle's reshape(y, [2, -1]) after a batch-first LSTM, traced at batch 2: every batch
    runs (2 divides 20 x batch), and the output keeps 2 rows, each cut across the batch."""
    text = _BATCH_FIRST_VIEW.format(out=out, n=len(target),
                                    target=", ".join(map(str, target)))
    path = tmp_path / "view.onnx.txt"
    path.write_text(text)
    findings = lint(path, ["AL302"])
    assert [(f.location.node, f.severity.value) for f in findings] == [
        (node, "warning") for node in found]
    if found:
        [finding] = findings
        assert "its first axis is 2 whatever 'batch'" in finding.message
        assert finding.actual == "[2, -1]"
        model = onnx.parser.parse_model(text)
        assert run_ort(model, {"batch": 3})["Z"].shape == (2, 30)


_WEIGHTS = ", ".join(["0.1"] * 36)
_RECURRENT = ", ".join(["0.1"] * 27)
_HEAD_AFTER_GRU = f"""<ir_version: 8, opset_import: ["" : 17]>
head (float[seq, batch, 4] X) => (float[seq, batch, 2] y)
<float[1, 9, 4] W = {{{_WEIGHTS}}}, float[1, 9, 3] R = {{{_RECURRENT}}},
 float[3, 2] P = {{1, 2, 3, 4, 5, 6}}, float[2] b = {{0.5, -0.5}}, int64[1] one = {{1}}>
{{
  [gru] Y, Y_h = GRU <hidden_size: int = 3, linear_before_reset: int = 1> (X, W, R)
  [drop_dir] Ys = Squeeze (Y, one)
  [proj] z = MatMul (Ys, P)
  [bias] y = Add (z, b)
}}"""


def test_a_head_after_the_layer_declared_with_the_example_length_is_al316(
        tmp_path: Path) -> None:
    """nvidia-modelopt's int4 export of a GRU and a Linear declares y = Add(MatMul(Y, P), b)
    with the example's length: the product keeps Y's leading axes and the bias keeps its
    shape, so the 5 fixes seq. onnxruntime runs another length and warns (a warning)."""
    text = _HEAD_AFTER_GRU.replace("=> (float[seq, batch, 2] y)", "=> (float[5, batch, 2] y)")
    findings = lint_text(text, tmp_path, ["AL316"])
    assert [(f.code, f.severity.value, f.location.node, f.location.tensor, f.expected,
             f.actual) for f in findings] == [
        ("AL316", "warning", "bias", "y", "[seq, batch, 2]", "[5, batch, 2]")]
    model = onnx.parser.parse_model(text)
    assert run_ort(model, {"seq": 7, "batch": 2})["y"].shape == (7, 2, 2)
    # declared with the symbol: nothing to say
    assert list(lint_text(_HEAD_AFTER_GRU, tmp_path, ["AL316"])) == []


def test_al316_reads_the_gemm_of_a_last_step_head() -> None:
    """fixtures/AL316/last_step_gemm_dynamo.onnx (torch 2.13 dynamo, dynamic_axes on the
    batch): ``fc(out[:, -1, :])`` is a Gemm whose output is declared ``[1, 4]`` while X's
    batch is dynamic. AL316 read MatMul and Add heads only; onnxruntime returns [2, 4]."""
    path = FIXTURES / "AL316" / "last_step_gemm_dynamo.onnx"
    result = invoke("lint", str(path), "--format", "json")
    [finding] = json.loads(result.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"]) == (
        "AL316", "warning", "node_linear")
    assert (finding["expected"], finding["actual"]) == ("[batch_size, 4]", "[1, 4]")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"input": np.zeros((2, 7, 5), np.float32)})
    assert y.shape == (2, 4)


_ENCODER_DECLARED_AT_ONE = f"""<ir_version: 8, opset_import: ["" : 17]>
encoder (float[seq, batch, 4] X) => (float[1, batch, 3] h)
<float[1, 9, 4] W = {{{_WEIGHTS}}}, float[1, 9, 3] R = {{{_RECURRENT}}}>
{{
  [gru] Y, Y_h = GRU <hidden_size: int = 3, linear_before_reset: int = 1> (X, W, R)
  [out] h = Identity (Y_h)
}}"""


def test_a_recurrent_nodes_own_output_declared_at_the_example_batch_is_al316(
        tmp_path: Path) -> None:
    """torch 2.10's dynamo exporter, tracing an autoencoder at batch 1, declared its encoder's
    Y_h [1, 1, 32] (value_info) under X [30, batch_size, 64]: everything after it read batch
    1, and a zero state stored at batch 1 behind it went unseen (the model fails at batch 2).
    The node's own outputs are checked against the spec's shape from X."""
    text = _ENCODER_DECLARED_AT_ONE.replace("float[1, 9, 3] R = ",
                                            "float[1, 1, 3] Y_h, float[1, 9, 3] R = ")
    findings = lint_text(text, tmp_path, ["AL316"])
    assert [(f.code, f.severity.value, f.location.node, f.location.output, f.location.tensor,
             f.expected, f.actual) for f in findings] == [
        ("AL316", "warning", "gru", "1", "Y_h", "[1, batch, 3]", "[1, 1, 3]")]
    assert findings[0].help is not None and findings[0].help.startswith(
        "The exporter wrote the export example's size for a dynamic dim from this output on "
        "(torch.export specialises a dynamic dim whose example size is 1)")
    # declared with X's symbol, or not at all: nothing to say
    assert list(lint_text(_ENCODER_DECLARED_AT_ONE, tmp_path, ["AL316"])) == []
