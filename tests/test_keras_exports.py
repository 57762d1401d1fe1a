"""Real Keras exports through tf2onnx 1.17 (committed fixtures, see fixtures/keras/).

Acceptance for issue 11: on every export, lint gives no error, and `params --convention keras`
equals Keras's own `count_params()` per layer and in total, Loop-based and unrolled layers
included. The numbers come from fixtures/keras/manifest.json, written by make_keras.py while
the Keras model was in memory; no TensorFlow is needed here.

A params row belongs to a Keras layer when its node is one that reads that layer's weights
(the manifest's `onnx_nodes`: the native LSTM/GRU node, the Loop, the MatMuls of an unrolled
cell, the MatMul/Add of a Dense, the Gather of an Embedding), or when one of its slot tensors
is one of that layer's weight tensors (`initializers`, by value; or the name a Loop body gives
one of them, `body_aliases`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from archlint.api import Severity
from archlint.engine import Linter
from archlint.registry import load_rules

from .conftest import FIXTURES, invoke

KERAS = FIXTURES / "keras"
MANIFEST: dict[str, Any] = json.loads((KERAS / "manifest.json").read_text())
MODELS = sorted(name for name in MANIFEST if not name.startswith("_"))
RECURRENT_CLASSES = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}


def _layers(name: str) -> list[dict[str, Any]]:
    return list(MANIFEST[name]["layers"])


def _recurrent_layers(name: str) -> list[dict[str, Any]]:
    return [layer for layer in _layers(name) if layer["class"] in RECURRENT_CLASSES]


def _tensor_names(layer: dict[str, Any]) -> set[str]:
    return ({i["name"] for i in layer["initializers"]}
            | {a["name"] for a in layer["body_aliases"]})


def _node_names(layer: dict[str, Any]) -> set[str]:
    return {n["node"] for n in layer["onnx_nodes"]}


@cache
def _params(name: str) -> dict[str, Any]:
    result = invoke("params", "--convention", "keras", "--format", "json", str(KERAS / name))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["convention"] == "keras"
    (model,) = report["models"]
    assert model["error"] is None, model["error"]
    return dict(model)


def _owners(row: dict[str, Any], layers: list[dict[str, Any]]) -> list[str]:
    tensors = {slot["tensor"] for slot in row["slots"]}
    return [layer["name"] for layer in layers
            if row["node"] in _node_names(layer) or tensors & _tensor_names(layer)]


def _row_text(row: dict[str, Any]) -> str:
    slots = ", ".join(f"{s['slot']}={s['tensor']}:{s['keras']}" for s in row["slots"])
    keras = row["params"]["keras"]
    return f"{row['op_type']} {row['label']!r} ({row['kind']}, keras={keras}: {slots})"


def _emitted(layer: dict[str, Any]) -> str:
    return "; ".join(layer["emitted_as"]) or "no weights"


# --------------------------------------------------------------------------- the fixtures


def test_manifest_covers_the_acceptance_list() -> None:
    required = {
        "k2_lstm.onnx", "k2_gru_reset_after.onnx", "k2_gru_reset_before.onnx",
        "k2_simple_rnn.onnx", "k2_bidir_lstm_concat.onnx", "k2_bidir_lstm_sum.onnx",
        "k2_bidir_lstm_mul.onnx", "k2_bidir_lstm_ave.onnx", "k2_bidir_lstm_none.onnx",
        "k2_bidir_gru.onnx", "k2_stacked_lstm_dense.onnx", "k2_lstm_return_state.onnx",
        "k2_lstm_go_backwards.onnx", "k2_masking_lstm.onnx", "k2_lstm_no_bias.onnx",
        "k2_gru_no_bias.onnx", "k2_lstm_state_inputs.onnx", "k2_encoder_decoder.onnx",
        "k2_lstm_recurrent_dropout.onnx", "k2_embed_lstm_dense.onnx", "k3_gru.onnx",
        "k3_lstm.onnx",
    }
    assert required <= set(MODELS), sorted(required - set(MODELS))
    assert MANIFEST["k3_gru.onnx"]["keras_version"].startswith("3.")
    assert MANIFEST["k2_lstm.onnx"]["keras_version"] == "2.18.0"
    assert MANIFEST["k2_lstm.onnx"]["tf2onnx_version"] == "1.17.0"
    merge_modes = {MANIFEST[m]["layers"][1]["config"]["merge_mode"]
                   for m in MODELS if m.startswith("k2_bidir_lstm_") and "no_bias" not in m}
    assert merge_modes == {"concat", "sum", "mul", "ave", None}


def test_the_exports_cover_native_loop_and_unrolled_layers() -> None:
    """What tf2onnx really emitted (docs/keras-exports.md), so that the classes stay covered."""
    def emitted(model: str, layer: str) -> list[str]:
        (entry,) = [x for x in _layers(model) if x["name"] == layer]
        return [e.split(" ")[0] if e.startswith(("Loop", "native")) else e
                for e in entry["emitted_as"]]

    assert emitted("k2_lstm.onnx", "lstm") == ["native"]
    assert emitted("k2_gru_reset_after.onnx", "gru") == ["native"]
    for model, layer in [("k2_gru_reset_before.onnx", "gru"), ("k2_simple_rnn.onnx", "simple_rnn"),
                         ("k2_masking_lstm.onnx", "lstm"), ("k2_gru_no_bias.onnx", "gru"),
                         ("k2_lstm_recurrent_dropout.onnx", "lstm"), ("k3_gru.onnx", "gru")]:
        assert "Loop" in emitted(model, layer), (model, layer)
    assert "Loop" not in emitted("k2_lstm_unrolled.onnx", "lstm")
    assert "native" not in emitted("k2_lstm_unrolled.onnx", "lstm")
    (zero_b,) = [i for i in _layers("k2_lstm_no_bias.onnx")[1]["initializers"] if not i["holds"]]
    assert (zero_b["shape"], zero_b["zeros"]) == ([1, 24], 24)


@pytest.mark.parametrize("name", MODELS)
def test_export_ran_in_onnxruntime_like_keras(name: str) -> None:
    check = MANIFEST[name]["ort_check"]
    assert check["status"] == "ok", check
    assert len(check["runs"]) == 2
    assert all(run["max_abs_diff"] <= check["atol"] for run in check["runs"]), check["runs"]


# --------------------------------------------------------------------------- archlint on them


@pytest.mark.parametrize("name", MODELS)
def test_lint_gives_no_error(name: str) -> None:
    report = Linter(load_rules().rules).lint_file(KERAS / name)
    assert report.error is None, report.error
    errors = [f"{f.code} {f.location.graph}/{f.location.node}: {f.message}"
              for f in report.findings if f.severity is Severity.ERROR]
    assert errors == [], f"{name}: false error on a model that runs in onnxruntime like Keras"


@pytest.mark.parametrize("name", MODELS)
def test_params_total_equals_keras_count_params(name: str) -> None:
    model = _params(name)
    expected = MANIFEST[name]["count_params"]
    rows = "\n  ".join(_row_text(r) for r in model["layers"]) or "(no rows)"
    assert model["totals"]["keras"] is not None, (
        f"{name}: Keras total is unknown ('?'); Keras says {expected}\n  {rows}")
    assert model["totals"]["keras"] == expected, (
        f"{name}: archlint's Keras total {model['totals']['keras']} != Keras count_params() "
        f"{expected}\n  {rows}\n  uncounted: {model['uncounted_initializers']}")


@pytest.mark.parametrize("name", MODELS)
def test_params_per_layer_equal_keras_count_params(name: str) -> None:
    model = _params(name)
    layers = _layers(name)
    found: dict[str, int | str] = {layer["name"]: 0 for layer in layers}
    stray: list[str] = []
    for row in model["layers"]:
        owners = _owners(row, layers)
        assert len(owners) <= 1, f"{name}: {_row_text(row)} matches layers {owners}"
        keras = row["params"]["keras"]
        if not owners:
            if keras != 0:
                stray.append(_row_text(row))
            continue
        (owner,) = owners
        current = found[owner]
        found[owner] = "?" if keras is None or current == "?" else int(current) + keras
    expected = {layer["name"]: layer["count_params"] for layer in layers}
    detail = "\n  ".join(
        f"{layer['name']} ({layer['class']}): Keras {layer['count_params']}, archlint "
        f"{found[layer['name']]}; tf2onnx emitted: {_emitted(layer)}"
        for layer in layers if found[layer["name"]] != layer["count_params"])
    assert found == expected, f"{name}: per-layer Keras counts differ\n  {detail}"
    assert stray == [], f"{name}: rows that belong to no Keras layer: {stray}"


@pytest.mark.parametrize("name", MODELS)
def test_every_recurrent_layer_is_seen_and_its_weights_counted(name: str) -> None:
    model = _params(name)
    rows = model["layers"]
    slot_tensors = {slot["tensor"] for row in rows for slot in row["slots"]}
    problems: list[str] = []
    for layer in _recurrent_layers(name):
        recurrent_rows = [r for r in rows
                          if r["kind"] == "recurrent" and _owners(r, [layer]) == [layer["name"]]]
        if not recurrent_rows:
            problems.append(f"{layer['name']} ({layer['class']}): no recurrent layer recognised; "
                            f"tf2onnx emitted: {_emitted(layer)}")
        aliases: dict[str, set[str]] = {}
        for alias in layer["body_aliases"]:
            aliases.setdefault(alias["of"], set()).add(alias["name"])
        for init in layer["initializers"]:
            if not init["holds"]:
                continue  # an all-zero B that no Keras weight stands behind: not a weight
            names = {init["name"]} | aliases.get(init["name"], set())
            if not names & slot_tensors:
                problems.append(
                    f"{layer['name']}: {init['name']} {init['shape']} (holds "
                    f"{', '.join(init['holds'])}) is in no params row: filed as a constant")
    assert problems == [], (f"{name}: recurrent weights not counted "
                            f"(uncounted: {model['uncounted_initializers']})\n  "
                            + "\n  ".join(problems))


def _runtime_errors(name: str) -> list[str]:
    result = invoke("lint", "--runtime", "-q", "--format", "json", str(KERAS / name))
    (model,) = json.loads(result.output)["models"]
    assert model["error"] is None, model["error"]
    return [f"{f['code']} {f['location']['node']}: {f['message']}"
            for f in model["findings"] if f["severity"] == "error"]


# Keras gives every input its own symbolic batch (tf2onnx writes unk__N per input), so a
# model with several inputs runs only when archlint feeds them one batch size.
MULTI_INPUT = [name for name in MODELS if len(MANIFEST[name]["inputs"]) > 1]


@pytest.mark.parametrize("name", MULTI_INPUT)
def test_lint_runtime_gives_no_error_on_multi_input_exports(name: str) -> None:
    assert _runtime_errors(name) == [], (
        f"{name}: onnxruntime ran this export like Keras at batch/time "
        f"{[(r['batch'], r['time']) for r in MANIFEST[name]['ort_check']['runs']]}")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(MODELS) - set(MULTI_INPUT)))
def test_lint_runtime_gives_no_error(name: str) -> None:
    assert _runtime_errors(name) == []
