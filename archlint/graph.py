"""ModelProto -> networkx DiGraph with stable node ids, into subgraphs too.

Nodes of the DiGraph are ONNX nodes, keyed ``<graph path>/<index>`` (``main/3``,
``main/loop.body/0``), plus one pseudo-node per graph input (``<graph>:input:<name>``), initializer
(``<graph>:init:<name>``) and graph output (``<graph>:output:<name>``), so every tensor's origin
and every model output is reachable. Each edge carries the tensor's name, dtype and shape, with
symbolic dimensions kept as written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import networkx as nx
import numpy as np
import onnx
from onnx import GraphProto, NodeProto, TensorProto, TypeProto, ValueInfoProto, numpy_helper

from archlint.loader import SMALL_TENSOR_ELEMENTS, LoadedModel, subgraph_path, tensor_elements
from archlint.shapes import Dim, Shape

__all__ = ["ModelGraph", "NodeInfo", "TensorInfo", "build_graph", "dtype_name"]


def dtype_name(dtype: int | None) -> str:
    if dtype is None:
        return "unknown"
    try:
        return str(TensorProto.DataType.Name(dtype)).lower()
    except ValueError:
        return f"dtype{dtype}"


@dataclass(frozen=True)
class TensorInfo:
    """What is known statically about one tensor in one graph scope."""

    name: str
    graph: str
    dtype: int | None
    shape: Shape | None
    producer: str | None = None  # node id, or None for graph inputs and initializers
    is_initializer: bool = False
    is_graph_input: bool = False
    is_graph_output: bool = False
    value: np.ndarray[Any, Any] | None = None  # only for small constants
    external: bool = False

    @property
    def is_constant(self) -> bool:
        return self.value is not None or (self.is_initializer and not self.is_graph_input)


@dataclass(frozen=True)
class NodeInfo:
    """One ONNX node, with its position and graph path."""

    id: str
    graph: str
    index: int
    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    proto: NodeProto = field(repr=False, compare=False)
    parent: str | None = None  # the node id owning this node's subgraph

    @property
    def label(self) -> str:
        return self.name or f"<{self.op_type} #{self.index}>"

    def input_tensor(self, slot: str) -> str | None:
        return _slot_lookup(self.inputs, slot, _slot_names(self.domain, self.op_type, "in"))

    def output_tensor(self, slot: str) -> str | None:
        return _slot_lookup(self.outputs, slot, _slot_names(self.domain, self.op_type, "out"))


def _slot_lookup(tensors: tuple[str, ...], slot: str, names: tuple[str, ...]) -> str | None:
    position = int(slot) if slot.isdigit() else (names.index(slot) if slot in names else -1)
    if 0 <= position < len(tensors) and tensors[position]:
        return tensors[position]
    return None


@lru_cache(maxsize=512)
def _slot_names(domain: str, op_type: str, kind: str) -> tuple[str, ...]:
    try:
        schema = onnx.defs.get_schema(op_type, domain=domain)
    except Exception:  # unknown op or domain: slots are positional only
        return ()
    params = schema.inputs if kind == "in" else schema.outputs
    return tuple(p.name for p in params)


class ModelGraph:
    """The model as a DiGraph plus per-scope tensor tables."""

    def __init__(self) -> None:
        self.dag: nx.DiGraph = nx.DiGraph()
        self.nodes: dict[str, NodeInfo] = {}
        self._tensors: dict[str, dict[str, TensorInfo]] = {}
        self._parents: dict[str, str | None] = {}
        self.consumers: dict[tuple[str, str], list[str]] = {}
        self.graph_inputs: dict[str, tuple[str, ...]] = {}
        self.graph_outputs: dict[str, tuple[str, ...]] = {}

    def tensor(self, name: str, graph: str = "main") -> TensorInfo | None:
        """Look a tensor up in ``graph`` and then its enclosing scopes."""
        scope: str | None = graph
        while scope is not None:
            found = self._tensors.get(scope, {}).get(name)
            if found is not None:
                return found
            scope = self._parents.get(scope)
        return None

    def tensors(self, graph: str = "main") -> Mapping[str, TensorInfo]:
        return self._tensors.get(graph, {})

    def graphs(self) -> tuple[str, ...]:
        return tuple(self._tensors)

    def producer(self, name: str, graph: str = "main") -> NodeInfo | None:
        info = self.tensor(name, graph)
        if info is None or info.producer is None:
            return None
        return self.nodes.get(info.producer)

    def consumers_of(self, name: str, graph: str = "main") -> list[NodeInfo]:
        """Nodes in ``graph`` (and its subgraphs) that read tensor ``name`` of that scope.

        Graph-output pseudo-nodes are consumers in the DAG but not ONNX nodes: left out.
        """
        return [self.nodes[n] for n in self.consumers.get((graph, name), []) if n in self.nodes]

    def iter_nodes(self, op_types: frozenset[str] | None = None) -> Iterator[NodeInfo]:
        for node in self.nodes.values():
            if op_types is None or node.op_type in op_types:
                yield node


def build_graph(model: LoadedModel) -> ModelGraph:
    builder = _Builder(model)
    builder.add_graph(model.inferred.graph, "main", parent_scope=None, parent_node=None)
    return builder.graph


class _Builder:
    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.graph = ModelGraph()
        # The skeleton left large initializers out; describe them from the original proto.
        self.main_initializers = {t.name: t for t in model.proto.graph.initializer}
        self.edges: list[tuple[str, str, dict[str, Any]]] = []

    def add_graph(
        self,
        graph: GraphProto,
        path: str,
        parent_scope: str | None,
        parent_node: str | None,
    ) -> None:
        model_graph = self.graph
        model_graph._parents[path] = parent_scope
        table: dict[str, TensorInfo] = {}
        model_graph._tensors[path] = table
        declared = _declared_types(graph)
        initializers = self.main_initializers if path == "main" else {
            t.name: t for t in graph.initializer
        }
        input_names = tuple(vi.name for vi in graph.input)
        original_inputs = (
            {vi.name for vi in self.model.proto.graph.input} if path == "main" else set(input_names)
        )
        output_names = tuple(vi.name for vi in graph.output)
        model_graph.graph_inputs[path] = tuple(n for n in input_names if n in original_inputs)
        model_graph.graph_outputs[path] = output_names
        dag = model_graph.dag

        for name, tensor in initializers.items():
            table[name] = TensorInfo(
                name, path, tensor.data_type, tuple(int(d) for d in tensor.dims),
                is_initializer=True,
                is_graph_input=name in original_inputs,
                value=_small_value(tensor),
                external=tensor.data_location == TensorProto.EXTERNAL,
            )
            dag.add_node(f"{path}:init:{name}", kind="initializer", tensor=name, graph=path)
        for name in input_names:
            if name in table or name not in original_inputs:
                continue
            dtype, shape = declared.get(name, (None, None))
            table[name] = TensorInfo(name, path, dtype, shape, is_graph_input=True)
            dag.add_node(f"{path}:input:{name}", kind="input", tensor=name, graph=path)

        for index, node in enumerate(graph.node):
            node_id = f"{path}/{index}"
            info = NodeInfo(
                id=node_id, graph=path, index=index, name=node.name, op_type=node.op_type,
                domain=node.domain, inputs=tuple(node.input), outputs=tuple(node.output),
                proto=node, parent=parent_node,
            )
            model_graph.nodes[node_id] = info
            dag.add_node(node_id, kind="node", op_type=node.op_type, name=node.name, graph=path)
            for tensor_name in node.input:
                if tensor_name:
                    self._connect(tensor_name, path, node_id)
            constant = _constant_value(node)
            for slot, tensor_name in enumerate(node.output):
                if not tensor_name:
                    continue
                dtype, shape = declared.get(tensor_name, (None, None))
                if constant is not None and slot == 0:
                    dtype = dtype or _np_to_onnx_dtype(constant)
                    shape = shape if shape is not None else tuple(constant.shape)
                table[tensor_name] = TensorInfo(
                    tensor_name, path, dtype, shape, producer=node_id,
                    value=constant if slot == 0 else None,
                )
            for attr in node.attribute:
                subgraphs: list[tuple[str, GraphProto]] = []
                if attr.type == onnx.AttributeProto.GRAPH:
                    subgraphs.append((attr.name, attr.g))
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    subgraphs.extend((f"{attr.name}[{k}]", g) for k, g in enumerate(attr.graphs))
                for attr_name, sub in subgraphs:
                    sub_path = subgraph_path(path, node, index, attr_name)
                    self.add_graph(sub, sub_path, parent_scope=path, parent_node=node_id)

        for name in output_names:
            out_id = f"{path}:output:{name}"
            dag.add_node(out_id, kind="output", tensor=name, graph=path)
            self._connect(name, path, out_id)
            known = table.get(name)
            if known is not None:
                table[name] = dataclasses.replace(known, is_graph_output=True)
        if path == "main":
            dag.add_edges_from(self.edges)

    def _connect(self, tensor_name: str, scope: str, consumer: str) -> None:
        info = self.graph.tensor(tensor_name, scope)
        if info is None:
            return  # dangling reference: no producer anywhere (a rule may report it)
        if info.producer is not None:
            source = info.producer
        elif info.is_initializer:
            source = f"{info.graph}:init:{tensor_name}"
        else:
            source = f"{info.graph}:input:{tensor_name}"
        self.graph.consumers.setdefault((info.graph, tensor_name), []).append(consumer)
        self.edges.append(
            (source, consumer, {"tensor": tensor_name, "dtype": info.dtype, "shape": info.shape})
        )


def _declared_types(graph: GraphProto) -> dict[str, tuple[int | None, Shape | None]]:
    """Types from inputs, value_info and outputs; later entries refine unknown earlier ones."""
    table: dict[str, tuple[int | None, Shape | None]] = {}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        dtype, shape = type_of(vi)
        old = table.get(vi.name)
        if old is None:
            table[vi.name] = (dtype, shape)
        else:
            table[vi.name] = (old[0] if old[0] is not None else dtype,
                              old[1] if old[1] is not None else shape)
    return table


def type_of(value_info: ValueInfoProto) -> tuple[int | None, Shape | None]:
    return _tensor_type(value_info.type)


def _tensor_type(type_proto: TypeProto) -> tuple[int | None, Shape | None]:
    if not type_proto.HasField("tensor_type"):
        return None, None
    tensor_type = type_proto.tensor_type
    dtype = tensor_type.elem_type or None
    if not tensor_type.HasField("shape"):
        return dtype, None
    dims: list[Dim] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param") and dim.dim_param:
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return dtype, tuple(dims)


def _small_value(tensor: TensorProto) -> np.ndarray[Any, Any] | None:
    if tensor.data_location == TensorProto.EXTERNAL:
        return None
    if tensor_elements(tensor) > SMALL_TENSOR_ELEMENTS:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:  # malformed tensor data: treat the value as unknown
        return None


def _constant_value(node: NodeProto) -> np.ndarray[Any, Any] | None:
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    for attr in node.attribute:
        try:
            if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                return _small_value(attr.t)
            if attr.name == "value_ints":
                return np.array(list(attr.ints), dtype=np.int64)
            if attr.name == "value_int":
                return np.array(attr.i, dtype=np.int64)
            if attr.name == "value_floats":
                return np.array(list(attr.floats), dtype=np.float32)
            if attr.name == "value_float":
                return np.array(attr.f, dtype=np.float32)
        except Exception:  # malformed attribute: value unknown
            return None
    return None


def _np_to_onnx_dtype(array: np.ndarray[Any, Any]) -> int | None:
    try:
        return int(onnx.helper.np_dtype_to_tensor_dtype(array.dtype))
    except Exception:
        return None
