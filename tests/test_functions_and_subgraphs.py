"""Recurrent nodes inside model-local functions (analysed per call site) and inside If / Scan
bodies: seen, located, linted without false findings, counted; onnxruntime runs the clean
models and fails on the defective ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from archlint.engine import Linter, analyse
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition
from archlint.registry import load_rules

from .conftest import FIXTURES, REPO

REGRESSIONS = REPO / "tests" / "data" / "fuzz_regressions"

FUNCTIONS = FIXTURES / "functions"
SUBGRAPHS = FIXTURES / "subgraphs"
ALL_RULES = load_rules().rules


def _findings(path: Path) -> list[tuple[str, str, str | None, str]]:
    report = Linter(ALL_RULES).lint_file(path, path.name)
    assert report.error is None, report.error
    return [(f.code, f.location.graph, f.location.node, f.message) for f in report.findings]


def _session_run(path: Path, cond: bool = True) -> list[np.ndarray[Any, Any]]:
    import onnxruntime as ort

    model = onnx.parser.parse_model(path.read_text(encoding="utf-8"))
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for vi in model.graph.input:
        tensor = vi.type.tensor_type
        if tensor.elem_type == onnx.TensorProto.BOOL:
            feeds[vi.name] = np.array(cond)
            continue
        shape = [d.dim_value if d.HasField("dim_value") else 2 for d in tensor.shape.dim]
        feeds[vi.name] = np.ones(shape, np.float32)
    return [np.asarray(v) for v in session.run(None, feeds)]


def test_a_function_called_twice_is_analysed_once_per_call() -> None:
    path = FUNCTIONS / "two_calls.onnx.txt"
    layers = analyse(load_model(path)).layers
    assert [(la.node.graph, la.label) for la in layers] == [
        ("main/enc_a.local.Encoder", "lstm"), ("main/enc_b.local.Encoder", "lstm")]
    # the caller's hs binds hidden_size=@hs; the call's inputs type the body's x, w, r
    assert [la.hidden_size for la in layers] == [3, 2]
    assert [la.shape("W") for la in layers] == [(1, 12, 4), (1, 8, 4)]
    assert [la.shape("X") for la in layers] == [("seq", "batch", 4)] * 2
    assert [la.shape("Y") for la in layers] == [("seq", 1, "batch", 3), ("seq", 1, "batch", 2)]
    assert all(la.recognised_as is Recognition.NATIVE for la in layers)
    assert _findings(path) == []
    outputs = _session_run(path)
    assert [o.shape for o in outputs] == [(2, 1, 2, 3), (2, 1, 2, 2)]


def test_params_count_a_function_layer_per_call_with_its_initializers() -> None:
    path = FUNCTIONS / "two_calls.onnx.txt"
    ctx = analyse(load_model(path))
    model = count_model(path.name, ctx.graph, ctx.layers)
    assert [(row.graph, row.label, row.total(Convention.ONNX)) for row in model.layers] == [
        ("main/enc_a.local.Encoder", "enc_a/lstm", 48 + 36),  # one body, named per call
        ("main/enc_b.local.Encoder", "enc_b/lstm", 32 + 16),
    ]
    # the weights are the main graph's initializers, passed in: counted, not "constants"
    assert (model.uncounted_tensors, model.uncounted_elements) == (0, 0)


def test_a_constant_of_a_function_body_counts_once_over_its_calls() -> None:
    """jax2onnx's @onnx_function keeps a closure's weights as Constants in the body: stored
    once, counted once (at the first call), whichever call reads it; a Constant whose value
    is the caller's attribute is stored at each call and counts at each."""
    path = FUNCTIONS / "constant_weights_two_calls.onnx.txt"
    ctx = analyse(load_model(path))
    model = count_model(path.name, ctx.graph, ctx.layers)
    assert [(row.label, row.total(Convention.ONNX), row.slots[0].shared_with)
            for row in model.layers] == [
        ("step_a/matmul", 9, None), ("step_b/matmul", 0, "step_a/matmul"),
        ("proj_a/matmul", 6, None), ("proj_b/matmul", 6, None)]
    assert model.total(Convention.ONNX) == 21


def test_a_defect_in_one_call_of_a_function_is_located_at_that_call() -> None:
    import onnxruntime as ort

    path = FUNCTIONS / "wrong_hidden_size.onnx.txt"
    findings = _findings(path)
    assert [(code, graph, node) for code, graph, node, _ in findings] == [
        ("AL001", "main", "enc_b"),
        ("AL201", "main/enc_b.local.Encoder", "lstm"),
    ]
    assert "has hidden_size=4 but W and R imply hidden_size=3" in findings[1][3]
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument,
                       match=r"Input W must have shape \{1,16,4\}"):
        _session_run(path)


