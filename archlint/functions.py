"""Model-local functions (``ModelProto.functions``), instantiated at each call site.

A function body is a graph that runs where a node calls it. Read on its own it says little: its
formal inputs have no types, and its attributes may be references (``hidden_size: int = @hs``)
to the caller's attributes. archlint therefore analyses each body *per call site*, the way a
runtime inlines it:

* the caller's attribute values replace the references (a reference the caller leaves unset
  takes the function's default, or is left out: absent, as the ONNX spec says);
* the formal inputs take the types of the call's actual inputs, and shape inference runs on
  the body with those types, so an LSTM inside sees X, W, R and its states with shapes;
* a formal input the call does not pass is an omitted optional input inside the body.

The instance is a scope of the model graph (archlint/graph.py) named like a subgraph:
``main/call_0.local.Encoder`` is the body of function ``local.Encoder`` as called by node
``call_0`` of ``main``. Findings inside it name that path and the body node's name, which is
where a user edits the function, and which call it was. A body sees only its own tensors (no
lexical parent scope); its owner node is the call, so a body called inside a Loop is inside that
Loop. Unlike ``onnx.inliner``, nothing is renamed: node and tensor names are the body's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from archlint.inference import infer_isolated
from archlint.onnx_protos import (
    AttributeProto,
    FunctionProto,
    GraphProto,
    ModelProto,
    NodeProto,
    OperatorSetIdProto,
    ValueInfoProto,
    tensor_value_info,
)
from archlint.shapes import Shape

__all__ = [
    "MAX_INSTANCES",
    "MAX_INSTANTIATED_NODES",
    "FunctionTable",
    "expansion_problem",
    "instance_path",
]

# Bodies are copied (and inferred) per call, and a body may call functions in turn: a hostile
# model could make the copies grow exponentially with nesting. Past this many copies or copied
# nodes, calls are not expanded (graph.py records them in ModelGraph.skipped_subgraphs).
MAX_INSTANCES = 1_000
MAX_INSTANTIATED_NODES = 100_000

TypeOf: TypeAlias = "Callable[[str], tuple[int | None, Shape | None]]"


@dataclass
class FunctionTable:
    """The model's local functions by (domain, name), and what inference of a body needs."""

    functions: Mapping[tuple[str, str], FunctionProto]
    ir_version: int
    opset_import: tuple[OperatorSetIdProto, ...]
    # keeps every instantiated body alive: the graph's scopes refer to their node lists
    instances: list[GraphProto] = field(default_factory=list)
    copied_nodes: int = 0
    # set when a body's inference crashed or ran out of time: the next bodies (up to
    # MAX_INSTANCES of them) are kept uninferred rather than each waited for as long
    inference_failed: bool = False

    @classmethod
    def of(cls, model: ModelProto) -> FunctionTable:
        return cls(
            functions={(f.domain, f.name): f for f in model.functions},
            ir_version=model.ir_version, opset_import=tuple(model.opset_import),
        )

    def called(self, node: NodeProto) -> FunctionProto | None:
        """The local function this node calls, or None."""
        return self.functions.get((node.domain, node.op_type)) if self.functions else None

    def affordable(self, function: FunctionProto) -> bool:
        """Whether one more copy of this body stays within MAX_INSTANCES and
        MAX_INSTANTIATED_NODES."""
        return len(self.instances) < MAX_INSTANCES \
            and self.copied_nodes + len(function.node) <= MAX_INSTANTIATED_NODES

    def instantiate(self, function: FunctionProto, call: NodeProto, type_of: TypeOf) -> GraphProto:
        """The function's body as a graph for this call: attributes bound, inputs typed and
        shapes inferred (as far as onnx can; a body it cannot infer is kept uninferred)."""
        graph = GraphProto(name=f"{function.domain}.{function.name}")
        actual = dict(zip(function.input, call.input, strict=False))
        missing = {name for name in function.input if not actual.get(name)}
        for name in function.input:
            if name not in missing:
                graph.input.append(_value_info(name, *type_of(actual[name])))
        for name in function.output:
            graph.output.append(ValueInfoProto(name=name))
        self.copied_nodes += len(function.node)
        bound = _bound_attributes(function, call)
        for body_node in function.node:
            graph.node.append(_bind(body_node, bound, missing))
        graph.value_info.extend(getattr(function, "value_info", ()))
        inferred = self._infer(graph, function)
        self.instances.append(inferred)
        return inferred

    def _infer(self, graph: GraphProto, function: FunctionProto) -> GraphProto:
        model = ModelProto(ir_version=self.ir_version, graph=graph)
        domains = {o.domain: o for o in self.opset_import}
        domains.update({o.domain: o for o in function.opset_import})
        model.opset_import.extend(domains.values())
        model.functions.extend(self.functions.values())
        # In the inference child, as the whole model: onnx's C++ inference can abort on a
        # hostile body (tests/data/fuzz_regressions/function_body_inference_abort.onnx), and
        # this process must survive it. A body inference cannot type keeps its unknown shapes.
        if self.inference_failed:
            return graph
        inferred = infer_isolated(model).inferred
        if inferred is None:  # no pass finished: crashed, or past the time limit
            self.inference_failed = True
            return graph
        return inferred.graph


