from __future__ import annotations

import re
from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity

_NODE_IN_MESSAGE = re.compile(r"node name: ([^)\s]+)\)")


class ShapeInferenceFailed(Rule):
    """ONNX shape inference rejected the model.

    ## What it does
    Runs ``onnx.shape_inference.infer_shapes`` (on a copy of the model without its weights) and
    reports the error it raises. Rules then work from the shapes the model declares.

    ## Why is this bad?
    Shape inference encodes each operator's type and shape constraints. When it fails, some
    node's inputs are inconsistent with its schema (a wrong rank, an attribute of the wrong
    type, a dtype mix) and runtimes will usually refuse the model too. Every shape archlint
    could not infer is a check it could not make.

    ## Example
    An LSTM whose ``W`` is declared ``[1, 12]`` (rank 2) makes inference fail with
    ``[ShapeInferenceError] ... First input tensor must have rank 3``. Fix the export so that
    ``W`` is ``[num_directions, 4*hidden_size, input_size]``.
    """

    code = "AL001"
    name = "shape-inference-failed"
    severity = Severity.WARNING
    summary = "ONNX shape inference failed; fewer shapes could be checked"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        error = ctx.model.inference_error
        if error:
            named = _NODE_IN_MESSAGE.search(error)
            node = next(
                (n for n in ctx.graph.iter_nodes() if named and n.name == named.group(1)), None
            )
            yield ctx.finding(
                self, node, f"ONNX shape inference failed: {error}",
                help="Run onnx.checker.check_model(model, full_check=True) to see the node; "
                "fix the export so every node matches its operator schema.",
            )
