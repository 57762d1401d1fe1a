"""AL004: a tensor read or returned that nothing defines (ModelGraph.undefined_reads).

Graphs onnxruntime loads must get nothing: unsorted nodes, a Loop body reading its enclosing
graph, a sparse initializer, an omitted optional input, a graph input returned as it is.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from .conftest import FIXTURES, lint_model, lint_text

HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'


def _found(findings: tuple) -> list[tuple[str | None, str | None, str | None]]:
    return [(f.location.node, f.location.input, f.location.output) for f in findings]


def test_a_read_and_an_output_nothing_makes_are_errors(tmp_path: Path) -> None:
    text = HEADER + """g (float[2] x) => (float[2] y, float[2] z) {
        [a] t = Identity (x)
        [b] y = Add (t, gone)
        [c] u = Mul (gone, t)
    }"""
    findings = lint_text(text, tmp_path, ["AL004"])
    assert [(f.code, f.severity.value) for f in findings] == [("AL004", "error")] * 2
    assert _found(findings) == [(None, None, "z"), ("b", "1", None)]
    reads = next(f for f in findings if f.location.node == "b")
    assert reads.message == ("Add 'b' reads 'gone' (and 1 other node), which no node, "
                             "initializer or graph input defines: the model cannot be loaded")
    assert (reads.location.tensor, reads.actual) == ("gone", "'gone', defined nowhere")


def test_an_unsorted_graph_an_outer_read_and_an_optional_input_are_fine(
        tmp_path: Path) -> None:
    text = HEADER + """g (float[1, 3, 4] W, float[1, 3, 3] R, float[5, 2, 4] X, int64 n)
        => (float[1, 2, 3] h, float[2] x_back, float[1, 3, 3] acc) {
        [late] h = Identity (h_early)
        [rnn] y, h_early = RNN <hidden_size: int = 3> (X, W, R, , )
        [loop] acc = Loop (n, , R) <body = b (int64 i, bool c, float[1, 3, 3] a)
                                          => (bool c2, float[1, 3, 3] a2) {
            c2 = Identity (c)
            a2 = Add (a, outer)
        }>
        [outer_made] outer = Identity (R)
        [pass] x_back = Identity (x_in)
        [x_in_made] x_in = Constant <value = float[2] {1.0, 2.0}> ()
    }"""
    assert lint_text(text, tmp_path, ["AL004"]) == ()


def test_a_sparse_initializer_defines_its_name(tmp_path: Path) -> None:
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("s", TensorProto.FLOAT, [1], [5.0]),
        helper.make_tensor("s_idx", TensorProto.INT64, [1], [0]), [3])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["y"])], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], sparse_initializer=[sparse])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert lint_model(model, tmp_path, ["AL004"]) == ()


def test_the_bad_fixture_is_what_onnx_refuses_too() -> None:
    text = "".join(line for line in (FIXTURES / "AL004" / "bad.onnx.txt").open()
                   if not line.startswith("#"))
    model = onnx.parser.parse_model(text)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        assert "rnn_Y" in str(exc)
    else:
        raise AssertionError("onnx's checker accepted a model that reads an undefined tensor")
