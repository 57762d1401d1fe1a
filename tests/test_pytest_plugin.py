"""`pytest --archlint`: models as test items, run in a child pytest found via the pytest11 entry
point (nothing here imports the plugin module)."""

from __future__ import annotations

from importlib.metadata import entry_points

import onnx
import pytest

from .conftest import FIXTURES

pytest_plugins = ["pytester"]


def _save(pytester: pytest.Pytester, code: str, kind: str, name: str) -> None:
    model = onnx.parser.parse_model((FIXTURES / code / f"{kind}.onnx.txt").read_text())
    target = pytester.path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, target)


def test_registered_through_the_pytest11_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("archlint") == "archlint.pytest_plugin"


def test_each_model_is_an_item_and_failures_show_the_findings(pytester: pytest.Pytester) -> None:
    _save(pytester, "AL201", "bad", "models/encoder.onnx")
    _save(pytester, "AL201", "good", "models/decoder.onnx")
    (pytester.path / "broken.onnx").write_bytes(b"not a model")
    result = pytester.runpytest_subprocess("--archlint", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["archlint: error: broken.onnx: not an ONNX model*"])
    result.stdout.fnmatch_lines([
        "*models/decoder.onnx::archlint PASSED*",
        "*models/encoder.onnx::archlint FAILED*",
    ])
    result.stdout.fnmatch_lines([
        "models/encoder.onnx:main/lstm_0: AL201 error: LSTM 'lstm_0' has hidden_size=4 but W "
        "and R imply hidden_size=3",
        "    attribute hidden_size: expected 3, found 4",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_the_option_models_are_not_collected(pytester: pytest.Pytester) -> None:
    _save(pytester, "AL201", "bad", "encoder.onnx")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_config_applies_to_the_items(pytester: pytest.Pytester) -> None:
    _save(pytester, "AL201", "bad", "legacy/encoder.onnx")
    _save(pytester, "AL301", "bad", "current/rnn.onnx")
    pytester.makefile(".toml", pyproject='[tool.archlint.per-path-ignores]\n'
                      '"legacy/*" = ["AL201"]\n\n[tool.archlint.severity]\nAL301 = "warning"\n')
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # AL201 ignored there; AL301 demoted below fail-on
    pytester.makefile(".toml", pyproject='[tool.archlint]\nfail-on = "warning"\n'
                      '[tool.archlint.severity]\nAL301 = "warning"\n')
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*current/rnn.onnx:main/lstm_fw: AL301 warning:*"])


def test_a_bad_config_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _save(pytester, "AL201", "good", "m.onnx")
    pytester.makefile(".toml", archlint='fail-on = 3\n')
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["archlint: error: *archlint.toml: fail-on: must be one of error, "
                                 "warning, info, never; got integer 3"])
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_code_in_the_config_is_a_collection_error(pytester: pytest.Pytester) -> None:
    _save(pytester, "AL201", "bad", "m.onnx")
    pytester.makefile(".toml", archlint='ignore = ["AL2O1"]\n')  # letter O, not zero
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["archlint: error: unknown rule code or prefix: AL2O1 "
                                 "(in *archlint.toml) (see `archlint rules`)"])


BATCH_FIRST_LSTM = """
<ir_version: 8, opset_import: ["" : 17]>
batch_first (float[batch, seq, 4] X, float[1, 12, 4] W, float[1, 12, 3] R)
    => (float[batch, seq, 1, 3] Y)
{
  [lstm_0] Y = LSTM <hidden_size: int = 3, layout: int = 1> (X, W, R)
}
"""


def test_targets_from_the_config_reach_the_items(pytester: pytest.Pytester) -> None:
    """Issue 12, first defect: ``targets`` in archlint.toml was ignored by ``pytest --archlint``
    while ``archlint lint`` failed on it. A batch-first LSTM (layout=1) is valid ONNX, clean
    without a target, and refused by onnxruntime's CPU kernels (AL601, an error)."""
    onnx.save_model(onnx.parser.parse_model(BATCH_FIRST_LSTM), pytester.path / "batch_first.onnx")
    pytester.makefile(".toml", archlint='targets = ["onnxruntime-cpu"]\n')
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["batch_first.onnx:main/lstm_0: AL601 error: LSTM 'lstm_0' on "
                                 "onnxruntime-cpu is refused at session creation*"])
    (pytester.path / "archlint.toml").write_text("", encoding="utf-8")
    result = pytester.runpytest_subprocess("--archlint", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
