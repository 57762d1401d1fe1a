"""Which nodes a picture shows, read from the model's networkx DAG (``ModelGraph.dag``).

``recurrent_stack`` draws every recurrent layer and the layout ops around it (Transpose,
Reshape, Squeeze, Slice/Gather/Concat of states...), walked along data inputs only, up to the
graph's inputs and outputs and the first op that is not a layout op (drawn, greyed, as the
boundary). Weights (initializers, Constants) and shape arithmetic (Shape, a Reshape's target,
Squeeze axes, Slice bounds) are not drawn: the node's text says direction and hidden size.
``around`` draws the neighbourhood of one node within a radius, in both directions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archlint.api import Finding, Severity
from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import reversed_in_time
from archlint.recurrent import RecurrentLayer
from archlint.shapes import format_shape

__all__ = ["LAYOUT_OPS", "SEVERITY_COLOURS", "DrawEdge", "DrawNode", "Drawing", "around",
           "recurrent_stack"]

LAYOUT_OPS = frozenset({
    "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Slice", "Gather", "Concat", "Split",
    "Identity", "Flatten", "Expand", "Cast",
})
# The colour of a node's worst finding, in every picture format
SEVERITY_COLOURS = {"error": "#dc2626", "warning": "#d97706", "info": "#2563eb"}
# Ops never drawn: weights and shape arithmetic, not the data path
_HIDDEN_OPS = frozenset({"Constant", "ConstantOfShape", "Shape", "Size"})
# Input positions that carry data (the rest are shapes, axes, bounds, weights)
_DATA_INPUTS: Mapping[str, tuple[int, ...]] = {
    "Reshape": (0,), "Expand": (0,), "Squeeze": (0,), "Unsqueeze": (0,), "Slice": (0,),
    "Gather": (0,), "Split": (0,), "Transpose": (0,), "Flatten": (0,), "Identity": (0,),
    "Cast": (0,), "LSTM": (0, 4, 5, 6), "GRU": (0, 4, 5), "RNN": (0, 4, 5),
}


@dataclass(frozen=True)
class DrawNode:
    id: str  # the DAG's node id (main/3, main:input:x)
    kind: str  # recurrent, layout, op (a boundary), input, output
    title: str  # the op type, or the tensor name of an input/output
    name: str  # the node's name as written ("" for inputs/outputs)
    details: tuple[str, ...] = ()  # direction, hidden size...
    codes: tuple[str, ...] = ()  # finding codes on this node
    severity: str | None = None  # the worst of those findings

    @property
    def lines(self) -> list[str]:
        """The node's label, line by line, as every picture format writes it."""
        lines = [self.title]
        if self.name and self.name != self.title:
            lines.append(self.name)
        lines.extend(self.details)
        if self.codes:
            lines.append(" ".join(self.codes))
        return lines


@dataclass(frozen=True)
class DrawEdge:
    src: str
    dst: str
    label: str  # the tensor's shape, symbols kept


@dataclass(frozen=True)
class Drawing:
    title: str
    nodes: tuple[DrawNode, ...]
    edges: tuple[DrawEdge, ...]

    def node(self, node_id: str) -> DrawNode:
        return next(n for n in self.nodes if n.id == node_id)


def recurrent_stack(
    graph: ModelGraph,
    layers: Sequence[RecurrentLayer],
    findings: Iterable[Finding] = (),
    title: str = "",
    only: Sequence[str] | None = None,
) -> Drawing:
    """The recurrent layers and the layout ops around them; ``only``: draw exactly these
    DAG nodes instead (with the same text and marks)."""
    if only is not None:
        return _drawing(graph, layers, list(only), findings, title)
    dag = graph.dag
    seeds = [layer.node.id for layer in layers if layer.node.id in dag]
    chosen: dict[str, None] = dict.fromkeys(seeds)
    queue = deque(seeds)
    while queue:
        node_id = queue.popleft()
        for other in _data_neighbours(graph, node_id):
            if other in chosen:
                continue
            chosen[other] = None
            if _is_layout(dag, other):
                queue.append(other)
    return _drawing(graph, layers, list(chosen), findings, title)


def around(
    graph: ModelGraph,
    layers: Sequence[RecurrentLayer],
    node: str,
    radius: int = 2,
    findings: Iterable[Finding] = (),
) -> Drawing:
    """The nodes within ``radius`` data edges of ``node`` (a node name or id). KeyError when
    no node has that name."""
    start = _find(graph, node)
    chosen: dict[str, None] = {start: None}
    frontier = [start]
    for _ in range(radius):
        step: list[str] = []
        for node_id in frontier:
            for other in _data_neighbours(graph, node_id):
                if other not in chosen:
                    chosen[other] = None
                    step.append(other)
        frontier = step
    return _drawing(graph, layers, list(chosen), findings, f"around {node} (radius {radius})")


def _find(graph: ModelGraph, node: str) -> str:
    if node in graph.dag and graph.dag.nodes[node].get("kind") == "node":
        return node
    for info in graph.iter_nodes():
        if info.name == node or info.label == node:
            return info.id
    raise KeyError(node)


def _is_layout(dag: Any, node_id: str) -> bool:  # Any: networkx ships no type hints
    data = dag.nodes[node_id]
    return bool(data.get("kind") == "node" and data.get("op_type") in LAYOUT_OPS)


