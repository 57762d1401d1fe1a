"""archlint.patterns state walks added for issue 11: one axis through Unsqueeze / Reshape /
Expand (state_source), rows in the order they are picked (picked_rows), Loop-carried values
and If branches."""

from __future__ import annotations

from pathlib import Path

import onnx

from archlint.engine import analyse
from archlint.graph import ModelGraph
from archlint.loader import load_model
from archlint.patterns import (
    if_branch_outputs,
    loop_initial_value,
    picked_rows,
    state_origin,
    state_source,
)

_HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'


def _graph(tmp_path: Path, text: str) -> ModelGraph:
    path = tmp_path / "m.onnx"
    onnx.save_model(onnx.parser.parse_model(_HEADER + text), path)
    return analyse(load_model(path)).graph


_AXES = """
g (float[batch, 3] h2, float[2, batch, 3] S, float[1, 3] z)
  => (float[1, batch, 3] a, float[1, batch, 3] b, float[1, batch, 3] c, float[1, batch, 3] d,
      float[1, 1, 3] e) {
  [ax0] ax0 = Constant <value: tensor = int64[1] {0}> ()
  [u] a = Unsqueeze (h2, ax0)
  [t] tgt = Constant <value: tensor = int64[3] {1, -1, 3}> ()
  [r] b = Reshape (h2, tgt)
  [i1] i1 = Constant <value: tensor = int64 {1}> ()
  [g] row = Gather <axis: int = 0> (S, i1)
  [u2] c = Unsqueeze (row, ax0)
  [shape] sh = Shape (a)
  [x] d = Expand (a, sh)
  [zs] zsh = Constant <value: tensor = int64[3] {1, 1, 3}> ()
  [bz] e = Expand (z, zsh)
}"""


def test_state_source_follows_the_batch_axis_to_rank2_inputs(tmp_path: Path) -> None:
    graph = _graph(tmp_path, _AXES)
    found = {name: state_source(graph, name, "main", 1) for name in "abcde"}
    assert [(found[n].root, found[n].axis) for n in "abcd"] == [
        ("h2", 0), ("h2", 0), ("S", 1), ("h2", 0)]
    # Expand broadcasting axis 1 of z [1, 3]: the batch comes from Expand's shape input.
    assert (found["e"].root, found["e"].producer.op_type) == ("e", "Expand")


_ROWS = """
g (float[4, batch, 3] S) => (float[2, batch, 3] a, float[2, batch, 3] b, float[2, batch, 3] c,
                             float[2, batch, 3] d) {
  [idx] idx = Constant <value: tensor = int64[2] {3, 2}> ()
  [g] a = Gather <axis: int = 0> (S, idx)
  [s3] s3 = Constant <value: tensor = int64[1] {3}> ()
  [s1] s1 = Constant <value: tensor = int64[1] {1}> ()
  [ax] ax = Constant <value: tensor = int64[1] {0}> ()
  [m1] m1 = Constant <value: tensor = int64[1] {-1}> ()
  [rev] b = Slice (S, s3, s1, ax, m1)
  [s2] s2 = Constant <value: tensor = int64[1] {2}> ()
  [s4] s4 = Constant <value: tensor = int64[1] {4}> ()
  [lo] lo = Slice (S, s2, s3, ax)
  [hi] hi = Slice (S, s3, s4, ax)
  [cat] c = Concat <axis: int = 0> (hi, lo)
  [fwd] d = Slice (S, s2, s4, ax)
}"""


def test_picked_rows_keeps_the_order_rows_arrive_in(tmp_path: Path) -> None:
    graph = _graph(tmp_path, _ROWS)
    picked = {name: picked_rows(graph, name) for name in "abcd"}
    assert {name: p.rows for name, p in picked.items() if p is not None} == {
        "a": (3, 2), "b": (3, 2), "c": (3, 2), "d": (2, 3)}
    assert [picked[n].picker.name for n in "abcd"] == ["g", "rev", "cat", "fwd"]


_CONTROL = """
g (float[seq, batch, 4] X, int64 n, bool go, bool flag, float[2, batch, 3] S,
   float[1, 9, 4] W, float[1, 9, 3] R) => (float[1, batch, 3] last, float[1, batch, 3] same,
                                            float[1, batch, 3] differ) {
  [ax] ax = Constant <value: tensor = int64[1] {0}> ()
  [one] one = Constant <value: tensor = int64[1] {1}> ()
  [two] two = Constant <value: tensor = int64[1] {2}> ()
  [row1] h1 = Slice (S, one, two, ax)
  [loop] last = Loop (n, go, h1) <
    body: graph = body (int64 i, bool c, float[1, batch, 3] h_in)
        => (bool c_out, float[1, batch, 3] h_out) {
      [gru] Y, h_out = GRU <hidden_size: int = 3> (X, W, R, , , h_in)
      [keep] c_out = Identity (c)
    }
  >
  [agree] same = If (flag) <
    then_branch: graph = t () => (float[1, batch, 3] ta) { [st] ta = Slice (S, one, two, ax) },
    else_branch: graph = e () => (float[1, batch, 3] ea) { [se] ea = Identity (h1) }
  >
  [disagree] differ = If (flag) <
    then_branch: graph = t2 () => (float[1, batch, 3] tb) { [st2] tb = Slice (S, ax, one, ax) },
    else_branch: graph = e2 () => (float[1, batch, 3] eb) { [se2] eb = Identity (h1) }
  >
}"""


def test_loop_carried_values_and_if_branches(tmp_path: Path) -> None:
    graph = _graph(tmp_path, _CONTROL)
    assert loop_initial_value(graph, "h_in", "main/loop.body") == ("h1", "main")
    assert loop_initial_value(graph, "c", "main/loop.body") is None  # the condition
    carried = state_origin(graph, "h_in", "main/loop.body")
    assert (carried.root, carried.rows) == ("S", (1, 2))
    agree = state_origin(graph, "same")
    assert (agree.root, agree.rows) == ("S", (1, 2))  # both branches take row 1
    disagree = state_origin(graph, "differ")
    assert (disagree.root, disagree.rows) == ("S", None)  # same input, rows 0 vs 1: unknown
    [node] = [n for n in graph.iter_nodes(frozenset({"If"})) if n.name == "agree"]
    assert if_branch_outputs(graph, node, "same") == [
        ("main/agree.then_branch", "ta"), ("main/agree.else_branch", "ea")]
    assert state_source(graph, "same", "main", 1).axis == 1
