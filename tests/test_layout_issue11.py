"""Issue 11, layout: packed (h, c) states, Y_h / Y_c folds, Squeeze of the direction axis,
rank-2 state inputs, cell states handed to a decoder's h, swapped direction rows, and states
through If / Loop. Each bad fixture is shown failing or computing other numbers in
onnxruntime; each good one computes what was meant (built here from single-node runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from archlint.engine import Linter
from archlint.registry import load_rules, select_rules
from archlint.reporters.text import format_finding

from .conftest import FIXTURES, REPO
from .layout_support import lint

Array = np.ndarray[Any, Any]
GOOD = sorted(p for code in FIXTURES.glob("AL3*") for p in code.glob("good_*.onnx.txt"))

# Extra bad fixtures (the snapshot test covers bad.onnx.txt): (code, node, input, severity).
BAD: dict[str, list[tuple[str, str, str | None, str]]] = {
    "AL303/bad_state": [("AL303", "view", "data", "error")],
    "AL304/bad_state": [("AL304", "batch_first", None, "error")],
    "AL305/bad_packed": [("AL305", "lstm", "initial_c", "error"),
                         ("AL305", "lstm", "initial_h", "error")],
    "AL305/bad_packed_if_rows": [("AL305", "lstm", "initial_c", "error"),
                                 ("AL305", "lstm", "initial_h", "error")],
    "AL305/bad_stack_lstm": [("AL305", "lstm_0", "initial_h", "error"),
                             ("AL305", "lstm_1", "initial_h", "error")],
    "AL307/bad_gru_decoder": [("AL307", "gru_decoder", "initial_h", "error"),
                              ("AL307", "lstm_decoder", "initial_h", "error")],
    "AL307/bad_keras_hh": [("AL307", "lstm", "initial_c", "error")],
    "AL308/bad_rank2": [("AL308", "lstm_0", "initial_c", "error"),
                        ("AL308", "lstm_0", "initial_h", "error")],
    "AL309/bad_rank2": [("AL309", "lstm_0", "initial_c", "warning"),
                        ("AL309", "lstm_0", "initial_h", "error")],
    "AL309/bad_loop_carried": [("AL309", "gru", "initial_h", "error")],
    "AL314/bad_state": [("AL314", "drop_dir_h", "data", "error")],
    "AL315/bad_input": [("AL315", "gru_1", "initial_h", "warning")],
}


def _path(name: str) -> Path:
    return FIXTURES / f"{name}.onnx.txt"


def _model(name: str) -> onnx.ModelProto:
    model = onnx.parser.parse_model(_path(name).read_text(encoding="utf-8"))
    onnx.checker.check_model(model)
    return model


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model: onnx.ModelProto, feeds: dict[str, Array], *extra: str) -> dict[str, Array]:
    """Run with the given feeds; ``extra`` inner tensors are exposed as outputs too."""
    if extra:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        for name in extra:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def _node(op: str, inputs: dict[str, Array], **attrs: Any) -> list[Array]:
    """One LSTM / GRU node on its own: the computation a fixture is meant to perform."""
    slots = {"LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c"],
             "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"]}[op]
    names = [s if s in inputs else "" for s in slots]
    while names and not names[-1]:
        names.pop()
    outs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    node = onnx.helper.make_node(op, names, outs, **attrs)
    graph = onnx.helper.make_graph(
        [node], "one", [onnx.helper.make_tensor_value_info(n, 1, None) for n in names if n],
        [onnx.helper.make_tensor_value_info(n, 1, None) for n in outs])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    return list(_session(model).run(None, {n: inputs[n] for n in names if n}))


def _rand(rng: np.random.Generator, *shape: int) -> Array:
    return rng.standard_normal(shape).astype(np.float32)


# --- every extra fixture: good ones are clean, bad ones give exactly these findings ------------
@pytest.mark.parametrize("path", GOOD, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_extra_good_fixtures_are_clean_and_load(path: Path) -> None:
    assert lint(path) == ()
    model = onnx.parser.parse_model(path.read_text(encoding="utf-8"))
    onnx.checker.check_model(model, full_check=True)
    assert _session(model) is not None


@pytest.mark.parametrize("name", sorted(BAD))
def test_extra_bad_fixtures_give_exactly_these_findings(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    findings = lint(_path(name))
    assert [(f.code, f.location.node, f.location.input, f.severity.value)
            for f in findings] == BAD[name]
    # The full text, like fixtures/<CODE>/expected.txt for bad.onnx.txt: bad_x.expected.txt.
    monkeypatch.chdir(REPO)
    relative = str(_path(name).relative_to(REPO))
    report = Linter(select_rules(load_rules().rules, [name.split("/")[0]])).lint_file(
        _path(name), relative)
    output = "".join(format_finding(f) + "\n" for f in report.findings)
    snapshot = FIXTURES / f"{name}.expected.txt"
    if request.config.getoption("--update-snapshots"):
        snapshot.write_text(output, encoding="utf-8")
    assert snapshot.read_text(encoding="utf-8") == output


# --- 1. packed (h, c) state ------------------------------------------------------------------
def _packed_feeds(rng: np.random.Generator, seq: int, batch: int = 2) -> dict[str, Array]:
    return {"X": _rand(rng, seq, batch, 4), "state": _rand(rng, 2, batch, 3),
            "W": _rand(rng, 1, 12, 4), "R": _rand(rng, 1, 12, 3), "B": _rand(rng, 1, 24)}


def test_packed_state_streams_like_one_long_run_and_the_swapped_one_does_not() -> None:
    rng = np.random.default_rng(0)
    feeds = _packed_feeds(rng, seq=6)
    # What the packed state means: row 0 is h, row 1 is c of the single layer.
    y_ref, h_ref, c_ref = _node("LSTM", {**feeds, "initial_h": feeds["state"][0:1],
                                         "initial_c": feeds["state"][1:2]}, hidden_size=3)
    for name, matches in (("AL305/good_packed", True), ("AL305/bad_packed", False)):
        model = _model(name)
        first = _run(model, {**feeds, "X": feeds["X"][:3]})
        second = _run(model, {**feeds, "X": feeds["X"][3:], "state": first["state_out"]})
        streamed = np.concatenate([first["Y"], second["Y"]])
        assert streamed.shape == y_ref.shape  # both run, same shapes
        assert np.allclose(streamed, y_ref, atol=1e-5) is matches, name
    good = _run(_model("AL305/good_packed"), feeds)
    np.testing.assert_allclose(good["state_out"], np.concatenate([h_ref, c_ref]), atol=1e-5)


def test_packed_rows_picked_inside_if_branches_are_followed_and_run_wrong() -> None:
    rng = np.random.default_rng(11)
    feeds = _packed_feeds(rng, seq=4)
    del feeds["B"]
    y_ref, _, _ = _node("LSTM", {**feeds, "initial_h": feeds["state"][0:1],
                                 "initial_c": feeds["state"][1:2]}, hidden_size=3)
    for fast in (True, False):
        out = _run(_model("AL305/bad_packed_if_rows"), {**feeds, "fast": np.array(fast)})
        assert out["Y"].shape == y_ref.shape
        assert not np.allclose(out["Y"], y_ref, atol=1e-3)


def test_packed_state_gather_and_if_forms_compute_the_same_state() -> None:
    rng = np.random.default_rng(1)
    feeds = _packed_feeds(rng, seq=4)
    del feeds["B"]
    _, h_ref, c_ref = _node("LSTM", {**feeds, "initial_h": feeds["state"][0:1],
                                     "initial_c": feeds["state"][1:2]}, hidden_size=3)
    gathered = _run(_model("AL305/good_packed_gather"), feeds)["state_out"]
    np.testing.assert_allclose(gathered, np.concatenate([h_ref, c_ref]), atol=1e-5)
    branch = {"X": feeds["X"], "state": feeds["state"], "Wa": feeds["W"], "Ra": feeds["R"],
              "Wb": _rand(rng, 1, 12, 4), "Rb": _rand(rng, 1, 12, 3),
              "use_a": np.array(True)}
    np.testing.assert_allclose(_run(_model("AL305/good_packed_if"), branch)["state_out"],
                               np.concatenate([h_ref, c_ref]), atol=1e-5)


def test_packed_state_is_told_from_a_stack_by_structure_not_shape() -> None:
    """Same input shape [2, batch, 3], same rows 0 and 1: the packed pair feeds initial_h and
    initial_c of one layer (clean); the stack feeds initial_h of two layers (AL305)."""
    assert lint(_path("AL305/good_packed"), ["AL305", "AL306", "AL307"]) == ()
    findings = lint(_path("AL305/bad_stack_lstm"), ["AL305"])
    assert [(f.location.node, f.expected, f.actual) for f in findings] == [
        ("lstm_0", "rows [0, 1)", "rows [1, 2)"), ("lstm_1", "rows [1, 2)", "rows [0, 1)")]
    text = _path("AL305/bad_stack_lstm").read_text()
    fixed = text.replace("Slice (h0, one, two, zero)", "Slice (h0, TMP)").replace(
        "Slice (h0, zero, one, zero)", "Slice (h0, one, two, zero)").replace(
        "Slice (h0, TMP)", "Slice (h0, zero, one, zero)")
    rng = np.random.default_rng(2)
    feeds = {"X": _rand(rng, 4, 2, 4), "h0": _rand(rng, 2, 2, 3), "c0": _rand(rng, 2, 2, 3),
             "W0": _rand(rng, 1, 12, 4), "R0": _rand(rng, 1, 12, 3),
             "W1": _rand(rng, 1, 12, 3), "R1": _rand(rng, 1, 12, 3)}
    y0, _, _ = _node("LSTM", {"X": feeds["X"], "W": feeds["W0"], "R": feeds["R0"],
                              "initial_h": feeds["h0"][0:1], "initial_c": feeds["c0"][0:1]},
                     hidden_size=3)
    y1, _, _ = _node("LSTM", {"X": y0[:, 0], "W": feeds["W1"], "R": feeds["R1"],
                              "initial_h": feeds["h0"][1:2], "initial_c": feeds["c0"][1:2]},
                     hidden_size=3)
    good = _run(onnx.parser.parse_model(fixed), feeds)["Y1"]
    bad = _run(_model("AL305/bad_stack_lstm"), feeds)["Y1"]
    np.testing.assert_allclose(good, y1, atol=1e-5)
    assert not np.allclose(bad, y1, atol=1e-3)


# --- 2. Y_h / Y_c folds ------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "op", "gates"), [("AL303", "GRU", 9), ("AL304", "LSTM", 12)])
def test_state_fold_without_d_next_to_h_mixes_sequences(code: str, op: str, gates: int) -> None:
    rng = np.random.default_rng(3)
    feeds = {"X": _rand(rng, 5, 3, 4), "W": _rand(rng, 2, gates, 4), "R": _rand(rng, 2, gates, 3)}
    good = _run(_model(f"{code}/good_state"), feeds, "Y_h")
    bad = _run(_model(f"{code}/bad_state"), feeds)
    # torch.cat((h_n[-2], h_n[-1]), dim=1): forward then backward final state per sequence
    wanted = np.concatenate([good["Y_h"][0], good["Y_h"][1]], axis=-1)
    np.testing.assert_allclose(good["features"], wanted)
    assert bad["features"].shape == wanted.shape == (3, 6)  # runs, same shape
    assert not np.allclose(bad["features"], wanted)


def test_state_fold_alternatives_compute_the_torch_cat() -> None:
    rng = np.random.default_rng(4)
    feeds = {"X": _rand(rng, 5, 3, 4), "W": _rand(rng, 2, 12, 4), "R": _rand(rng, 2, 12, 3)}
    out = _run(_model("AL303/good_state_cat"), feeds, "Y_h", "Y_c")
    np.testing.assert_allclose(out["features"],
                               np.concatenate([out["Y_h"][0], out["Y_h"][1]], axis=-1))
    np.testing.assert_allclose(out["cells"], out["Y_c"].reshape(6, 3))


# --- 3. Squeeze of the direction axis ----------------------------------------------------------
@pytest.mark.parametrize(("fixture", "node"), [("AL314/bad", "drop_dir"),
                                               ("AL314/bad_state", "drop_dir_h")])
def test_squeeze_of_direction_axis_is_refused_at_load(fixture: str, node: str) -> None:
    model = onnx.parser.parse_model(_path(fixture).read_text())
    with pytest.raises(OrtFail, match=node):
        _session(model)
    findings = lint(_path(fixture), ["AL"])
    [error] = [f for f in findings if f.severity.value == "error"]
    assert (error.code, error.location.node) == ("AL314", node)


def test_squeeze_alternatives_run() -> None:
    rng = np.random.default_rng(5)
    feeds = {"X": _rand(rng, 5, 3, 4), "W": _rand(rng, 2, 12, 4), "R": _rand(rng, 2, 12, 3)}
    out = _run(_model("AL314/good"), feeds, "Y")
    np.testing.assert_allclose(out["out"], np.concatenate([out["Y"][:, 0], out["Y"][:, 1]], -1))
    forward = {"X": feeds["X"], "W": feeds["W"][:1], "R": feeds["R"][:1],
               "Wb": feeds["W"], "Rb": feeds["R"]}
    out = _run(_model("AL314/good_forward"), forward, "Yb_h")
    np.testing.assert_allclose(out["h_back"], out["Yb_h"][1])


# --- 4. rank-2 state inputs --------------------------------------------------------------------
@pytest.mark.parametrize("code", ["AL308", "AL309"])
def test_rank2_states_work_for_batch_1_only(code: str) -> None:
    rng = np.random.default_rng(6)

    def feeds(model: onnx.ModelProto, batch: int) -> dict[str, Array]:
        sizes = {"seq": 4, "batch": batch, "N": batch}
        return {i.name: _rand(rng, *[sizes.get(d, d) if isinstance(d, str) else d
                                     for d in i.shape])
                for i in _session(model).get_inputs()}

    bad = _model(f"{code}/bad_rank2")
    assert _run(bad, feeds(bad, 1))["Y"].shape == (4, 1, 1, 3)
    with pytest.raises((OrtFail, InvalidArgument)):
        _run(bad, feeds(bad, 2))
    good = _model(f"{code}/good_rank2")
    assert _run(good, feeds(good, 2))["Y"].shape == (4, 1, 2, 3)


# --- 5. a cell state handed to a decoder's h ---------------------------------------------------
def test_decoder_fed_the_encoder_cell_state_computes_other_numbers() -> None:
    rng = np.random.default_rng(7)
    feeds = {"X": _rand(rng, 4, 2, 4), "X2": _rand(rng, 3, 2, 4), "W": _rand(rng, 1, 12, 4),
             "R": _rand(rng, 1, 12, 3), "Wg": _rand(rng, 1, 9, 4), "Rg": _rand(rng, 1, 9, 3)}
    _, enc_h, enc_c = _node("LSTM", {"X": feeds["X"], "W": feeds["W"], "R": feeds["R"]},
                            hidden_size=3)
    meant_gru, _ = _node("GRU", {"X": feeds["X2"], "W": feeds["Wg"], "R": feeds["Rg"],
                                 "initial_h": enc_h}, hidden_size=3, linear_before_reset=1)
    meant_lstm, _, _ = _node("LSTM", {"X": feeds["X2"], "W": feeds["W"], "R": feeds["R"],
                                      "initial_h": enc_h, "initial_c": enc_c}, hidden_size=3)
    good = _run(_model("AL307/good_gru_decoder"), feeds)
    bad = _run(_model("AL307/bad_gru_decoder"), feeds)
    np.testing.assert_allclose(good["Yg"], meant_gru, atol=1e-5)
    np.testing.assert_allclose(good["Yl"], meant_lstm, atol=1e-5)
    assert not np.allclose(bad["Yg"], meant_gru, atol=1e-3)
    assert not np.allclose(bad["Yl"], meant_lstm, atol=1e-3)


# --- 6. direction rows swapped -----------------------------------------------------------------
def test_swapped_direction_rows_compute_other_numbers() -> None:
    rng = np.random.default_rng(8)
    feeds = {"X": _rand(rng, 4, 2, 4), "X2": _rand(rng, 3, 2, 4), "W": _rand(rng, 2, 9, 4),
             "R": _rand(rng, 2, 9, 3), "W2": _rand(rng, 2, 9, 4), "R2": _rand(rng, 2, 9, 3)}
    bi = {"hidden_size": 3, "direction": "bidirectional", "linear_before_reset": 1}
    _, enc_h = _node("GRU", {"X": feeds["X"], "W": feeds["W"], "R": feeds["R"]}, **bi)
    meant, _ = _node("GRU", {"X": feeds["X2"], "W": feeds["W2"], "R": feeds["R2"],
                             "initial_h": enc_h}, **bi)
    np.testing.assert_allclose(_run(_model("AL315/good"), feeds)["Y2"], meant, atol=1e-5)
    bad = _run(_model("AL315/bad"), feeds)["Y2"]
    assert bad.shape == meant.shape
    assert not np.allclose(bad, meant, atol=1e-3)


def test_swapped_rows_of_a_model_state_input_compute_other_numbers() -> None:
    rng = np.random.default_rng(9)
    feeds = {"X": _rand(rng, 4, 2, 4), "h0": _rand(rng, 4, 2, 3), "W0": _rand(rng, 2, 9, 4),
             "R0": _rand(rng, 2, 9, 3), "W1": _rand(rng, 2, 9, 6), "R1": _rand(rng, 2, 9, 3)}
    bi = {"hidden_size": 3, "direction": "bidirectional", "linear_before_reset": 1}
    y0, _ = _node("GRU", {"X": feeds["X"], "W": feeds["W0"], "R": feeds["R0"],
                          "initial_h": feeds["h0"][0:2]}, **bi)
    x1 = y0.transpose(0, 2, 1, 3).reshape(4, 2, 6)
    y1, _ = _node("GRU", {"X": x1, "W": feeds["W1"], "R": feeds["R1"],
                          "initial_h": feeds["h0"][2:4]}, **bi)
    meant = y1.transpose(0, 2, 1, 3).reshape(4, 2, 6)  # PyTorch's h0 layout, forward first
    np.testing.assert_allclose(_run(_model("AL315/good_input"), feeds)["out"], meant,
                               atol=1e-5)
    assert not np.allclose(_run(_model("AL315/bad_input"), feeds)["out"], meant, atol=1e-3)


# --- 7. states through If outputs and Loop-carried values --------------------------------------
def test_loop_carried_and_if_states_run_and_stay_clean() -> None:
    rng = np.random.default_rng(10)
    x = _rand(rng, 2, 3, 2, 4)
    feeds = {"X": x, "n": np.array(2, np.int64), "go": np.array(True),
             "h_init": _rand(rng, 1, 2, 3), "c_init": _rand(rng, 1, 2, 3),
             "W": _rand(rng, 1, 12, 4), "R": _rand(rng, 1, 12, 3)}
    out = _run(_model("AL305/good_loop_carried"), feeds)
    _, h, c = _node("LSTM", {"X": x.reshape(6, 2, 4), "W": feeds["W"], "R": feeds["R"],
                             "initial_h": feeds["h_init"], "initial_c": feeds["c_init"]},
                    hidden_size=3)
    np.testing.assert_allclose(out["h_last"], h, atol=1e-5)
    np.testing.assert_allclose(out["c_last"], c, atol=1e-5)
    bad = _model("AL309/bad_loop_carried")
    good = _model("AL309/good_loop_carried")
    for batch in (1, 2):
        loop_feeds = {"X": _rand(rng, 2, 3, batch, 4), "n": np.array(2, np.int64),
                      "go": np.array(True), "h_init": _rand(rng, 1, batch, 3),
                      "W": _rand(rng, 1, 9, 4), "R": _rand(rng, 1, 9, 3)}
        assert _run(good, loop_feeds)["h_last"].shape == (1, batch, 3)
    with pytest.raises((OrtFail, InvalidArgument)):
        _run(bad, {**loop_feeds, "h_init": _rand(rng, 1, 1, 3)})
    if_feeds = {"X": _rand(rng, 4, 5, 4), "h0": _rand(rng, 1, 5, 3), "first": np.array(True),
                "W": _rand(rng, 1, 9, 4), "R": _rand(rng, 1, 9, 3)}
    assert _run(_model("AL308/good_if_state"), if_feeds)["Y"].shape == (4, 1, 5, 3)
