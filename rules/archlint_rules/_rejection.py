"""An onnx inference error that onnxruntime raises too when it loads the model (AL001, AL008).

onnxruntime resolves every node of the main graph with the operator's own type and shape
inference function when it creates a session, and refuses the model when that function
raises, or when a node makes another element type than the one declared for its output.
onnx's strict ``infer_shapes`` runs the same functions, so its error at a plain node of the
main graph is onnxruntime's refusal. Three kinds of error are not: a merge with a declared
shape (onnxruntime logs it and falls back to a lenient merge), an error inside a
Loop, Scan or If (onnxruntime infers their bodies from the values it binds, and loads
models onnx rejects there: torch's scripted loops, tf2onnx's opset-8 Scan), and an input
with no type (AL004's undefined tensor). A recurrent node's errors are its own rules' (rank,
dtype, sizes: AL101, AL108, AL201, ...), which say more, and so are a layout op's on a
recurrent node's output (AL314's Squeeze of the direction axis).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archlint.api import RuleContext
from archlint.graph import NodeInfo, dtype_name
from archlint.patterns import attr_int
from archlint.recurrent import RECURRENT_OPS

_FIRST_ERROR = re.compile(
    r"^\[ShapeInferenceError\] Inference error\(s\): \(op_type:(?P<op>[^,)]+), "
    r"node name: (?P<name>[^)]*)\): (?P<why>.*)$")
_CONTROL_FLOW = frozenset({"Loop", "Scan", "If"})
_NOT_THE_NODES = (
    "Inferred shape and existing shape differ",  # a declaration merged with the inferred
    "expected to have type but instead is null",  # an undefined input: AL004
)
# a declared element type that is not the one the node makes: onnxruntime's "Type Error:
# Type (tensor(float16)) of output arg (...) of node (...) does not match expected type"
_TYPE_MERGE = re.compile(r"Inferred elem type differs from existing elem type: "
                         r"\((?P<inferred>\d+)\) vs \((?P<declared>\d+)\)")
_DEFAULT_DOMAINS = ("", "ai.onnx")
_LAYOUT = frozenset({"Squeeze", "Unsqueeze", "Reshape", "Transpose", "Flatten"})


@dataclass(frozen=True)
class Rejection:
    """A main-graph node whose operator's own inference raised, and what it said."""

    node: NodeInfo
    why: str
    # where the node makes another element type than its output's declared one
    made: str | None = None
    declared: str | None = None


def rejected_node(ctx: RuleContext) -> Rejection | None:
    """The node onnx's strict inference (without data propagation) rejects in the way
    onnxruntime rejects it at load, or None (no error, or one of another kind)."""
    error = ctx.model.inference_error
    if not error or "crashed" in error:
        return None
    found = _FIRST_ERROR.match(error.splitlines()[0])
    if found is None or found["op"] in _CONTROL_FLOW \
            or any(text in found["why"] for text in _NOT_THE_NODES):
        return None
    node = next((n for n in ctx.graph.iter_nodes(frozenset({found["op"]}))
                 if n.name == found["name"] and n.graph == "main"
                 and n.domain in _DEFAULT_DOMAINS), None)
    split = split_keeping_its_axis(ctx)
    if node is not None and split is not None and _reads_a_step_of(ctx, node, split):
        return None  # onnx and onnxruntime read the steps' shapes apart
    if node is None or any(layer.node.id == node.id for layer in ctx.layers):
        return None  # a recurrent node's inputs are its own rules' (AL101, AL108, ...)
    origin = ctx.graph.producer(ctx.graph.through(node.inputs[0], node.graph, _LAYOUT),
                                node.graph) if node.op_type in _LAYOUT and node.inputs \
        and node.inputs[0] else None
    if origin is not None and origin.op_type in RECURRENT_OPS:
        return None  # what a layout op makes of a recurrent output: the AL3xx rules' (AL314)
    why = re.sub(r"^\[(Shape|Type)InferenceError\] ", "", found["why"]).strip()
    types = _TYPE_MERGE.search(why)
    if types is not None:
        return Rejection(node, why, dtype_name(int(types["inferred"])),
                         dtype_name(int(types["declared"])))
    return Rejection(node, why)


def _reads_a_step_of(ctx: RuleContext, node: NodeInfo, split: NodeInfo) -> bool:
    """Whether ``node`` computes from a SequenceAt of ``split``'s sequence (in its graph)."""
    steps = frozenset(reader.id for name in split.outputs[:1] if name
                      for reader in ctx.graph.consumers_of(name, split.graph)
                      if reader.op_type == "SequenceAt")
    return bool(steps) and (node.id in steps or ctx.graph.reads_from(node.id, steps))


def split_keeping_its_axis(ctx: RuleContext) -> NodeInfo | None:
    """A SplitToSequence whose keepdims=0 the spec ignores (a scalar split input is given),
    which onnxruntime 1.32 honours: where onnx's inference and onnxruntime read one model two
    ways (with a 1-D split, onnxruntime keeps the axis too), so an error onnx raises after it
    need not be onnxruntime's."""
    for node in ctx.graph.iter_nodes(frozenset({"SplitToSequence"})):
        if len(node.inputs) < 2 or not node.inputs[1] or attr_int(node, "keepdims") != 0:
            continue
        split = ctx.graph.tensor(node.inputs[1], node.graph)
        if split is not None and split.shape == ():
            return node
    return None
