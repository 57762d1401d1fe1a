from __future__ import annotations

import re
from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint_rules._rejection import rejected_node, split_keeping_its_axis

_NODE_IN_MESSAGE = re.compile(r"node name: ([^)\s]+)\)")
# onnx's words for a declared shape that disagrees with the inferred one
_MERGES = ("Inferred shape and existing shape differ",)
_DECLARATION_HELP = ("A declared shape (graph output or value_info) disagrees with what "
                     "the node computes: correct or remove the declaration.")


class ShapeInferenceFailed(Rule):
    """ONNX shape inference rejected the model, crashed, or could only run without data
    propagation.

    ## What it does
    Runs ``onnx.shape_inference.infer_shapes`` in strict mode (in a child process, on a copy of
    the model without its weights), first with data propagation, then, if that fails, without
    it, and reports which pass failed. When both fail (or onnx crashes or hangs) it is a
    warning: rules then work from the shapes the model declares, so some checks could not be
    made. When only the pass with data propagation fails it is an info: the shapes of the
    pass without it are used, and onnxruntime does not run onnx's data propagation at load.

    ## Why is this bad?
    Shape inference encodes each operator's type and shape constraints. When it fails, some
    node's inputs are inconsistent with its schema (a wrong rank, an attribute of the wrong
    type, a dtype mix), or a declared shape disagrees with what the graph computes. Every
    shape archlint could not infer is a check it could not make. AL001 says "could not
    check", never "broken": the defects onnxruntime refuses have rules of their own, which are
    errors. One reading is onnx's alone: a SplitToSequence with keepdims=0 and a scalar split
    (torch's export of a scripted ``x.unbind(0)``) keeps its axis by the spec, which ignores
    keepdims when a split is given, and loses it in onnxruntime; the help then says so.

    An error onnxruntime raises too when it loads the model (a plain node of the main graph
    whose operator rejects its inputs) is AL008's error, not this warning.

    ## Example
    ``Add`` computes ``[2, 3]`` where the graph output is declared ``[2, 4]``: strict
    inference fails with and without data propagation (onnxruntime logs the merge and
    runs). A model whose output is declared ``[4, 6]`` while
    ``Reshape(X, Concat(Shape(X)[0:1], [-1]))`` computes ``[2, 12]`` fails only with data
    propagation (onnxruntime warns and runs it): an info that names the pass. See
    fixtures/AL001/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL001"
    name = "shape-inference-failed"
    severity = Severity.WARNING
    summary = "ONNX shape inference failed; fewer shapes could be checked"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        error = ctx.model.inference_error
        data_prop_error = ctx.model.data_propagation_error
        if error and rejected_node(ctx) is not None:
            return  # onnxruntime refuses the model for it: AL008's error says so
        if error:
            if data_prop_error and data_prop_error != error and "crashed" not in error:
                message = (f"ONNX shape inference failed without data propagation: {error}; "
                           f"with data propagation: {data_prop_error}")
            elif data_prop_error and "crashed" not in error:
                message = f"ONNX shape inference failed with and without data propagation: {error}"
            else:
                message = f"ONNX shape inference failed: {error}"
            # a rank error inside a loop body, where the steps SplitToSequence made are read
            split = split_keeping_its_axis(ctx) if "rank" in error and any(
                f"op_type:{op}" in error for op in ("Loop", "Scan")) else None
            yield ctx.finding(
                self, self._node(ctx, error), message,
                help=(_DECLARATION_HELP if any(text in error for text in _MERGES) else
                      "Run onnx.checker.check_model(model, full_check=True) to see the node; "
                      "fix the export so every node matches its operator schema.")
                if split is None
                else f"SplitToSequence {split.label!r} has keepdims=0 and a scalar split: the "
                "spec ignores keepdims then, so onnx's inference keeps the split axis, while "
                "onnxruntime drops it (torch's exporter writes this for a scripted "
                "`x.unbind(0)`). The model runs in onnxruntime; a runtime that follows the spec "
                "reads each step with one axis more. Trace the loop, or index the steps "
                "(x[t]) instead of unbinding them.",
            )
        elif data_prop_error:
            yield ctx.finding(
                self, self._node(ctx, data_prop_error),
                "ONNX shape inference failed only with data propagation (shapes computed in "
                f"the graph, such as Reshape targets): {data_prop_error}; strict inference "
                "without it succeeded and its shapes are used",
                severity=Severity.INFO,
                help="Usually a declared shape (graph output or value_info) that disagrees with "
                "the shape the graph computes: correct or remove the declaration.",
            )

    @staticmethod
    def _node(ctx: RuleContext, error: str) -> NodeInfo | None:
        named = _NODE_IN_MESSAGE.search(error)
        if named is None:
            return None
        return next((n for n in ctx.graph.iter_nodes() if n.name == named.group(1)), None)
