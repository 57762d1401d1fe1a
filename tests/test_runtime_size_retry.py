"""A run that fails at archlint's default sizes runs again at larger ones (real sessions).

silero-vad's ``silero_vad_half.onnx`` (PyPI ``silero-vad`` 6.2) declares its audio
``[batch, sequence]`` and reflect-pads it by 64 samples: at the default ``sequence=5``
onnxruntime's Pad refuses, and archlint called that an AL502 error against a model that runs
at 512. fixtures/runtime_sizes/reflect_pad_lstm.onnx.txt has the same front-end before an LSTM.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.registry import load_rules
from archlint.runtime import check as runtime_check
from archlint.runtime.inputs import RETRY_SIZE, bind_dims, sizes_to_retry
from archlint.runtime.settings import RuntimeSettings

from .conftest import FIXTURES, REPO, invoke
from .runtime_support import Checked, check

REFLECT_PAD = FIXTURES / "runtime_sizes" / "reflect_pad_lstm.onnx.txt"
DOUBLE_LSTM = FIXTURES / "AL502" / "bad.onnx.txt"
SELECTOR = FIXTURES / "selector" / "vad_sr_if.onnx"
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "report-v1.schema.json").read_text())
RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]
PAD_REFUSES = ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while "
               "running Pad node. Name:'reflect' Status Message: Pad reflect: pre-pad (64) "
               "exceeds maximum allowed (2) for axis 1. Input shape:{2,3}")


def run_one(path: object, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def test_the_retried_dims_are_the_named_defaults_but_the_batch() -> None:
    ctx = analyse(load_model(REFLECT_PAD))
    first = bind_dims(ctx.graph, ctx.layers, {})
    assert first.values == {"batch": 2, "samples": 3}
    assert sizes_to_retry(first) == {"samples": RETRY_SIZE} == {"samples": 512}
    # a size the user gave is never second-guessed
    assert sizes_to_retry(bind_dims(ctx.graph, ctx.layers, {"samples": 3})) == {}
    retried = bind_dims(ctx.graph, ctx.layers, {}, retried={"samples": 512})
    assert retried.values == {"batch": 2, "samples": 512}
    assert retried.origin["samples"] == "larger size: the run failed at the default"
    assert "samples" in retried.user  # so the sweep leaves it alone
    # an unnamed dim is invented (AL514 names it), not retried
    selector = analyse(load_model(SELECTOR))
    assert "input:1" not in sizes_to_retry(bind_dims(selector.graph, selector.layers, {}))


def test_a_model_that_needs_a_minimum_length_is_a_warning_and_checked_at_512() -> None:
    result = run_one(REFLECT_PAD)
    assert [f.code for f in result.findings] == ["AL514"]
    (finding,) = result.findings
    assert finding.severity.value == "warning"
    assert finding.location.node == "reflect"
    assert finding.message == (
        "onnxruntime failed to run the model on cpu at the sizes archlint chose "
        f"(batch=2, samples=3) and ran it at batch=2, samples=512: {PAD_REFUSES}")
    assert finding.expected == "the sizes the model is meant to get"
    assert finding.actual == "archlint's defaults (batch=2, samples=3)"
    assert finding.help is not None
    assert finding.help.startswith("Give them and run again: --dim samples=SIZE ")
    # the rest of the check ran at the larger size: outputs, the batch sweep, the reference
    run = result.run
    assert run.main is not None and run.main.status == "ok"
    assert run.binding == "batch=2, samples=512"
    assert run.retried is not None and run.retried.first == "batch=2, samples=3"
    assert [(s.name, s.shape) for s in run.inputs] == [("audio", (2, 512))]
    assert [(s.dim, s.base, s.size, s.status) for s in run.sweep] == [("batch", 2, 3, "ok")]
    assert any(n.startswith("reference: LSTM 'encoder' agrees with onnx.reference")
               for n in run.notes), run.notes


def test_the_cli_passes_with_the_warning_and_the_json_says_what_was_retried() -> None:
    result = invoke("run", "--runs", "1", str(REFLECT_PAD))
    assert result.exit_code == 0, result.output  # a warning: the default --fail-on passes
    assert "    dims: batch=2 (default), samples=512 (larger size: the run failed at the " \
           "default)" in result.output
    assert " AL502 " not in result.output
    lint = invoke("lint", "--runtime", str(REFLECT_PAD))
    assert lint.exit_code == 0, lint.output
    assert [line.split(": ")[1] for line in lint.output.splitlines() if " AL5" in line] == [
        "AL514 warning"]
    report = json.loads(invoke("run", "--runs", "1", "--format", "json",
                               str(REFLECT_PAD)).output)
    jsonschema.validate(report, SCHEMA)
    runtime = report["models"][0]["runtime"]
    assert runtime["status"] == "ok"
    assert runtime["binding"] == "batch=2, samples=512"
    assert runtime["retried"] == {"first_binding": "batch=2, samples=3", "error": PAD_REFUSES,
                                  "node": "reflect"}


def test_a_size_the_user_gave_fails_as_the_models_error() -> None:
    result = run_one(REFLECT_PAD, dims={"samples": 3})
    assert [f.code for f in result.findings] == ["AL502"]
    assert result.run.retried is None
    assert not [n for n in result.run.notes if "larger sizes" in n]


def test_a_failure_at_both_sizes_stays_an_error_with_a_note_of_the_second() -> None:
    result = run_one(DOUBLE_LSTM)
    assert [f.code for f in result.findings] == ["AL502"]
    assert result.run.binding == "seq=5, batch=2"  # the first run's results are reported
    notes = [n for n in result.run.notes if "larger sizes" in n]
    assert len(notes) == 1
    assert notes[0].startswith("run again at larger sizes (seq=512, batch=2): failed too: "
                               "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : ")
    assert notes[0].endswith("LSTM operator does not support double yet")
    report = json.loads(invoke("run", "--runs", "1", "--format", "json",
                               str(DOUBLE_LSTM)).output)
    jsonschema.validate(report, SCHEMA)
    assert report["models"][0]["runtime"]["retried"] is None


def test_no_second_run_when_the_deadline_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_check, "MIN_RETRY_S", 1e9)
    result = run_one(REFLECT_PAD)
    assert [f.code for f in result.findings] == ["AL502"]
    assert "not run again at larger sizes: the deadline is spent" in result.run.notes
