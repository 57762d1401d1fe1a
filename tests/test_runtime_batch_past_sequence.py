"""The size sweep moves a recurrent layer's batch past its sequence: a graph that takes one
axis for the other (tf2onnx 1.17's Keras 3 TimeDistributed with a dynamic time axis loops
over the batch) runs at batch 3 < seq 5, returns the batch as its time axis, and passed the
sweep; past the sequence it fails, and a run with the sequence past the batch in turn shows
that the failure is the one axis taken for the other."""

from __future__ import annotations

import json

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.registry import load_rules
from archlint.runtime.inputs import bind_dims, sequence_past, sweep_bindings
from archlint.runtime.settings import RuntimeSettings

from .conftest import FIXTURES
from .runtime_support import Checked, check

RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]
TIME_DISTRIBUTED = FIXTURES / "AL513" / "keras3_timedistributed_dynamic.onnx"
CLASSIC = FIXTURES / "exported" / "lstm_l2_bi_classic.onnx"


def run_one(path: object, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def test_the_keras3_timedistributed_export_is_what_the_fixture_says() -> None:
    truth = json.loads((FIXTURES / "AL513" / "keras3_timedistributed.json").read_text())
    assert truth["keras"]["2x6"] == [2, 6, 2] and truth["onnxruntime"]["2x6"] == "[2, 2, 2]"
    assert truth["onnxruntime"]["3x5"] == "[3, 3, 2]"  # the old sweep's size: it runs
    assert truth["onnxruntime"]["7x5"].startswith("Fail:")
    assert truth["onnxruntime"]["7x9"] == "[7, 7, 2]"


def test_a_batch_that_fails_only_past_the_sequence_is_an_al513_error_that_says_so() -> None:
    result = run_one(TIME_DISTRIBUTED)
    [finding] = result.findings
    assert (finding.code, finding.severity.value) == ("AL513", "error")
    assert finding.location.node == \
        "functional_1/time_distributed_1/loop_body/strided_slice_1/pfor/while/StridedSlice__122"
    assert finding.message.startswith(
        "the model runs at unk__554=2 but fails at unk__554=7 in Squeeze "
        "'functional_1/time_distributed_1/loop_body/strided_slice_1/pfor/while/"
        "StridedSlice__122' (batch dim; it ran at unk__554=7, unk__555=9: it fails only "
        "where the batch passes the sequence; onnxruntime: ")
    assert (finding.expected, finding.actual) == (
        "runs at every unk__554 (declared dynamic)", "runs at unk__554=2, fails at unk__554=7")
    assert finding.help is not None and finding.help.startswith(
        "The graph takes the batch's size for the sequence's (or the other way round)")
    assert "Keras 3's TimeDistributed" in finding.help
    assert result.run.sweep_lines() == (
        "unk__554 2 -> 7 (unk__554=7, unk__555=5): run failed in Squeeze "
        "'functional_1/time_distributed_1/loop_body/strided_slice_1/pfor/while/"
        "StridedSlice__122'; ran at unk__554=7, unk__555=9: it fails only where the batch "
        "passes the sequence",
        "unk__555 5 -> 7 (unk__554=2, unk__555=7): ok")


def test_the_same_model_at_a_batch_below_its_length_runs_and_is_not_reported() -> None:
    """What the sweep did before: batch 3 at seq 5 runs (and returns [3, 3, 2])."""
    result = run_one(TIME_DISTRIBUTED, dims={"unk__555": 9})
    assert [f.code for f in result.findings] == ["AL513"]  # 9 + 2 = 11: still swept past
    small = run_one(TIME_DISTRIBUTED, dims={"unk__554": 3})
    assert [f.code for f in small.findings] == []
    assert small.outputs[0].startswith("time_distributed float32[3, 3, 2]")


def test_a_model_that_runs_at_every_batch_passes_the_sweep_past_its_sequence() -> None:
    result = run_one(CLASSIC)
    assert [f.code for f in result.findings] == []
    assert [(s.dim, s.base, s.size, s.status, s.below_sequence) for s in result.run.sweep] == [
        ("seq", 5, 7, "ok", ""), ("batch", 2, 7, "ok", "")]


def test_the_batch_passes_the_sequence_only_while_that_stays_small() -> None:
    ctx = analyse(load_model(CLASSIC))
    sizes = {role: (base, other) for _, role, base, other, _ in
             sweep_bindings(bind_dims(ctx.graph, ctx.layers, {}))}
    assert sizes == {"seq": (5, 7), "batch": (2, 7)}
    given = {role: (base, other) for _, role, base, other, _ in
             sweep_bindings(bind_dims(ctx.graph, ctx.layers, {"seq": 14}))}
    assert given == {"batch": (2, 16)}  # the user's seq is not swept; the batch passes it
    long = {role: (base, other) for _, role, base, other, _ in
            sweep_bindings(bind_dims(ctx.graph, ctx.layers, {"seq": 15}))}
    assert long == {"batch": (2, 3)}  # 17 would be past BATCH_PAST_SEQ_MAX: the small size


def test_the_sequence_is_moved_past_the_batch_only_where_archlint_chose_it() -> None:
    ctx = analyse(load_model(CLASSIC))
    chosen = bind_dims(ctx.graph, ctx.layers, {})
    moved = sequence_past(chosen, 7)
    assert moved is not None and moved.values == {"seq": 9, "batch": 2}
    assert sequence_past(bind_dims(ctx.graph, ctx.layers, {"seq": 5}), 7) is None
