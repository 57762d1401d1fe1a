from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint_rules._rejection import rejected_node


class OperatorSchemaViolation(Rule):
    """A node of the main graph breaks its operator's type and shape rules: onnxruntime
    refuses to load the model.

    ## What it does
    Reads the error of onnx's strict shape inference (the pass without data propagation).
    Where the first error is raised by the inference function of a plain ONNX operator at a
    node of the main graph (a rank, an axis, a broadcast or a target shape the operator
    cannot accept), or where such a node makes another element type than the one declared
    for its output, it reports that node with onnx's reason. Errors of another kind stay
    AL001's warning: a declared shape that disagrees with the inferred one (a merge, which
    onnxruntime relaxes), an error inside a Loop, Scan or If body (onnxruntime
    infers bodies from the values it binds and loads models onnx rejects there), an input
    with no type (AL004), an operator outside the ONNX domain, or a crash.

    ## Why is this bad?
    onnxruntime runs each operator's inference function on every node of the main graph
    when it creates a session, and fails with ``Node (NAME) Op (OP) [ShapeInferenceError]``
    when one raises, and with ``Type Error: Type (tensor(float16)) of output arg (...) of node
    (...) does not match expected type`` when a node makes another element type than the one
    declared for its output: the model never loads, on any execution provider. Exporters write such
    nodes when they trace a shape that is not the one the graph computes: torch 2.13's
    export of a Keras 3 (torch backend) bidirectional RNN reduces a scalar with
    ``ReduceMax(axes=[-1])`` ("axis must be in [-rank, rank-1]. Input rank was 0"), a
    scripted reverse loop slices a scalar, a dynamo export of a projected bidirectional
    LSTM concatenates tensors of ranks 1 and 2. A float16 conversion that keeps some nodes
    in float32 (onnxconverter-common's ``keep_io_types`` or op block list) can leave a Cast
    making float where its output is declared float16. On the committed and swept real
    models every error of these kinds (41 models) was a load refusal in onnxruntime 1.32.

    ## Example
    fixtures/AL008/bad.onnx.txt adds ``[2, 3]`` and ``[4, 5]``, which cannot broadcast:
    onnxruntime refuses it with ``Node (add_0) Op (Add) [ShapeInferenceError] Incompatible
    dimensions``. fixtures/AL008/good.onnx.txt adds ``[2, 3]`` and ``[1, 3]``.
    """

    code = "AL008"
    name = "operator-schema-violation"
    severity = Severity.ERROR
    summary = "a main-graph node breaks its operator's shape rules: onnxruntime refuses the model"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        rejected = rejected_node(ctx)
        if rejected is None:
            return
        node = rejected.node
        if rejected.made is not None:
            yield ctx.finding(
                self, node,
                f"{node.op_type} {node.label!r} makes {rejected.made} where the model declares "
                f"its output {rejected.declared}; onnxruntime refuses a node whose output type "
                "is not the declared one when it loads the model",
                expected=f"{node.op_type}'s output declared {rejected.made}",
                actual=f"declared {rejected.declared}",
                help="Declare the output with the type the node makes, or convert with a Cast "
                "where the types change (a float16 conversion that keeps some ops or the "
                "model's inputs in float32 must retype their value_info too).")
            return
        yield ctx.finding(
            self, node,
            f"onnx's inference of {node.op_type} {node.label!r} rejects its inputs: "
            f"{rejected.why}; onnxruntime runs the same check when it loads the model and "
            "refuses it",
            expected=f"inputs and attributes that {node.op_type}'s schema accepts",
            actual=rejected.why,
            help="Fix the export so this node's inputs have the ranks and sizes the operator "
            "takes (onnx.checker.check_model(model, full_check=True) names it too); the "
            "shapes around it are usually traced from an example that differs from what the "
            "graph computes.")