def test_a_quantized_lstm_inside_a_function_is_a_contrib_layer() -> None:
    path = FUNCTIONS / "quantized_in_function.onnx.txt"
    ctx = analyse(load_model(path))
    (layer,) = ctx.layers
    assert (layer.node.graph, layer.display_op, layer.recognised_as) == (
        "main/enc.local.QEncoder", "DynamicQuantizeLSTM", Recognition.CONTRIB)
    assert layer.shape("W") == (1, 12, 4) and layer.input_size == 4
    assert _findings(path) == []
    (row,) = count_model(path.name, ctx.graph, ctx.layers).layers
    assert {s.slot: (s.dtype, s.elements) for s in row.slots} == {
        "W": ("int8", 48), "R": ("int8", 36), "W_scale": ("float", 1),
        "W_zero_point": ("int8", 1), "R_scale": ("float", 1), "R_zero_point": ("int8", 1)}
    assert [o.shape for o in _session_run(path)] == [(2, 1, 2, 3)]


def test_lstms_in_both_if_branches_are_seen_and_clean() -> None:
    path = SUBGRAPHS / "if_branches.onnx.txt"
    layers = analyse(load_model(path)).layers
    assert [(la.node.graph, la.label, la.direction, la.enclosing_op_types) for la in layers] == [
        ("main/if_0.then_branch", "lstm_then", "forward", ("If",)),
        ("main/if_0.else_branch", "lstm_else", "reverse", ("If",)),
    ]
    assert _findings(path) == []
    for cond in (True, False):
        assert [o.shape for o in _session_run(path, cond)] == [(2, 1, 2, 3)]


def test_a_defect_in_one_if_branch_is_reported_in_that_branch() -> None:
    import onnxruntime as ort

    path = SUBGRAPHS / "if_wrong_branch.onnx.txt"
    located = {(code, graph, node) for code, graph, node, _ in _findings(path)}
    assert located == {("AL001", "main", "if_0"),
                       ("AL201", "main/if_0.else_branch", "lstm_else")}
    assert [o.shape for o in _session_run(path, True)] == [(2, 1, 2, 3)]
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument,
                       match=r"Input W must have shape \{1,16,4\}"):
        _session_run(path, False)


def test_an_lstm_stepped_by_a_scan_is_seen_and_clean() -> None:
    path = SUBGRAPHS / "scan_body.onnx.txt"
    (layer,) = analyse(load_model(path)).layers
    assert (layer.node.graph, layer.label, layer.enclosing_op_types) == (
        "main/scan_0.body", "lstm_step", ("Scan",))
    assert layer.shape("initial_h") == (1, 1, 3)  # the body's typed state input
    assert _findings(path) == []
    assert [o.shape for o in _session_run(path)] == [(1, 1, 3), (1, 1, 3), (2, 1, 1, 1, 3)]


def test_a_function_called_from_a_function_and_an_unset_attribute_reference() -> None:
    path = FUNCTIONS / "nested_unset_attribute.onnx.txt"
    (layer,) = analyse(load_model(path)).layers
    assert layer.node.graph == "main/call_0.local.Outer/inner_call.local.Enc"
    assert layer.enclosing_op_types == ("Enc", "Outer")
    # hs is passed down (3); clip refers to an attribute nobody sets and has no default
    assert (layer.hidden_size, layer.clip, layer.has_attribute("clip")) == (3, None, False)
    assert layer.shape("X") == ("seq", "batch", 4)
    assert _findings(path) == []
    assert [o.shape for o in _session_run(path)] == [(2, 1, 2, 3)]


