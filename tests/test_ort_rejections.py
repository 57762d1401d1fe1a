"""Every onnxruntime CPU check on LSTM/GRU/RNN that archlint knows statically.

For each row: a real onnxruntime session is created from fixtures/ort/<case>.onnx.txt (and,
when the check fires at Run, run once with random inputs of the declared shapes) and must fail
with onnxruntime's own message; archlint must flag the same model without running it, with
exactly one error finding: the rule's code at the node's name. docs/onnxruntime-checks.md is
the same table for readers. Rows marked "abort" kill the process, so they run in a child.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import pytest

from archlint.api import Severity
from archlint.engine import Linter
from archlint.registry import load_rules

from .conftest import FIXTURES

ort = pytest.importorskip("onnxruntime")

ORT_FIXTURES = FIXTURES / "ort"


class Row(NamedTuple):
    case: str  # fixtures/ort/<case>.onnx.txt
    stage: str  # "session", "run" or "abort"
    message: str  # a verbatim piece of onnxruntime 1.x's error text
    code: str
    node: str


ROWS = [
    Row("lstm_hidden_size_missing", "session",
        'info.GetAttr("hidden_size", &int64_value).IsOK() && int64_value > 0 was false.',
        "AL202", "lstm_0"),
    Row("rnn_hidden_size_missing", "session",
        'info.GetAttr("hidden_size", &hidden_size_).IsOK() was false.', "AL202", "rnn_0"),
    Row("gru_hidden_size_zero", "session",
        'info.GetAttr("hidden_size", &int64_value).IsOK() && int64_value > 0 was false.',
        "AL203", "gru_0"),
    Row("rnn_hidden_size_negative", "run", "Input W must have shape {1,-1,2}. Actual:{1,3,2}",
        "AL203", "rnn_0"),
    Row("lstm_clip_negative", "session", "clip_ > 0.f was false.", "AL214", "lstm_0"),
    Row("gru_clip_zero", "session", "clip_ > 0.f was false.", "AL214", "gru_0"),
    Row("lstm_bi_activations_one_direction", "session",
        "activation_func_names.size() == static_cast<size_t>(num_directions_) * 3 was false.",
        "AL211", "lstm_bi"),
    Row("gru_activations_three", "session",
        "activation_func_names.size() == static_cast<size_t>(num_directions_) * 2 was false.",
        "AL211", "gru_0"),
    Row("rnn_activations_three", "session",
        "activations_.size() == static_cast<size_t>(num_directions) was false.",
        "AL211", "rnn_0"),
    Row("lstm_activation_unknown", "session",
        "Expecting activation to be one of Affine, Relu, LeakyRelu, ThresholdedRelu, Tanh, "
        "ScaledTanh, Sigmoid, HardSigmoid, Elu, Softsign, Softplus. Got Foo",
        "AL212", "lstm_0"),
    Row("rnn_activation_lowercase", "session", "RNN op: Invalid activation attribute - tanh",
        "AL212", "rnn_0"),
    Row("lstm_direction_sideways", "session",
        "Invalid 'direction' argument of 'sideways'. Must be one of 'forward', 'reverse', "
        "or 'bidirectional'.", "AL210", "lstm_0"),
    Row("rnn_direction_sideways", "session",
        "allowed_directions.find(direction_) != allowed_directions.end() was false.",
        "AL210", "rnn_0"),
    Row("lstm_layout_two", "session",
        "layout_ == 0 was false. Batchwise recurrent operations (layout == 1) are not supported.",
        "AL216", "lstm_0"),
    Row("lstm_hidden_size_float", "session",
        "Mismatched attribute type in 'lstm_0 : hidden_size'. Expected: 'INT', actual: 'FLOAT'",
        "AL217", "lstm_0"),
    Row("gru_input_forget", "session", "Unrecognized attribute: input_forget for operator GRU",
        "AL215", "gru_0"),
    Row("lstm_layout_opset13", "session", "Unrecognized attribute: layout for operator LSTM",
        "AL215", "lstm_0"),
    Row("lstm_sequence_lens_int64", "session",
        "Type Error: Type 'tensor(int64)' of input parameter (L) of operator (LSTM)",
        "AL105", "lstm_0"),
    Row("rnn_x_rank4", "session", "[ShapeInferenceError] First input tensor must have rank 3",
        "AL101", "rnn_0"),
    Row("lstm_b_float16", "session",
        "Type parameter (T) of Optype (LSTM) bound to different types (tensor(float) and "
        "tensor(float16) in node (lstm_0).", "AL108", "lstm_0"),
    Row("gru_initial_h_double", "session",
        "Type parameter (T) of Optype (GRU) bound to different types (tensor(float) and "
        "tensor(double) in node (gru_0).", "AL108", "gru_0"),
    Row("rnn_x_int32", "session",
        "Type Error: Type 'tensor(int32)' of input parameter (X) of operator (RNN) in node "
        "(rnn_0) is invalid.", "AL108", "rnn_0"),
    Row("gru_peepholes", "session",
        "Node(gru_0) with schema(::GRU:14) has input size 8 not in range [min=3, max=6].",
        "AL109", "gru_0"),
    Row("lstm_nine_inputs", "session",
        "Node(lstm_0) with schema(::LSTM:14) has input size 9 not in range [min=3, max=8].",
        "AL109", "lstm_0"),
    Row("rnn_cell_state_output", "session",
        "Node(rnn_0) with schema(::RNN:14) has output size 3 not in range [min=0, max=2].",
        "AL109", "rnn_0"),
    Row("lstm_w_input_size", "run", "Input W must have shape {1,12,2}. Actual:{1,12,5}",
        "AL102", "lstm_0"),
    Row("lstm_w_rank2", "run", "Input W must have shape {1,12,2}. Actual:{12,2}",
        "AL101", "lstm_0"),
    Row("lstm_hidden_size_vs_weights", "run", "Input W must have shape {1,20,2}. Actual:{1,12,2}",
        "AL201", "lstm_0"),
    Row("lstm_bi_weights_one_direction", "run",
        "Input W must have shape {2,12,2}. Actual:{1,12,2}", "AL301", "lstm_bi"),
    Row("lstm_r_hidden", "run", "Input R must have shape {1,12,3}. Actual:{1,12,4}",
        "AL201", "lstm_0"),
    Row("lstm_b_keras", "run", "Input B must have shape {1,8*3}. Actual:{1,12}",
        "AL201", "lstm_0"),
    Row("gru_sequence_lens_batch", "run", "Input sequence_lens must have shape {2}. Actual:{3}",
        "AL103", "gru_0"),
    Row("gru_sequence_lens_range", "run",
        "Invalid value/s in sequence_lens. All values must be >= 0 and <= seq_length. "
        "seq_length=4", "AL106", "gru_0"),
    Row("gru_initial_h_batch", "run", "Input initial_h must have shape {1,2,3}. Actual:{1,3,3}",
        "AL103", "gru_0"),
    Row("gru_initial_h_no_batch", "run", "Input initial_h must have shape {1,2,3}. Actual:{1,3}",
        "AL101", "gru_0"),
    Row("lstm_initial_c_hidden", "run",
        "Input initial_c must have shape {1,2,3}. Actual:{1,2,4}", "AL201", "lstm_0"),
    Row("lstm_p_hidden", "run", "Input P must have shape {1,9}. Actual:{1,12}",
        "AL201", "lstm_0"),
    Row("lstm_batch_zero", "abort", "terminate called without an active exception",
        "AL107", "lstm_0"),
    Row("gru_seq_zero", "abort", "terminate called without an active exception",
        "AL107", "gru_0"),
]


def _model_bytes(case: str) -> bytes:
    text = (ORT_FIXTURES / f"{case}.onnx.txt").read_text(encoding="utf-8")
    return onnx.parser.parse_model(text).SerializeToString()


def _random_feeds(session: object) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():  # type: ignore[attr-defined]
        assert arg.type == "tensor(float)", arg  # run-stage fixtures feed only floats
        feeds[arg.name] = rng.standard_normal(arg.shape).astype(np.float32)
    return feeds


def _onnxruntime_error(row: Row) -> str:
    """The text onnxruntime fails with, at the stage the row names."""
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the exception carries the message; keep stderr quiet
    model = _model_bytes(row.case)
    if row.stage == "session":
        with pytest.raises(Exception) as raised:
            ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return str(raised.value)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    with pytest.raises(Exception) as raised:
        session.run(None, _random_feeds(session))
    return str(raised.value)


_CHILD = textwrap.dedent("""
    import sys, numpy as np, onnx, onnxruntime as ort
    model = onnx.parser.parse_model(open(sys.argv[1], encoding="utf-8").read())
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {a.name: np.zeros(a.shape, np.float32) for a in s.get_inputs()}
    s.run(None, feeds)
    print("RUN RETURNED")