def _data_neighbours(graph: ModelGraph, node_id: str) -> list[str]:
    """Producers of this node's data inputs and consumers reading its outputs as data."""
    dag = graph.dag
    data = dag.nodes[node_id]
    if data.get("kind") != "node":
        return []
    info = graph.node(node_id)
    found: list[str] = []
    for position, name in enumerate(info.inputs):
        if not name or not _is_data_input(info, position):
            continue
        tensor = graph.tensor(name, info.graph)
        if tensor is None or tensor.is_constant:
            continue
        # the DAG's id of where the tensor comes from (ModelGraph.dag's pseudo-node names)
        origin = tensor.producer or (
            f"{tensor.graph}:{'init' if tensor.is_initializer else 'input'}:{tensor.name}")
        if origin in dag and _drawable(dag, origin):
            found.append(origin)
    outputs = set(info.outputs)
    for succ in dag.successors(node_id):
        succ_data = dag.nodes[succ]
        if succ_data.get("kind") == "output":
            found.append(succ)
        elif succ_data.get("kind") == "node" and _drawable(dag, succ):
            reader = graph.node(succ)
            if any(name in outputs and _is_data_input(reader, position)
                   for position, name in enumerate(reader.inputs)):
                found.append(succ)
    return found


def _drawable(dag: Any, node_id: str) -> bool:
    data = dag.nodes[node_id]
    if data.get("kind") == "initializer":
        return False
    return data.get("op_type") not in _HIDDEN_OPS


def _is_data_input(node: NodeInfo, position: int) -> bool:
    positions = _DATA_INPUTS.get(node.op_type)
    return positions is None or position in positions


def _drawing(
    graph: ModelGraph,
    layers: Sequence[RecurrentLayer],
    chosen: list[str],
    findings: Iterable[Finding],
    title: str,
) -> Drawing:
    dag = graph.dag
    by_node = {layer.node.id: layer for layer in layers}
    marks = _marks(graph, findings)
    nodes = []
    for node_id in _ordered(graph, chosen):
        data = dag.nodes[node_id]
        codes, severity = marks.get(node_id, ((), None))
        kind = data.get("kind")
        if kind in ("input", "output"):
            nodes.append(DrawNode(node_id, kind, data["tensor"], "", codes=codes,
                                  severity=severity))
            continue
        layer = by_node.get(node_id)
        if layer is not None:
            nodes.append(DrawNode(node_id, "recurrent", layer.display_op, data["name"],
                                  _layer_details(graph, layer), codes, severity))
        else:
            op = data["op_type"]
            nodes.append(DrawNode(node_id, "layout" if op in LAYOUT_OPS else "op", op,
                                  data["name"], (), codes, severity))
    position = {n.id: index for index, n in enumerate(nodes)}
    adjacency = dag.adj  # the DAG's own edges between drawn nodes (a subgraph view is slower)
    edges = tuple(sorted(
        (DrawEdge(src, dst, format_shape(edge["shape"]) if edge.get("shape") is not None
                  else "")
         for src in position for dst, edge in adjacency[src].items() if dst in position),
        key=lambda e: (position[e.src], position[e.dst]),
    ))
    return Drawing(title, tuple(nodes), edges)


def _ordered(graph: ModelGraph, chosen: list[str]) -> list[str]:
    """Graph order: inputs, the nodes in file order, outputs."""
    order = {node_id: index for index, node_id in enumerate(graph.nodes)}

    def key(node_id: str) -> tuple[int, int, str]:
        if node_id in order:
            return (1, order[node_id], "")
        return (0 if ":input:" in node_id else 2, 0, node_id)

    return sorted(set(chosen), key=key)


def _layer_details(graph: ModelGraph, layer: RecurrentLayer) -> tuple[str, ...]:
    hidden = layer.effective_hidden_size
    # the way the layer runs over the model's input, as params says it (a forward node over
    # a sequence reversed in time: Keras go_backwards through tf2onnx)
    reverser = reversed_in_time(graph, layer)
    direction = layer.direction if reverser is None \
        else f"reverse (X reversed by {reverser.op_type})"
    lines = [f"{direction}, H={'?' if hidden is None else hidden}"]
    if layer.input_size is not None:
        lines[0] += f", I={layer.input_size}"
    if layer.cell is not None and layer.cell.projection_size is not None:
        lines[0] += f", P={layer.cell.projection_size}"
    if layer.layout == 1:
        lines.append("layout=1 (batch first)")
    if layer.recognised_as.value != "native":
        lines.append(f"recognised: {layer.recognised_as.value}")
    return tuple(lines)


def _marks(
    graph: ModelGraph, findings: Iterable[Finding]
) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """node id -> (codes, worst severity) for the findings that name a node."""
    names: dict[tuple[str, str], str] = {}
    codes: dict[str, dict[str, None]] = {}
    worst: dict[str, Severity] = {}
    for finding in findings:
        loc = finding.location
        node_id = None
        if loc.node_index is not None:
            node_id = f"{loc.graph}/{loc.node_index}"
        elif loc.node:
            if not names:
                names = {(n.graph, n.name): n.id for n in graph.iter_nodes() if n.name}
            node_id = names.get((loc.graph, loc.node))
        if node_id is None:
            continue
        codes.setdefault(node_id, {})[finding.code] = None
        if node_id not in worst or finding.severity.rank > worst[node_id].rank:
            worst[node_id] = finding.severity
    return {k: (tuple(v), worst[k].value) for k, v in codes.items()}