def expansion_problem(model: ModelProto) -> str | None:
    """Why the model's local functions must not be handed to onnx's shape inference, or None.

    onnx inlines a call for inference the way a runtime does, so a 2 KB model whose functions
    each call the previous one twice expands to 2^depth nodes and keeps inference busy for
    minutes; a function that calls itself never ends. Counted here on paper (each function's
    inlined size once, memoised), before anything is expanded."""
    functions = {(f.domain, f.name): f for f in model.functions}
    if not functions:
        return None
    size: dict[tuple[str, str], int] = {}
    limit = MAX_INSTANTIATED_NODES

    def inlined(key: tuple[str, str], path: tuple[tuple[str, str], ...]) -> int | str:
        if key in size:
            return size[key]
        if key in path:
            return f"local function {key[0]}.{key[1]} calls itself"
        total = 0
        for node in functions[key].node:
            callee = (node.domain, node.op_type)
            if callee in functions:
                inner = inlined(callee, (*path, key))
                if isinstance(inner, str):
                    return inner
                total += inner
            else:
                total += 1
            total = min(total, limit + 1)
        size[key] = total
        return total

    total = 0
    for node in _all_nodes(model.graph):
        key = (node.domain, node.op_type)
        if key not in functions:
            continue
        if len(functions) > 256:  # deeper than any exporter nests; also bounds the recursion
            return f"{len(functions)} local functions (at most 256 are analysed)"
        found = inlined(key, ())
        if isinstance(found, str):
            return found
        total += found
        if total > limit:
            return (f"model-local functions expand to more than {limit:,} nodes when inlined "
                    "(calls nested in calls)")
    return None


def _all_nodes(graph: GraphProto) -> list[NodeProto]:
    nodes: list[NodeProto] = []
    stack = [graph]
    while stack:
        current = stack.pop()
        nodes.extend(current.node)
        for node in current.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)
    return nodes


def instance_path(parent: str, call: NodeProto, index: int, function: FunctionProto) -> str:
    """``main/call_0.local.Encoder``: function ``local.Encoder`` as called by ``call_0``."""
    label = call.name or f"{call.op_type}#{index}"
    return f"{parent}/{label}.{function.domain}.{function.name}"


def _value_info(name: str, dtype: int | None, shape: Shape | None) -> ValueInfoProto:
    if dtype is None:
        return ValueInfoProto(name=name)
    dims = None if shape is None else [d if isinstance(d, int | str) else None for d in shape]
    return tensor_value_info(name, dtype, dims)


def _bound_attributes(function: FunctionProto, call: NodeProto) -> dict[str, AttributeProto]:
    """The caller's attribute values, else the function's defaults, by attribute name."""
    bound = {attr.name: attr for attr in getattr(function, "attribute_proto", ())}
    bound.update({attr.name: attr for attr in call.attribute})
    return bound


def _bind(node: NodeProto, bound: Mapping[str, AttributeProto], missing: set[str]) -> NodeProto:
    """A copy of a body node with attribute references replaced and unpassed inputs omitted."""
    copy = NodeProto()
    copy.CopyFrom(node)
    del copy.attribute[:]
    for attr in node.attribute:
        if not attr.ref_attr_name:
            copy.attribute.append(attr)
            continue
        value = bound.get(attr.ref_attr_name)
        if value is None:
            continue  # not passed and no default: the attribute is absent
        resolved = AttributeProto()
        resolved.CopyFrom(value)
        resolved.name = attr.name
        copy.attribute.append(resolved)
    for position, name in enumerate(copy.input):
        if name in missing:
            copy.input[position] = ""
    return copy