def test_exponentially_nested_calls_are_expanded_only_up_to_a_budget(tmp_path: Path) -> None:
    """f0 calls f1 twice, f1 calls f2 twice, ...: 2**12 copies of the innermost body. archlint
    expands at most MAX_INSTANCES calls and says which it skipped, instead of hanging."""
    from onnx import helper

    from archlint.functions import MAX_INSTANCES

    depth = 12
    functions = []
    for level in range(depth):
        callee = f"f{level + 1}"
        nodes = ([helper.make_node("Identity", ["x"], ["y"])] if level == depth - 1 else
                 [helper.make_node(callee, ["x"], ["t"], domain="local", name="a"),
                  helper.make_node(callee, ["t"], ["y"], domain="local", name="b")])
        functions.append(helper.make_function(
            "local", f"f{level}", ["x"], ["y"], nodes,
            [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]))
    functions[-1] = helper.make_function("local", f"f{depth - 1}", ["x"], ["y"],
                                         [helper.make_node("Identity", ["x"], ["y"])],
                                         [helper.make_opsetid("", 17)])
    graph = helper.make_graph(
        [helper.make_node("f0", ["X"], ["Y"], domain="local", name="root")], "nested",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, functions=functions, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    path = tmp_path / "nested.onnx"
    onnx.save(model, path)
    ctx = analyse(load_model(path))
    instances = [p for p in ctx.graph.graphs() if p != "main"]
    assert len(instances) == MAX_INSTANCES
    assert ctx.graph.skipped_subgraphs
    report = Linter(ALL_RULES).lint_file(path, path.name)
    assert report.error is None and not [f for f in report.findings if f.code == "AL000"]


def _calls_of_a_body_inference_aborts_on(calls: int) -> onnx.ModelProto:
    """The fuzz regression whose Slice makes onnx's C++ inference abort, as the body of a
    model-local function called ``calls`` times. The abort needs h0's declared size -1 on
    the sliced axis; archlint types a body's inputs from its own view, which reads -1 as
    unknown, so the body declares it itself (a function's value_info, IR 10) on a copy of
    h0 that the Slices read."""
    from onnx import helper

    source = onnx.load(REGRESSIONS / "onnx_inference_abort.onnx")
    body = [helper.make_node("Constant", [], [t.name], value=t)
            for t in source.graph.initializer]
    body.append(helper.make_node("Identity", ["h0"], ["h0_declared"]))
    for node in source.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = ["h0_declared" if name == "h0" else name for name in node.input]
        body.append(copy)
    function = helper.make_function("local", "F", ["x", "h0"], ["output", "h_n"], body,
                                    opset_imports=[helper.make_opsetid("", 17)])
    function.value_info.append(
        helper.make_tensor_value_info("h0_declared", onnx.TensorProto.FLOAT, [-1, "batch", 4]))
    nodes = [helper.make_node("F", ["x", "h0"], [f"output_{k}", f"h_n_{k}"], domain="local",
                              name=f"call_{k}") for k in range(calls)]
    # the model's h0 with a symbol where the regression declares -1 (a negative declared
    # input size is inferred as a free dim: the whole model's inference no longer aborts)
    inputs = []
    for declared in source.graph.input:
        copied = onnx.ValueInfoProto()
        copied.CopyFrom(declared)
        if copied.name == "h0":
            first = copied.type.tensor_type.shape.dim[0]
            first.Clear()
            first.dim_param = "layers"
        inputs.append(copied)
    graph = helper.make_graph(
        nodes, "g", inputs,
        [helper.make_tensor_value_info(f"output_{k}", onnx.TensorProto.FLOAT, None)
         for k in range(calls)])
    return helper.make_model(graph, functions=[function], ir_version=10, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])


def test_a_body_that_aborts_inference_is_tried_once_and_read_uninferred(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies are inferred in the inference child (an abort there is not ours); after one
    body's inference crashed, the others of the model are read as written, not each sent
    to crash a child again."""
    import archlint.functions

    sent: list[int] = []
    real = archlint.functions.infer_isolated

    def counted(model: onnx.ModelProto) -> Any:
        sent.append(len(model.graph.node))
        return real(model)

    monkeypatch.setattr(archlint.functions, "infer_isolated", counted)
    path = tmp_path / "calls.onnx"
    onnx.save_model(_calls_of_a_body_inference_aborts_on(5), path)
    crashed: list[bool] = []

    def outcome_of(model: onnx.ModelProto) -> Any:
        outcome = counted(model)
        crashed.append("crashed (SIGABRT)" in (outcome.error or ""))
        return outcome

    monkeypatch.setattr(archlint.functions, "infer_isolated", outcome_of)
    report = Linter(load_rules().rules).lint_file(path)
    assert report.error is None
    assert [f.code for f in report.findings] == ["AL001"]  # the whole model's (FooBar)
    assert len(sent) == 1 and crashed == [True]  # the first body crashed; no other was sent
    ctx = analyse(load_model(path))
    assert len([layer for layer in ctx.layers if layer.op_type == "GRU"]) == 10
