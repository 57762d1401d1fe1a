"""Issue 13: tied dims, the size sweep, user-given inputs, honest blame (real sessions)."""

from __future__ import annotations

from pathlib import Path

from archlint.engine import analyse
from archlint.loader import load_model
from archlint.registry import load_rules
from archlint.runtime.inputs import bind_dims
from archlint.runtime.settings import RuntimeSettings

from .conftest import FIXTURES
from .runtime_support import Checked, check

KERAS_STATES = FIXTURES / "keras" / "k2_lstm_state_inputs.onnx"
RUNTIME_RULES = [r for r in load_rules().rules if r.runtime]


def run_one(path: Path, **settings: object) -> Checked:
    return check(path, RUNTIME_RULES, RuntimeSettings(**{"runs": 1, **settings}))  # type: ignore[arg-type]


def test_tf2onnx_state_batches_are_tied_to_the_batch_of_x() -> None:
    ctx = analyse(load_model(KERAS_STATES))
    binding = bind_dims(ctx.graph, ctx.layers, {})
    # x [unk__2271, unk__2272, 4]; h0 [unk__2273, 3] and c0 [unk__2274, 3] reach the LSTM
    # through Unsqueeze, x through a Transpose: one batch under three names
    assert binding.values["unk__2271"] == binding.values["unk__2273"] == \
        binding.values["unk__2274"] == 2
    assert binding.values["unk__2272"] == 5
    assert ("batch", ("unk__2271", "unk__2273", "unk__2274")) in binding.groups
    # one --dim on any of them, by symbol, by role or by input axis, binds all three
    for requested in ({"unk__2273": 4}, {"batch": 4}, {"x:0": 4}, {"x[0]": 4}):
        bound = bind_dims(ctx.graph, ctx.layers, requested)
        assert [bound.values[k] for k in ("unk__2271", "unk__2273", "unk__2274")] == [4] * 3, \
            requested
        assert bound.unused == ()


def test_tf2onnx_state_inputs_run_clean_at_a_requested_batch() -> None:
    result = run_one(KERAS_STATES, dims={"batch": 3})
    assert [f.code for f in result.findings] == []
    assert [(s.name, s.shape) for s in result.inputs] == [
        ("x", (3, 5, 4)), ("h0", (3, 3)), ("c0", (3, 3))]
