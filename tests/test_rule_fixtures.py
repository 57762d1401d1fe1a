"""Every rule: fixtures/<CODE>/good.* gives nothing, bad.* gives exactly the snapshot.

Runtime rules (``Rule.runtime``) find nothing statically: their fixtures go through the runtime
check (onnxruntime in a child process) with the settings in fixtures/<CODE>/runtime.json
(``{"good": {...}, "bad": {...}, "requires": [providers]}``); a fixture whose required
provider is not installed is skipped, saying which.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import onnx.parser
import pytest

from archlint.api import Finding, Rule
from archlint.engine import Linter
from archlint.registry import load_rules
from archlint.reporters.text import format_finding

from .conftest import FIXTURES, REPO, lint_model

RULES = [r for r in load_rules().rules if r.code != "AL000"]


def _fixture(code: str, kind: str) -> Path:
    folder = FIXTURES / code
    matches = sorted(p for p in folder.glob(f"{kind}.*") if p.name.endswith((".onnx", ".onnx.txt")))
    assert matches, f"{code} has no {kind} fixture in {folder}"
    return matches[0]


def _runtime_findings(rule: type[Rule], path: Path, kind: str) -> tuple[Finding, ...]:
    from archlint.runtime.check import available_providers
    from archlint.runtime.settings import RuntimeSettings

    config_path = FIXTURES / rule.code / "runtime.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    available = available_providers()
    missing = [p for p in config.get("requires", []) if p not in available]
    if missing:
        pytest.skip(f"{rule.code} {kind} fixture needs {', '.join(missing)} (not installed)")
    overrides = dict(config.get(kind, {}))
    for key in ("compare_model", "profiles"):  # runtime.json paths: relative to the fixture folder
        if key in overrides:
            overrides[key] = str((FIXTURES / rule.code / overrides[key]).relative_to(REPO))
    settings = RuntimeSettings.from_mapping({"runs": 1, **overrides})
    report = Linter([rule], runtime=settings).lint_file(path, str(path.relative_to(REPO)))
    assert report.error is None, report.error
    return report.findings


def _render(code: str, path: Path, kind: str) -> str:
    rule = next(r for r in RULES if r.code == code)
    if rule.runtime:
        findings = _runtime_findings(rule, path, kind)
    else:
        # Rules that only fire with options (deployment targets) declare what their fixtures need.
        options = getattr(rule, "fixture_options", None)
        report = Linter([rule], options=options).lint_file(path, str(path.relative_to(REPO)))
        assert report.error is None, report.error
        findings = report.findings
    return "".join(format_finding(f) + "\n" for f in findings)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # runtime.json paths and snapshot paths are repository-relative


@pytest.mark.parametrize("code", [r.code for r in RULES])
def test_good_fixture_is_clean(code: str) -> None:
    assert _render(code, _fixture(code, "good"), "good") == ""


@pytest.mark.parametrize("code", [r.code for r in RULES])
def test_bad_fixture_matches_snapshot(code: str, request: pytest.FixtureRequest) -> None:
    bad = _fixture(code, "bad")
    snapshot = FIXTURES / code / "expected.txt"
    output = _render(code, bad, "bad")
    assert output, f"{code}: the bad fixture produced no finding"
    assert all(line.startswith(f"{bad.relative_to(REPO)}") or line.startswith("    ")
               for line in output.splitlines())
    if request.config.getoption("--update-snapshots"):
        snapshot.write_text(output, encoding="utf-8")
    assert snapshot.read_text(encoding="utf-8") == output
    assert f" {code} " in output


def test_al322_on_a_real_keras2onnx_export() -> None:
    """fixtures/keras2onnx/gru_back_seq.onnx: keras2onnx 1.7.0's GRU(go_backwards=True,
    return_sequences=True), whose output differs from Keras's until flipped in time
    (manifest: max_abs_diff_vs_keras); its LSTM at opset 7, read forward, gets nothing."""
    import json

    from archlint.engine import Linter
    from archlint.registry import load_rules

    here = FIXTURES / "keras2onnx"
    assert json.loads((here / "manifest.json").read_text())["gru_back_seq"][
        "max_abs_diff_vs_keras"] > 0.1
    linter = Linter(load_rules().rules)
    back = linter.lint_file(here / "gru_back_seq.onnx")
    assert [(f.code, f.location.node, f.location.output) for f in back.findings] == [
        ("AL322", "gru", "Y")]
    assert not linter.lint_file(here / "lstm_seq_opset7.onnx").findings


def test_al323_on_a_real_keras2onnx_masking_export() -> None:
    """fixtures/keras2onnx/masking_lstm.onnx: keras2onnx 1.7.0's Masking(0.0) before an LSTM,
    the mask counted into sequence_lens: Keras's output post-padded, 0.15 off pre-padded
    (manifest). The export without a mask gets nothing."""
    import json

    from archlint.engine import Linter
    from archlint.registry import load_rules

    here = FIXTURES / "keras2onnx"
    measured = json.loads((here / "manifest.json").read_text())["masking_lstm"]
    assert measured["max_abs_diff_vs_keras_post_padded"] < 1e-5
    assert measured["max_abs_diff_vs_keras_pre_padded"] > 0.1
    linter = Linter(load_rules().rules)
    masked = linter.lint_file(here / "masking_lstm.onnx")
    assert [(f.code, f.location.node, f.location.input, f.actual) for f in masked.findings] == [
        ("AL323", "lstm_2", "sequence_lens", "sequence_lens counted from a mask of 'input_3'")]
    assert not [f for f in linter.lint_file(here / "lstm_states_opset8.onnx").findings
                if f.code == "AL323"]


def test_al324_on_a_policy_whose_state_buffers_were_exported_as_constants() -> None:
    """fixtures/AL324/policy_lstm.onnx: legged_gym's PolicyExporterLSTM (h and c in buffers
    updated in place), scripted, then exported by torch 2.13's classic exporter from the
    TorchScript file: the buffers are initializers, Y_h and Y_c are read by nothing, and
    onnxruntime gives one observation the same action whatever came before (manifest)."""
    import json

    from archlint.engine import Linter
    from archlint.registry import load_rules

    here = FIXTURES / "AL324"
    assert json.loads((here / "manifest.json").read_text())["same_action_after_other_calls"]
    linter = Linter(load_rules().rules)
    [finding] = [f for f in linter.lint_file(here / "policy_lstm.onnx").findings]
    assert (finding.code, finding.severity.value, finding.location.node,
            finding.location.input) == ("AL324", "warning", "/LSTM", "X")
    assert "starts every call from the stored tensor 'hidden_state' (initial_h) and the " \
        "stored tensor 'cell_state' (initial_c), not zeros" in finding.message
    assert finding.actual == "a stored state (initial_h, initial_c) and no state output"


def _weights(count: int) -> str:
    return ", ".join(f"{((k * 7) % 9 - 4) / 10:.1f}" for k in range(count))


AL324_ZERO = f"""\
<ir_version: 8, opset_import: ["" : 17]>
one_step (float[1, batch, 2] x) => (float[1, 1, batch, 3] Y)
  <float[1, 12, 2] W = {{{_weights(24)}}},
   float[1, 12, 3] R = {{{_weights(36)}}}>
{{
  [lstm_0] Y, Y_h = LSTM <hidden_size: int = 3> (x, W, R)
}}
"""


@pytest.mark.parametrize(("seq", "returned", "codes"), [
    ("1", "Y", ["AL324"]),  # Keras's input_shape=(1, features): R multiplies zeros
    ("seq", "Y", []),  # a sequence per call: the state is carried inside the node
    ("1", "Y_h", []),  # the state is returned: the caller may feed it back
])
def test_al324_on_one_zero_state_step(tmp_path: Path, seq: str, returned: str,
                                      codes: list[str]) -> None:
    text = AL324_ZERO.replace("float[1, batch, 2] x", f"float[{seq}, batch, 2] x")
    if returned == "Y_h":
        text = text.replace("=> (float[1, 1, batch, 3] Y)",
                            "=> (float[1, 1, batch, 3] Y, float[1, batch, 3] Y_h)")
    findings = lint_model(onnx.parser.parse_model(text), tmp_path, select=["AL324"])
    assert [f.code for f in findings] == codes
    if codes:
        assert "starts every call from a zero state, so R multiplies zeros and its g·H·H " \
            "weights per direction never reach the output" in findings[0].message
        assert findings[0].actual == "a zero state, one step, no state output"


AL324_BUILT_STATE = f"""\
<ir_version: 8, opset_import: ["" : 17]>
one_step (float[1, batch, 2] x) => (float[1, 1, batch, 3] Y)
  <float[1, 12, 2] W = {{{_weights(24)}}},
   float[1, 12, 3] R = {{{_weights(36)}}},
   int64[1] one = {{1}}, int64[1] two = {{2}}, int64[1] hidden = {{3}}>
{{
  [shape] x_shape = Shape (x)
  [batch] x_batch = Slice (x_shape, one, two)
  [dims] dims = Concat <axis: int = 0> (one, x_batch, hidden)
  [fill] h0 = ConstantOfShape <value: tensor = float[1] {{FILL}}> (dims)
  [lstm_0] Y, Y_h = LSTM <hidden_size: int = 3> (x, W, R, , , h0)
}}
"""


@pytest.mark.parametrize(("fill", "said"), [
    ("0.0", "starts every call from a zero state"),
    ("0.5", "starts every call from ConstantOfShape 'fill' (initial_h), not zeros"),
])
def test_al324_on_a_state_built_from_xs_batch(tmp_path: Path, fill: str, said: str) -> None:
    """torch's classic exporter builds the zero state of an nn.GRU called without h0 as a
    ConstantOfShape of X's batch (a public lottery predictor over [batch, 1, 18]): no
    caller feeds it; its fill says whether it is zeros."""
    text = AL324_BUILT_STATE.replace("{FILL}", "{" + fill + "}")
    findings = lint_model(onnx.parser.parse_model(text), tmp_path, select=["AL324"])
    assert [f.code for f in findings] == ["AL324"]
    assert said in findings[0].message
