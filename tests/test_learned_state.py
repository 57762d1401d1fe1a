"""A learned initial state (fixtures/learned_state, make_learned_state.py): an nn.Parameter h0
[2, 1, 8] expanded to the batch and sliced per layer. PyTorch counts its 16 elements; it was
filed under "constants, not counted" (843 of 859). Zeros and a state the caller feeds are no
parameter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import FIXTURES, run_archlint

HERE = FIXTURES / "learned_state"
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))


def _params(path: Path) -> dict[str, Any]:
    proc = run_archlint("params", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    model: dict[str, Any] = json.loads(proc.stdout)["models"][0]
    return model


@pytest.mark.parametrize("name", ["gru_learned_h0_classic.onnx", "gru_learned_h0_dynamo.onnx"])
def test_a_learned_initial_state_is_counted_once(name: str) -> None:
    assert MANIFEST["torch_params"] == 859
    model = _params(HERE / name)
    assert model["totals"] == {"onnx": 859, "pytorch": 859, "keras": 859}
    first, second = (row for row in model["layers"] if row["op_type"] == "GRU")
    [state] = [s for s in first["slots"] if s["slot"] == "initial_h"]
    assert (state["elements"], state["pytorch"], state["basis"],
            [src["tensor"] for src in state["sources"]]) == (16, 16, "traced", ["h0"])
    [again] = [s for s in second["slots"] if s["slot"] == "initial_h"]
    assert again["shared_with"] == first["node"]
    assert any(note.startswith("S: initial_h is made of stored 'h0'") for note in first["notes"])
    assert model["uncounted_initializers"]["elements"] < 16  # shape constants at most


_STATE_MODEL = """<ir_version: 8, opset_import: ["" : 17]>
g (float[5, batch, 3] X%s) => (float[5, 1, batch, 2] Y) {
  shp = Shape (X)
  b = Slice <axes: ints = [0]> (shp, one, two)
  target = Concat <axis: int = 0> (one, b, two)
  H0 = Expand (h0, target)
  Y = GRU <hidden_size: int = 2, linear_before_reset: int = 1> (X, W, R, B, , H0)
}"""


def _text_model(tmp_path: Path, h0: str, as_input: bool) -> Path:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.parser.parse_model(_STATE_MODEL % (", float[1, 1, 2] h0" if as_input else ""))
    rng = np.random.default_rng(0)
    values = {"W": rng.uniform(-1, 1, (1, 6, 3)), "R": rng.uniform(-1, 1, (1, 6, 2)),
              "B": rng.uniform(-1, 1, (1, 12)), "one": np.array([1]), "two": np.array([2]),
              "h0": np.zeros((1, 1, 2)) if h0 == "zeros" else np.full((1, 1, 2), 0.5)}
    model.graph.initializer.extend(
        numpy_helper.from_array(v.astype(np.int64 if v.dtype.kind == "i" else np.float32), k)
        for k, v in values.items() if not (as_input and k == "h0"))
    path = tmp_path / f"{h0}_{as_input}.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(("h0", "as_input", "counted"), [
    ("learned", False, 2), ("zeros", False, 0), ("learned", True, 0)])
def test_only_a_stored_state_that_is_not_zeros_counts(
    tmp_path: Path, h0: str, as_input: bool, counted: int
) -> None:
    """GRU(3 -> 2): W 18 + R 12 + B 12 = 42, plus S where h0 is stored and not all zeros; a
    state the caller feeds (a graph input) is none."""
    model = _params(_text_model(tmp_path, h0, as_input))
    assert model["totals"] == {"onnx": 42 + counted, "pytorch": 42 + counted,
                               "keras": 42 + counted}
    [row] = model["layers"]
    assert [s["slot"] for s in row["slots"]] == ["W", "R", "B"] + (["initial_h"] if counted else [])