""")


def _aborting_child(row: Row, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script), str(ORT_FIXTURES / f"{row.case}.onnx.txt")],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _archlint_errors(case: str) -> list[tuple[str, str | None]]:
    report = Linter(load_rules().rules).lint_file(ORT_FIXTURES / f"{case}.onnx.txt")
    assert report.error is None, report.error
    return [(f.code, f.location.node) for f in report.findings if f.severity is Severity.ERROR]


@pytest.mark.parametrize("row", [r for r in ROWS if r.stage != "abort"], ids=lambda r: r.case)
def test_onnxruntime_rejects_and_archlint_flags(row: Row) -> None:
    assert row.message in _onnxruntime_error(row)
    assert _archlint_errors(row.case) == [(row.code, row.node)]


@pytest.mark.parametrize("row", [r for r in ROWS if r.stage == "abort"], ids=lambda r: r.case)
def test_onnxruntime_aborts_and_archlint_flags(row: Row, tmp_path: Path) -> None:
    child = _aborting_child(row, tmp_path)
    assert child.returncode != 0 and "RUN RETURNED" not in child.stdout
    assert row.message in child.stderr
    assert _archlint_errors(row.case) == [(row.code, row.node)]


def test_every_fixture_has_a_row() -> None:
    fixtures = {p.name.removesuffix(".onnx.txt") for p in ORT_FIXTURES.glob("*.onnx.txt")}
    assert fixtures == {r.case for r in ROWS}


def test_docs_table_lists_every_row() -> None:
    docs = (FIXTURES.parent / "docs" / "onnxruntime-checks.md").read_text(encoding="utf-8")
    for row in ROWS:
        assert f"`fixtures/ort/{row.case}.onnx.txt`" in docs, row.case
        assert row.code in docs


# --- severities: a finding onnxruntime turns into a load refusal is an error ------------------

# Bad fixtures of the static rules that onnxruntime refuses at load while archlint says no
# error, each with the reason it is not (yet) a rule's error.
KNOWN_GAPS: dict[str, str] = {}  # AL001/bad's broadcast is AL008's error now


def _static_bad_fixtures() -> list[Path]:
    found = []
    for folder in sorted(FIXTURES.glob("AL[0-4]*")):
        found.extend(sorted(p for p in folder.glob("bad.*")
                            if p.name.endswith((".onnx", ".onnx.txt"))))
    return found


def _session_error(path: Path) -> str | None:
    """onnxruntime's refusal at session creation, or None when it loads. A binary model is
    opened by path, so that its external data resolves as it would for a user."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    source: str | bytes = str(path)
    if path.name.endswith(".txt"):
        source = onnx.parser.parse_model(path.read_text(encoding="utf-8")).SerializeToString()
    try:
        ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("path", _static_bad_fixtures(),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_model_onnxruntime_refuses_gets_an_error(path: Path) -> None:
    report = Linter(load_rules().rules).lint_file(path)
    assert report.error is None, report.error
    worst = max((f.severity.rank for f in report.findings), default=-1)
    refused = _session_error(path)
    key = f"{path.parent.name}/{path.name}"
    if key in KNOWN_GAPS:
        assert refused is not None and worst < Severity.ERROR.rank, (
            f"{key} is listed as a known gap but no longer is one: remove it from KNOWN_GAPS")
        return
    if refused is not None:
        assert worst == Severity.ERROR.rank, (
            f"onnxruntime refuses {key} ({refused[:160]}) but archlint reports "
            f"{[(f.code, f.severity.value) for f in report.findings]}")


_HEAD = '<ir_version: 8, opset_import: ["" : 17], producer_name: "archlint-ort-fixture">\n'
# (case, model, the one warning archlint gives): models onnxruntime loads and runs.
WARNINGS_THAT_LOAD_AND_RUN = [
    ("lstm_initial_h_only", _HEAD + """
     m (float[4, 2, 2] X, float[1, 12, 2] W, float[1, 12, 3] R, float[1, 2, 3] H0)
         => (float[4, 1, 2, 3] Y) {
       [lstm_0] Y = LSTM <hidden_size: int = 3> (X, W, R, , , H0)
     }""", "AL204"),
    ("gru_activation_lowercase", _HEAD + """
     m (float[4, 2, 2] X, float[1, 9, 2] W, float[1, 9, 3] R) => (float[4, 1, 2, 3] Y) {
       [gru_0] Y = GRU <hidden_size: int = 3, activations: strings = ["sigmoid", "Tanh"]>
                   (X, W, R)
     }""", "AL212"),
    ("gru_alpha_unused", _HEAD + """
     m (float[4, 2, 2] X, float[1, 9, 2] W, float[1, 9, 3] R) => (float[4, 1, 2, 3] Y) {
       [gru_0] Y = GRU <hidden_size: int = 3, activation_alpha: floats = [0.5]> (X, W, R)
     }""", "AL213"),
    ("gru_linear_before_reset_two", _HEAD + """
     m (float[4, 2, 2] X, float[1, 9, 2] W, float[1, 9, 3] R) => (float[4, 1, 2, 3] Y) {
       [gru_0] Y = GRU <hidden_size: int = 3, linear_before_reset: int = 2> (X, W, R)
     }""", "AL216"),
    ("rnn_state_batch_symbol", _HEAD + """
     m (float[4, batch, 2] X, float[1, 3, 2] W, float[1, 3, 3] R, float[1, N, 3] H0)
         => (float[4, 1, batch, 3] Y) {
       [rnn_0] Y = RNN <hidden_size: int = 3> (X, W, R, , , H0)
     }""", "AL309"),
]


@pytest.mark.parametrize(("case", "text", "code"), WARNINGS_THAT_LOAD_AND_RUN,
                         ids=[c for c, _, _ in WARNINGS_THAT_LOAD_AND_RUN])
def test_a_warning_is_a_model_onnxruntime_loads_and_runs(
    case: str, text: str, code: str, tmp_path: Path
) -> None:
    """The other way round: a warning-only model is one onnxruntime accepts and runs."""
    path = tmp_path / f"{case}.onnx.txt"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    report = Linter(load_rules().rules).lint_file(path)
    assert {(f.code, f.severity) for f in report.findings} == {(code, Severity.WARNING)}
    model = onnx.parser.parse_model(path.read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.log_severity_level = 4
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {
        arg.name: rng.standard_normal([d if isinstance(d, int) else 2 for d in arg.shape])
        .astype(np.float32)
        for arg in session.get_inputs()
    }
    outputs = session.run(None, feeds)
    assert all(np.isfinite(o).all() for o in outputs)


def test_a_missing_external_data_file_is_refused_and_is_an_error() -> None:
    path = FIXTURES / "AL003" / "bad.onnx"
    refused = _session_error(path)
    assert refused is not None and "External data path does not exist" in refused
    report = Linter(load_rules().rules).lint_file(path)
    assert [(f.code, f.severity) for f in report.findings] == [("AL003", Severity.ERROR)]
    assert _session_error(FIXTURES / "AL003" / "good.onnx") is None


# --- AL008: onnx's inference errors that are onnxruntime's load refusals ---------------------

@pytest.mark.parametrize(("path", "node", "code"), [
    (FIXTURES / "AL008" / "bad.onnx.txt", "add_0", "AL008"),
    (FIXTURES / "AL008" / "cast_declared_float16.onnx.txt", "cast_0", "AL008"),
    # a scripted reverse loop that slices a scalar in the main graph: refused
    (FIXTURES / "torch_custom" / "reverse_lstm_script.onnx", "/Slice", "AL008"),
    # onnx rejects a Gemm inside the Loop body; onnxruntime infers the body from the values
    # it binds and loads the model: a warning only
    (FIXTURES / "torch_custom" / "lstm_script.onnx", "/Loop", "AL001"),
    # a declared output shape merged with the computed one: onnxruntime relaxes the merge
    (FIXTURES / "AL001" / "bad.onnx.txt", "add_0", "AL001"),
])
def test_an_inference_error_is_al008_exactly_where_onnxruntime_refuses(
        path: Path, node: str, code: str) -> None:
    report = Linter(load_rules().rules).lint_file(path)
    found = [(f.code, f.severity, f.location.node) for f in report.findings
             if f.code in ("AL001", "AL008")]
    severity = Severity.ERROR if code == "AL008" else Severity.WARNING
    assert found == [(code, severity, node)], found
    refused = _session_error(path)
    assert (refused is not None) == (code == "AL008"), refused
    if code == "AL008":
        assert node in refused


# --- AL009: a name defined twice in one graph --------------------------------------------------

_DEFINED_TWICE = {
    "an initializer": "<float[2] h = {0, 0}>\n{\n  [relu] h = Relu(x)\n  y = Add(h, x)\n}",
    "another node's output": "{\n  h = Neg(x)\n  [relu] h = Relu(x)\n  y = Add(h, x)\n}",
    "an input of the graph": "{\n  [relu] h = Relu(x)\n  y = Add(h, x)\n}",
}


@pytest.mark.parametrize("other", sorted(_DEFINED_TWICE))
def test_a_name_defined_twice_is_al009_and_refused(other: str, tmp_path: Path) -> None:
    inputs = "float[2] x, float[2] h" if other == "an input of the graph" else "float[2] x"
    path = tmp_path / "twice.onnx.txt"
    path.write_text(f'<ir_version: 8, opset_import: ["" : 17]>\ng ({inputs}) => (float[2] y)\n'
                    + _DEFINED_TWICE[other], encoding="utf-8")
    report = Linter(load_rules().rules).lint_file(path)
    [finding] = [f for f in report.findings if f.code == "AL009"]
    assert (finding.severity, finding.location.node, finding.location.tensor) == (
        Severity.ERROR, "relu", "h")
    assert f"Relu 'relu' makes 'h', which is also {other}" in finding.message
    assert "Duplicate definition of name (h)" in (_session_error(path) or "")


def test_an_error_after_a_split_onnx_and_onnxruntime_read_apart_stays_al001(
        tmp_path: Path) -> None:
    """SplitToSequence with keepdims=0 and a scalar split: the spec ignores keepdims (each
    step keeps the axis), onnxruntime drops it. A Gemm on a step is rank 3 to onnx, rank 2 to
    onnxruntime, which loads the model: onnx's error there is no refusal (AL001, not AL008)."""
    path = tmp_path / "unbind.onnx.txt"
    path.write_text('''<ir_version: 8, opset_import: ["" : 17]>
unbind (float[5, 2, 3] X) => (float[2, 4] Y)
<float[3, 4] W = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, int64 one = {1}, int64 first = {0}>
{
  steps = SplitToSequence <axis = 0, keepdims = 0> (X, one)
  x0 = SequenceAt (steps, first)
  [gemm] Y = Gemm (x0, W)
}''', encoding="utf-8")
    codes = [(f.code, f.severity) for f in Linter(load_rules().rules).lint_file(path).findings]
    assert codes == [("AL001", Severity.WARNING)], codes
    assert _session_error(path) is None
