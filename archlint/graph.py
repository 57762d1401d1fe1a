"""ModelProto -> networkx DiGraph with stable node ids, into subgraphs too.

Nodes of the DiGraph are ONNX nodes, keyed ``<graph path>/<index>`` (``main/3``,
``main/loop.body/0``), plus one pseudo-node per graph input (``<graph>:input:<name>``), initializer
(``<graph>:init:<name>``) and graph output (``<graph>:output:<name>``), so every tensor's origin
and every model output is reachable. Each edge carries the tensor's name, dtype and shape, with
symbolic dimensions kept as written.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from archlint.cached import cached
from archlint.constant_values import (
    ASK_NUMPY,
    constant_ints,
    constant_value,
    small_ints,
    small_value,
)
from archlint.declared_types import DeclaredTypes, declared_types
from archlint.functions import FunctionTable, TypeOf, instance_path
from archlint.loader import LoadedModel, in_topological_order, subgraph_path
from archlint.onnx_ops import slot_names
from archlint.onnx_protos import (
    AttributeProto,
    GraphProto,
    NodeProto,
    TensorProto,
    ValueInfoProto,
)
from archlint.shapes import Shape
from archlint.tensor_values import element_type

if TYPE_CHECKING:
    import networkx as nx
    import numpy as np

__all__ = ["ModelGraph", "NodeInfo", "TensorInfo", "build_graph", "dtype_name", "indexed",
           "not_text"]


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
    external: bool = False
    # The initializer or Constant node holding the value; decoded only when asked for.
    constant_source: TensorProto | NodeProto | None = field(
        default=None, repr=False, compare=False
    )

    @cached
    def value(self) -> np.ndarray[Any, Any] | None:
        """The value of a small constant (at most SMALL_TENSOR_ELEMENTS), else None."""
        source = self.constant_source
        if isinstance(source, NodeProto):
            return constant_value(source)
        if isinstance(source, TensorProto):
            return small_value(source)
        return None

    @cached
    def int_value(self) -> tuple[tuple[int, ...], Shape] | None:
        """(values flattened, shape) of a small integer constant: what :attr:`value` holds
        when its dtype is an integer, else None. Read without numpy where the tensor allows
        (a Reshape's target, a Gather's indices: most exports' only constants a lint reads)."""
        source = self.constant_source
        if isinstance(source, NodeProto):
            found = constant_ints(source)
        elif isinstance(source, TensorProto):
            found = small_ints(source)
        else:
            return None
        if found is not ASK_NUMPY:
            return found  # type: ignore[return-value]
        value = self.value
        if value is None or value.dtype.kind not in "iu":
            return None
        return tuple(int(v) for v in value.reshape(-1)), tuple(value.shape)

    @property
    def is_constant(self) -> bool:
        """Fixed at export time: an initializer that is not overridable, or a Constant output."""
        if self.is_initializer:
            return not self.is_graph_input
        return self.constant_source is not None


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


_IDENTITY = frozenset({"Identity"})


def _slot_lookup(tensors: tuple[str, ...], slot: str, names: tuple[str, ...]) -> str | None:
    position = int(slot) if slot.isdigit() else (names.index(slot) if slot in names else -1)
    if 0 <= position < len(tensors) and tensors[position]:
        return tensors[position]
    return None


@lru_cache(maxsize=512)
def _slot_names(domain: str, op_type: str, kind: str) -> tuple[str, ...]:
    inputs, outputs = slot_names(domain, op_type)
    return inputs if kind == "in" else outputs


# Ops whose attributes can hold subgraphs in the standard domains; nodes of other domains are
# checked attribute by attribute (custom ops may carry graphs too).
_CONTROL_FLOW_OPS = frozenset({"Loop", "If", "Scan", "SequenceMap"})
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
# onnxruntime's contrib ops: op types a caller asks for by name in this domain too (MatMulNBits)
_MICROSOFT = "com.microsoft"
# Subgraphs nested deeper than this are not descended into: a hostile model cannot make
# archlint recurse or allocate without bound.
MAX_SUBGRAPH_DEPTH = 16
# View ops followed back from a tensor to the graph input it reads (ModelGraph.reading_inputs).
MAX_VIEW_STEPS = 8
# A Mul in a view walk's ``through`` passes its input 0 on only where input 1 is stored (an
# initializer or a Constant of its scope): SmoothQuant scales each channel of a tensor before
# quantizing it (Intel Neural Compressor writes Mul(h, scale) before a step's QuantizeLinear),
# and a gate's Mul of two computed tensors is no view.
_SCALE_OP = "Mul"
_VIEW_WALK = 10_000  # tensors a walk forward from the graph inputs through view ops visits


@dataclass
class _Scope:
    """One (sub)graph: its nodes and indexes by tensor name. Built eagerly, cheaply."""

    path: str
    parent: str | None
    parent_node: str | None
    protos: Any  # the graph's repeated NodeProto field (a reference, not a copy)
    initializers: dict[str, TensorProto]
    # declared types by name, read from the inferred model on first use (None until then)
    declared: DeclaredTypes | None
    # the same graph in the inferred model: (node index, subgraph attribute) steps from main
    locator: tuple[tuple[int, str], ...]
    source: GraphProto  # this graph as read, whose own value_info stands in when not inferred
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    producers: dict[str, tuple[int, int]] = field(default_factory=dict)  # tensor -> (node, slot)
    # each node's input and output names, read from the protobuf once (reading a repeated
    # field builds its strings anew every time)
    node_inputs: list[tuple[str, ...]] = field(default_factory=list)
    node_outputs: list[tuple[str, ...]] = field(default_factory=list)
    readers: dict[str, list[int]] = field(default_factory=dict)  # tensor -> reading nodes
    op_indexes: dict[str, list[int]] = field(default_factory=dict)  # op type -> node indexes
    # op type -> pre-order position of the scope's first node of that type
    first_position: dict[str, int] = field(default_factory=dict)
    children: dict[int, list[str]] = field(default_factory=dict)  # node index -> subgraph paths
    # names read before any node of the scope made them, in reading order: graph inputs, outer
    # tensors, tensors of an unsorted graph made later, and those nothing makes
    unresolved: list[str] = field(default_factory=list)
    # nodes that list an empty input name (an omitted optional input, or a broken export's
    # missing one): noted while indexing, so AL004 reads no other node
    with_empty_input: list[int] = field(default_factory=list)
    # a function body instantiated at a call: the caller's scope and formal -> actual inputs
    call_scope: str | None = None
    bindings: dict[str, str] = field(default_factory=dict)
    # the body's own constants (a Constant with a literal value, the same at every call) and
    # the first call's instance of the function, which holds them for every call
    constants: frozenset[str] = frozenset()
    first_instance: str | None = None


class ModelGraph:
    """The model's nodes and tensors per graph scope, with a networkx DiGraph view.

    Indexes by name are built in one pass; NodeInfo, TensorInfo and the DiGraph are built on
    first use, so a rule pays only for what it reads (at 100k nodes a DiGraph built node by
    node with Python objects costs more than parsing the protobuf).
    """

    def __init__(self) -> None:
        self._scopes: dict[str, _Scope] = {}
        # graph_inputs / graph_outputs, built once the scopes stop growing (rules ask per If,
        # and a model can hold thousands of subgraphs)
        self._boundaries: tuple[int, Mapping[str, tuple[str, ...]],
                                Mapping[str, tuple[str, ...]]] | None = None
        # op type -> (pre-order position, node id), each list in pre-order
        self._by_op: dict[str, list[tuple[int, str]]] = {}
        # (pre-order position, node id) of nodes outside the "" / "ai.onnx" domain
        self._unusual_domain: list[tuple[int, str]] = []
        self._preorder = itertools.count()
        self._node_cache: dict[str, NodeInfo] = {}
        self._tensor_cache: dict[tuple[str, str], TensorInfo | None] = {}
        self._outer_readers: dict[tuple[str, str], list[str]] | None = None
        self._reads_from: dict[frozenset[str], dict[str, bool]] = {}
        self._memos: dict[str, dict[Any, Any]] = {}
        self._dag: nx.DiGraph | None = None
        self.skipped_subgraphs: list[str] = []
        # (graph path, the node's name and op type, tensor) for each tensor a node of the graph
        # reads before a later node of the same graph makes it: the nodes are not in
        # topological order (:func:`indexed` analyses a sorted copy instead)
        self.out_of_order: list[tuple[str, str, str, str]] = []
        # (graph path, tensor, index of the node that makes it again, what else defines it:
        # "node", "initializer" or "input") for each name a graph defines twice
        self.defined_twice: list[tuple[str, str, int, str]] = []
        self._functions: FunctionTable | None = None  # model-local functions, per call site
        self.opset: int | None = None  # the model's opset of the ONNX domain
        self._first_instance: dict[tuple[str, str, str], str] = {}  # function -> first call's
        self._calls: dict[str, int] = {}  # a function's first instance -> how many calls
        # the inferred main graph, waited for on the first declared type (loader.InferredShapes)
        self._inferred: Callable[[], GraphProto] | None = None

    @property
    def nodes(self) -> Mapping[str, NodeInfo]:
        """Every node id, each NodeInfo built on access (a view made per call: held by the
        graph, it would tie the graph into a cycle only the cyclic collector frees)."""
        return _NodeTable(self)

    def _declared(self, scope: _Scope) -> DeclaredTypes:
        """Declared and inferred types of one scope, from the inferred model (read once)."""
        if scope.declared is None:
            graph = None if self._inferred is None else _follow(self._inferred(), scope.locator)
            scope.declared = declared_types(graph if graph is not None else scope.source)
        return scope.declared

    # --- scopes -------------------------------------------------------------------------------
    def graphs(self) -> tuple[str, ...]:
        return tuple(self._scopes)

    def memo(self, kind: str) -> dict[Any, Any]:
        """A table for facts derived from this (immutable) graph by a walk that rules repeat
        (archlint/patterns.py: a state's origin, per layer and per rule), kept as long as the
        graph; ``kind`` names the walk."""
        return self._memos.setdefault(kind, {})

    def subgraph_owner(self, graph: str) -> str | None:
        """The id of the node whose attribute holds subgraph ``graph`` (None for main)."""
        scope = self._scopes.get(graph)
        return None if scope is None else scope.parent_node

    @property
    def op_types(self) -> frozenset[str]:
        """The op type of every node, in every scope (any domain)."""
        return frozenset(self._by_op)

    def calls_function(self, node: NodeInfo) -> bool:
        """Whether ``node`` calls one of the model's local functions."""
        return self._functions is not None and self._functions.called(node.proto) is not None

    def called_body(self, node: NodeInfo) -> str | None:
        """The scope of the body archlint instantiated for ``node``'s call of a model-local
        function, or None (not a call, or a body not instantiated: too deep, too big)."""
        for path in self.subgraphs_of(node.id):
            if self._scopes[path].call_scope is not None:
                return path
        return None

    def in_function_body(self, graph: str) -> bool:
        """Whether ``graph`` is a function body archlint instantiated, or a graph inside one
        (whose ops are those of the function's own opset imports)."""
        scope = self._scopes.get(graph)
        while scope is not None:
            if scope.call_scope is not None:
                return True
            scope = self._scopes.get(scope.parent) if scope.parent is not None else None
        return False

    @property
    def calls_functions(self) -> bool:
        """Whether any node calls a model-local function (archlint instantiated a body)."""
        return bool(self._first_instance)

    def repeated_call(self, graph: str) -> str | None:
        """The labels of the nodes that call the function instance ``graph``, outermost first
        and joined by ``/``, where that function or one calling it is called more than once
        (its nodes' names are then the same at every call: torch 2.1's dynamo_export calls
        ``aten_addmm`` in every Linear, and each cell's function names its calls alike); None
        for any other scope."""
        chain: list[str] = []
        repeated = False
        scope = self._scopes.get(graph)
        while scope is not None and scope.first_instance is not None \
                and scope.parent_node is not None:
            repeated = repeated or self._calls[scope.first_instance] > 1
            chain.append(self.node(scope.parent_node).label)
            scope = self._scopes.get(scope.call_scope or "")
        return "/".join(reversed(chain)) if repeated else None

    def subgraphs_of(self, node_id: str) -> tuple[str, ...]:
        """The paths of the subgraphs a node holds (a Loop's body, an If's branches)."""
        path, _, index = node_id.rpartition("/")
        scope = self._scopes.get(path)
        if scope is None or not index.isdigit():
            return ()
        return tuple(scope.children.get(int(index), ()))

    def subgraph_of(self, node: NodeInfo, attr: str) -> str | None:
        """The scope of ``node``'s graph attribute ``attr`` (an If's ``then_branch``), as
        indexed: the second owner of one name gets ``name#index`` paths of its own, so a
        path is taken from this node's own subgraphs only; None when it was not indexed."""
        own = self.subgraphs_of(node.id)
        for path in (subgraph_path(node.graph, node.proto, node.index, attr),
                     f"{node.graph}/{node.name}#{node.index}.{attr}"):
            if path in own:
                return path
        return None

    @property
    def graph_inputs(self) -> Mapping[str, tuple[str, ...]]:
        return self._graph_boundaries()[0]

    @property
    def graph_outputs(self) -> Mapping[str, tuple[str, ...]]:
        return self._graph_boundaries()[1]

    def _graph_boundaries(
        self,
    ) -> tuple[Mapping[str, tuple[str, ...]], Mapping[str, tuple[str, ...]]]:
        """Each scope's inputs and outputs, read-only, made once for the scopes there are (a
        walk through nested If branches asks for them per If: per call, 32,000 branches made
        a lint quadratic)."""
        built = self._boundaries
        if built is None or built[0] != len(self._scopes):
            built = (len(self._scopes),
                     MappingProxyType({path: s.inputs for path, s in self._scopes.items()}),
                     MappingProxyType({path: s.outputs for path, s in self._scopes.items()}))
            self._boundaries = built
        return built[1], built[2]

    # --- tensors ------------------------------------------------------------------------------
    def tensor(self, name: str, graph: str = "main") -> TensorInfo | None:
        """Look a tensor up in ``graph`` and then its enclosing scopes."""
        found = self._tensor_cache.get((graph, name))
        if found is not None:  # seen in this scope before (most lookups)
            return found
        scope: str | None = graph
        while scope is not None:
            found = self._scope_tensor(scope, name)
            if found is not None:
                return found
            owner = self._scopes.get(scope)
            scope = owner.parent if owner is not None else None
        return None

    def source(self, name: str, graph: str = "main") -> tuple[str, str]:
        """(defining scope, name) of the tensor itself: a formal input of a function body
        (archlint/functions.py) is followed to the actual input of the call, across nested
        calls, so a weight passed into a function is one tensor with its initializer; a
        constant of the body's own (jax2onnx's ``@onnx_function`` keeps a closure's weights
        so) is stored once in the function, and is its first call's, whichever call reads it."""
        scope, current = graph, name
        for _ in range(MAX_SUBGRAPH_DEPTH + 1):
            info = self.tensor(current, scope)
            if info is None:
                return (scope, current)
            owner = self._scopes[info.graph]
            if owner.first_instance is not None and current in owner.constants:
                return (owner.first_instance, current)
            if owner.call_scope is None or not info.is_graph_input \
                    or current not in owner.bindings:
                return (info.graph, current)
            scope, current = owner.call_scope, owner.bindings[current]
        return (scope, current)

    def actual(self, info: TensorInfo) -> TensorInfo:
        """The tensor a function body's formal input stands for at its call (across nested
        calls, as :meth:`source` finds it); ``info`` itself for any other tensor."""
        if not info.is_graph_input or self._scopes[info.graph].call_scope is None:
            return info
        found = self.tensor(*reversed(self.source(info.name, info.graph)))
        return info if found is None else found

    def tensors(self, graph: str = "main") -> Mapping[str, TensorInfo]:
        scope = self._scopes.get(graph)
        if scope is None:
            return {}
        names = dict.fromkeys([*scope.inputs, *scope.initializers, *scope.producers])
        table = {name: self._scope_tensor(graph, name) for name in names}
        return {name: info for name, info in table.items() if info is not None}

    def loop_invariant(self, info: TensorInfo) -> TensorInfo:
        """The outer tensor a Loop or Scan body input stands for when the body carries it
        through unchanged (a weight a converter passes into the loop as a loop-carried value),
        through nested loops; else ``info`` itself."""
        for _ in range(MAX_SUBGRAPH_DEPTH + 1):
            owner_id = self.subgraph_owner(info.graph) if info.is_graph_input else None
            owner = None if owner_id is None else self.node(owner_id)
            if owner is None or owner.op_type not in ("Loop", "Scan"):
                return info
            found = next(((output, outer) for body_input, output, outer
                          in self.carried_values(owner, info.graph)
                          if body_input == info.name), None)
            if found is None or not found[0] or not found[1]:
                return info
            # tf2onnx passes it on as Identity(input)
            if self.through(found[0], info.graph) != info.name:
                return info  # it changes from one iteration to the next: a state
            outer = self.tensor(found[1], owner.graph)
            if outer is None:
                return info
            info = outer
        return info

    def passed_in(self, info: TensorInfo) -> TensorInfo:
        """The tensor ``info`` stands for when it is passed in unchanged: a weight carried
        into a Loop or Scan (tf2onnx, paddle2onnx), or given to a model-local function as an
        actual input (PyTorch's ``export_modules_as_functions``), in any nesting of the two."""
        for _ in range(2 * MAX_SUBGRAPH_DEPTH + 2):
            outer = self.actual(self.loop_invariant(info))
            if outer is info:
                return info
            info = outer
        return info

    def formal_inputs(self, graph: str) -> tuple[str, ...]:
        """The inputs of ``graph`` that are its parameters: below IR version 4 a graph lists
        its initializers among its inputs too."""
        scope = self._scopes[graph]
        return tuple(name for name in scope.inputs if name not in scope.initializers)

    def carried_values(self, owner: NodeInfo, body: str) -> list[tuple[str, str, str]]:
        """(body input, body output, node input) of each value the Loop or Scan ``owner``
        carries from one iteration to the next, in order; "" where the body has no such output
        or the node no such input. A Loop's body inputs are (iteration, condition, carried...),
        its outputs (condition, carried..., scan outputs...); a Scan's are (carried..., scan
        elements...) and (carried..., scan outputs...), its node inputs (sequence_lens at
        opset 8, carried..., sequences...)."""
        inputs, outputs = self.formal_inputs(body), self._scopes[body].outputs
        if owner.op_type == "Loop":
            first, first_output, offset, count = 2, 1, 0, len(inputs) - 2
        else:
            scans = next((a.i for a in owner.proto.attribute if a.name == "num_scan_inputs"), 0)
            first, first_output = 0, 0
            offset, count = len(owner.inputs) - len(inputs), len(inputs) - scans
        if offset < 0:
            return []

        def at(names: tuple[str, ...], k: int) -> str:
            return names[k] if 0 <= k < len(names) else ""

        return [(inputs[first + k], at(outputs, first_output + k),
                 at(owner.inputs, offset + first + k)) for k in range(max(count, 0))]

    def through(self, name: str, graph: str, ops: frozenset[str] = _IDENTITY) -> str:
        """What ``name`` is passed on unchanged from, through a chain of ``ops`` (Identity,
        unless told otherwise) in ``graph`` itself."""
        for _ in range(16):
            producer = self.producer(name, graph)
            if producer is None or producer.op_type not in ops or producer.graph != graph \
                    or not producer.inputs:
                return name
            name = producer.inputs[0]
        return name

    def stored_tensors(self, names: Iterable[str], graph: str = "main") -> list[TensorInfo]:
        """The tensors among ``names`` (as :meth:`tensor` finds them from ``graph``) that are
        stored: an initializer no node of its scope produces. Their views need no inferred
        type, so they can be read while the inference child still works (archlint/layers.py
        reads the recurrent nodes' weights so before it builds their views)."""
        found: list[TensorInfo] = []
        own = self._scopes.get(graph)
        for name in names:
            if not name:
                continue
            if own is not None and name in own.initializers and name not in own.producers:
                path = graph  # its own (most): _defining_scope's first step
            else:
                defining = self._defining_scope(name, graph)
                scope = None if defining is None else self._scopes[defining]
                if scope is None or name not in scope.initializers or name in scope.producers:
                    continue
                path = scope.path
            info = self._scope_tensor(path, name)  # what tensor() finds from graph
            if info is not None:
                found.append(info)
        return found

    def undefined_reads(self) -> list[tuple[str, tuple[int, ...], str]]:
        """(scope, indexes of the nodes that read it, name) for every tensor a node reads or a
        graph returns (no reader: ``()``) that neither its graph nor an enclosing one defines:
        no node makes it, and it is no initializer (sparse ones too) and no graph input. In
        model order of the scopes. Only the names the index saw read before anything made them
        (``_Scope.unresolved``) are looked at, so a big graph costs little.
        """
        found: list[tuple[str, tuple[int, ...], str]] = []
        for path, scope in self._scopes.items():
            inputs = set(scope.inputs)
            candidates = [name for name in (*scope.unresolved, *scope.outputs)
                          if name and name not in inputs and name not in scope.producers
                          and name not in scope.initializers]
            for name in dict.fromkeys(candidates):
                if not isinstance(name, str):  # named in a finding: the model is corrupt
                    raise not_text(name)
                if self._defining_scope(name, path) is None and not self._sparse(name, path):
                    found.append((path, tuple(dict.fromkeys(scope.readers.get(name, ()))), name))
        return found

    def _sparse(self, name: str, graph: str) -> bool:
        """Whether a sparse initializer of ``graph`` or an enclosing graph is called ``name``."""
        path: str | None = graph
        while path is not None and path in self._scopes:
            scope = self._scopes[path]
            if any(sparse.values.name == name for sparse in scope.source.sparse_initializer):
                return True
            path = scope.parent
        return False

    def _defining_scope(self, name: str, graph: str) -> str | None:
        """The scope whose table defines ``name`` as seen from ``graph`` (no TensorInfo built)."""
        path: str | None = graph
        while path is not None:
            scope = self._scopes.get(path)
            if scope is None:
                return None
            if name in scope.producers or name in scope.initializers or name in scope.inputs:
                return path
            path = scope.parent
        return None

    def _scope_tensor(self, path: str, name: str) -> TensorInfo | None:
        key = (path, name)
        if key in self._tensor_cache:
            return self._tensor_cache[key]
        scope = self._scopes.get(path)
        info = None if scope is None else _make_tensor(scope, name, self)
        self._tensor_cache[key] = info
        return info

    # --- nodes --------------------------------------------------------------------------------
    def node(self, node_id: str) -> NodeInfo:
        cached = self._node_cache.get(node_id)
        if cached is not None:
            return cached
        path, _, index_text = node_id.rpartition("/")
        scope = self._scopes.get(path)
        if scope is None or not index_text.isdigit() or int(index_text) >= len(scope.protos):
            raise KeyError(node_id)
        index = int(index_text)
        proto = scope.protos[index]
        name, domain = proto.name, proto.domain
        if not isinstance(name, str) or not isinstance(domain, str):
            raise not_text(name if not isinstance(name, str) else domain)
        # NodeInfo(...) with every field given, written into the instance as _tensor_info
        # does (tests/test_view_records.py compares the two)
        info: NodeInfo = object.__new__(NodeInfo)
        info.__dict__.update(
            id=node_id, graph=path, index=index, name=name, op_type=proto.op_type,
            domain=domain, inputs=scope.node_inputs[index],
            outputs=scope.node_outputs[index], proto=proto, parent=scope.parent_node,
        )
        self._node_cache[node_id] = info
        return info

    def scopes_with(self, op_types: frozenset[str]) -> list[str]:
        """Paths of the graphs that hold a node of ``op_types``, in the model order of their
        first such node."""
        first = {path: min(scope.first_position[op] for op in op_types
                           if op in scope.first_position)
                 for path, scope in self._scopes.items()
                 if not op_types.isdisjoint(scope.op_indexes)}
        return sorted(first, key=first.__getitem__)

    def stored_operands(
        self, op_types: frozenset[str], graph: str, position: int
    ) -> tuple[dict[str, int], list[str]]:
        """Input ``position`` of each node of ``op_types`` in ``graph`` itself: how often each
        initializer of the graph (one that is neither a graph input nor a node output) is
        read there, and the other names read there. From the index alone."""
        scope = self._scopes.get(graph)
        stored: dict[str, int] = {}
        others: list[str] = []
        if scope is None:
            return stored, others
        inputs = scope.node_inputs
        initializers, producers, graph_inputs = scope.initializers, scope.producers, scope.inputs
        for op_type in op_types:
            for index in scope.op_indexes.get(op_type, ()):
                names = inputs[index]
                if len(names) <= position:
                    continue
                name = names[position]
                if name in initializers and name not in producers and name not in graph_inputs:
                    stored[name] = stored.get(name, 0) + 1
                else:
                    others.append(name)
        return stored, others

    def main_inputs(self) -> Sequence[ValueInfoProto]:
        """The main graph's input declarations as the model states them (their full types:
        a sequence input's element type, which the index's tensor view has not)."""
        scope = self._scopes.get("main")
        return () if scope is None else scope.source.input

    def stored_protos(self, names: Iterable[str], graph: str) -> list[tuple[str, TensorProto]]:
        """The initializers of ``graph`` itself among ``names`` (as :meth:`stored_operands`
        counts them), each with its proto: from the index, no view made."""
        scope = self._scopes.get(graph)
        if scope is None:
            return []
        initializers = scope.initializers
        return [(name, initializers[name]) for name in names if name in initializers]

    def attributes_outside(
        self, op_type: str, allowed: frozenset[str]
    ) -> list[tuple[str, str]]:
        """(node id, attribute name) for each attribute of a node of ``op_type`` (any graph,
        model order) whose name is not in ``allowed``: read from the protos, no view made."""
        found: list[tuple[str, str]] = []
        for path, scope in self._scopes.items():
            for index in scope.op_indexes.get(op_type, ()):
                for attr in scope.protos[index].attribute:
                    if attr.name not in allowed:
                        found.append((f"{path}/{index}", attr.name))
        return found

    def reading_inputs(
        self, op_types: frozenset[str], graph: str, through: frozenset[str]
    ) -> list[str]:
        """Ids of the nodes of ``op_types`` in ``graph``, in model order, whose input 0 is a
        graph input or a view of one (:meth:`viewed_input`): found by walking forward from the
        inputs visible in ``graph`` (its own and its enclosing graphs'), so a big graph's
        MatMuls are never looked at one by one."""
        frontier: list[tuple[str, str]] = []
        path: str | None = graph
        while path is not None and path in self._scopes:
            frontier.extend((name, path) for name in self._scopes[path].inputs)
            path = self._scopes[path].parent
        seen = set(frontier)
        found: set[int] = set()
        while frontier:
            name, path = frontier.pop()
            for node_id in self.consumer_ids(name, path):
                node_path, _, index_text = node_id.rpartition("/")
                index = int(index_text)
                scope = self._scopes[node_path]
                inputs, proto = scope.node_inputs[index], scope.protos[index]
                op_type = proto.op_type
                if not inputs or inputs[0] != name or (
                        proto.domain not in _STANDARD_DOMAINS
                        and not (proto.domain == _MICROSOFT and op_type in op_types)):
                    continue  # read as something other than data (or by an unknown op)
                if op_type in op_types and node_path == graph:
                    found.add(index)
                elif op_type in through and (op_type != _SCALE_OP or _scaled(scope, inputs)):
                    for out in scope.node_outputs[index]:
                        if out and (out, node_path) not in seen and len(seen) < _VIEW_WALK:
                            seen.add((out, node_path))
                            frontier.append((out, node_path))
        return [f"{graph}/{index}" for index in sorted(found)]

    def viewed_input(
        self, name: str, graph: str, through: frozenset[str]
    ) -> tuple[str, str] | None:
        """(scope, name) of the graph input that ``name``, seen from ``graph``, is or is a view
        of: the model's inputs or a subgraph's formal inputs, reached through input 0 of
        standard-domain nodes of ``through`` (at most MAX_VIEW_STEPS of them). None for
        anything computed otherwise, or stored."""
        path = graph
        for _ in range(MAX_VIEW_STEPS + 1):
            defining = self._defining_scope(name, path)
            if defining is None:
                return None
            scope = self._scopes[defining]
            produced = scope.producers.get(name)
            if produced is None:
                return (defining, name) if name in scope.inputs else None  # or stored
            proto = scope.protos[produced[0]]
            if proto.op_type not in through or proto.domain not in _STANDARD_DOMAINS:
                return None
            inputs = scope.node_inputs[produced[0]]
            if not inputs or not inputs[0] \
                    or (proto.op_type == _SCALE_OP and not _scaled(scope, inputs)):
                return None
            name, path = inputs[0], defining
        return None

    def with_empty_inputs(self) -> list[NodeInfo]:
        """The nodes, in every scope, that list an empty input name, from the index."""
        return [self.node(f"{path}/{index}") for path, scope in self._scopes.items()
                for index in dict.fromkeys(scope.with_empty_input)]

    def with_few_inputs(self, op_type: str, most: int) -> list[NodeInfo]:
        """The nodes of ``op_type`` (in model order per scope) that list at most ``most``
        non-empty inputs, found from the index: a Squeeze with no axes input is looked at
        without making a view of each of a big graph's Squeezes that has one."""
        found: list[NodeInfo] = []
        for path, scope in self._scopes.items():
            for index in scope.op_indexes.get(op_type, ()):
                if sum(1 for name in scope.node_inputs[index] if name) <= most:
                    found.append(self.node(f"{path}/{index}"))
        return found

    def iter_nodes(
        self, op_types: frozenset[str] | None = None, *, unusual_domains: bool = False
    ) -> Iterator[NodeInfo]:
        """Every node, or those of ``op_types`` (any domain), in model order;
        ``unusual_domains`` adds every node outside the "" / "ai.onnx" domain."""
        if op_types is None:
            for node_id in self.nodes:
                yield self.node(node_id)
            return
        lists = [self._by_op.get(op_type, []) for op_type in op_types]
        if unusual_domains:
            lists.append(self._unusual_domain)
        previous = None
        for _, node_id in heapq.merge(*lists):  # model order across op types
            if node_id != previous:  # a node in two lists (a Loop of a custom domain)
                yield self.node(node_id)
            previous = node_id

    def producer(self, name: str, graph: str = "main") -> NodeInfo | None:
        info = self.tensor(name, graph)
        if info is None or info.producer is None:
            return None
        return self.node(info.producer)

    def consumer_ids(self, name: str, graph: str = "main") -> list[str]:
        """Ids of the nodes in ``graph`` (and its subgraphs) that read tensor ``name`` of that
        scope, in model order (a node that reads it twice is listed twice)."""
        scope = self._scopes.get(graph)
        if scope is None or not name or self._defining_scope(name, graph) != graph:
            return []
        prefix = graph + "/"
        ids = [prefix + str(index) for index in scope.readers.get(name, ())]
        ids.extend(self._outer_consumers(name, graph))
        return ids

    def _index_outer_readers(self) -> dict[tuple[str, str], list[str]]:
        """(defining scope, tensor) -> ids of subgraph nodes that read it from an enclosing
        scope (a Loop body reading a weight of the main graph)."""
        table: dict[tuple[str, str], list[str]] = {}
        for path, scope in self._scopes.items():
            if scope.parent is None:
                continue
            prefix = path + "/"
            for name, indexes in scope.readers.items():
                owner = self._defining_scope(name, path)
                if owner is not None and owner != path:  # defined further out
                    table.setdefault((owner, name), []).extend(
                        prefix + str(index) for index in indexes)
        return table  # in model order: scopes are indexed in pre-order

    def reads_from(self, node_id: str, sources: frozenset[str]) -> bool:
        """Whether node ``node_id`` reads, directly or not, an output of a node in ``sources``
        (a subgraph node reading an enclosing scope's tensor counts as its reader).

        A walk upstream from the one node, breadth first, that stops at the first source;
        an answer of no is remembered for every node the walk saw (none of their ancestors is
        a source), so many questions about one graph stay linear in it."""
        memo = self._reads_from.setdefault(sources, {})
        known = memo.get(node_id)
        if known is not None:
            return known
        seen = {node_id}
        frontier = [node_id]
        while frontier:
            following: list[str] = []
            for current in frontier:
                for producer in self._producer_ids(current):
                    if producer in sources or memo.get(producer):
                        memo[node_id] = True
                        return True
                    if producer not in seen and producer not in memo:
                        seen.add(producer)
                        following.append(producer)
            frontier = following
        for visited in seen:
            memo[visited] = False
        return False

    def feeding(self, node_ids: frozenset[str]) -> frozenset[str]:
        """Ids of the nodes that ``node_ids`` read from, directly or not: every ancestor, a
        subgraph node's owner (a Loop) and what the owner reads included."""
        found: set[str] = set()
        frontier = list(node_ids)
        while frontier:
            current = frontier.pop()
            path = current.rpartition("/")[0]
            owner = self.subgraph_owner(path)
            upward = [*self._producer_ids(current), *([owner] if owner else [])]
            for node_id in upward:
                if node_id not in found:
                    found.add(node_id)
                    frontier.append(node_id)
        return frozenset(found)

    def _producer_ids(self, node_id: str) -> Iterator[str]:
        """Ids of the nodes whose outputs node ``node_id`` reads (from the index)."""
        path, _, index = node_id.rpartition("/")
        scope = self._scopes[path]
        for name in scope.node_inputs[int(index)]:
            owner = self._defining_scope(name, path) if name else None
            if owner is None:
                continue
            produced = self._scopes[owner].producers.get(name)
            if produced is not None:
                yield f"{owner}/{produced[0]}"

    def _outer_consumers(self, name: str, graph: str) -> list[str]:
        """Ids of subgraph nodes that read ``name`` of ``graph`` from inside a subgraph."""
        if self._outer_readers is None:
            self._outer_readers = self._index_outer_readers()
        return self._outer_readers.get((graph, name), [])

    def read_by_nothing(self, node: NodeInfo) -> bool:
        """Whether no node reads any output of ``node`` and none is an output of its graph: a
        node a tool left behind, which onnxruntime removes."""
        outputs = self.graph_outputs.get(node.graph, ())
        return not any(name and (name in outputs or self.consumer_ids(name, node.graph))
                       for name in node.outputs)

    def consumers_of(self, name: str, graph: str = "main") -> list[NodeInfo]:
        """Nodes in ``graph`` (and its subgraphs) that read tensor ``name`` of that scope."""
        return [self.node(n) for n in self.consumer_ids(name, graph)]

    # --- the networkx view --------------------------------------------------------------------
    @property
    def dag(self) -> nx.DiGraph:
        """Nodes ``main/3``; pseudo-nodes ``main:input:X``, ``main:init:W``, ``main:output:Y``;
        edges carry tensor name, dtype and shape. Built on first use."""
        if self._dag is None:
            self._dag = _build_dag(self)
        return self._dag

    def _origin_id(self, info: TensorInfo) -> str:
        if info.producer is not None:
            return info.producer
        kind = "init" if info.is_initializer else "input"
        return f"{info.graph}:{kind}:{info.name}"


class _NodeTable(Mapping[str, NodeInfo]):
    """``graph.nodes``: every node id, NodeInfo built on access."""

    def __init__(self, graph: ModelGraph) -> None:
        self._graph = graph

    def __getitem__(self, node_id: str) -> NodeInfo:
        return self._graph.node(node_id)

    def __iter__(self) -> Iterator[str]:
        """Pre-order: each node, then the nodes of its subgraphs."""
        scopes = self._graph._scopes
        if "main" not in scopes:
            return
        stack: list[tuple[str, int]] = [("main", 0)]
        while stack:
            path, start = stack.pop()
            scope = scopes[path]
            for index in range(start, len(scope.protos)):
                yield f"{path}/{index}"
                children = scope.children.get(index)
                if children:
                    stack.append((path, index + 1))
                    stack.extend((child, 0) for child in reversed(children))
                    break

    def __len__(self) -> int:
        return sum(len(scope.protos) for scope in self._graph._scopes.values())


def _scaled(scope: _Scope, inputs: tuple[str, ...]) -> bool:
    """Whether a Mul's inputs are data (input 0) times a tensor stored in ``scope``: an
    initializer that is no graph input, or a Constant's output."""
    if len(inputs) != 2 or not inputs[1]:
        return False
    scale = inputs[1]
    produced = scope.producers.get(scale)
    if produced is None:
        return scale in scope.initializers and scale not in scope.inputs
    op_type: str = scope.protos[produced[0]].op_type
    return op_type == "Constant"


def _build_dag(graph: ModelGraph) -> nx.DiGraph:
    import networkx as nx  # imported on first use: most lints never need the DiGraph

    dag = nx.DiGraph()
    edges: list[tuple[str, str, dict[str, Any]]] = []
    for path, scope in graph._scopes.items():
        for name in scope.initializers:
            dag.add_node(f"{path}:init:{name}", kind="initializer", tensor=name, graph=path)
        for name in scope.inputs:
            if name not in scope.initializers:
                dag.add_node(f"{path}:input:{name}", kind="input", tensor=name, graph=path)
        for index, proto in enumerate(scope.protos):
            node_id = f"{path}/{index}"
            dag.add_node(node_id, kind="node", op_type=proto.op_type, name=proto.name, graph=path)
            for name in proto.input:
                info = graph.tensor(name, path) if name else None
                if info is not None:
                    edges.append((graph._origin_id(info), node_id, _edge_data(info)))
        for name in scope.outputs:
            out_id = f"{path}:output:{name}"
            dag.add_node(out_id, kind="output", tensor=name, graph=path)
            info = graph.tensor(name, path)
            if info is not None:
                edges.append((graph._origin_id(info), out_id, _edge_data(info)))
    dag.add_edges_from(edges)
    return dag


def _edge_data(info: TensorInfo) -> dict[str, Any]:
    return {"tensor": info.name, "dtype": info.dtype, "shape": info.shape}


def _make_tensor(scope: _Scope, name: str, graph: ModelGraph) -> TensorInfo | None:
    if not isinstance(name, str):
        raise not_text(name)
    produced = scope.producers.get(name)
    if produced is None:
        tensor = scope.initializers.get(name)
        if tensor is not None:  # dims[:] is a list: tuple() of it is twice as fast
            return _tensor_info(
                name, scope.path, tensor.data_type, tuple(tensor.dims[:]), None, True,
                name in scope.inputs, name in scope.outputs,
                tensor.data_location == TensorProto.EXTERNAL, tensor)
        if name not in scope.inputs:
            return None
    dtype, shape = graph._declared(scope).type_of(name)
    if produced is None:
        return _tensor_info(name, scope.path, dtype, shape, None, False, True,
                            name in scope.outputs, False, None)
    index, slot = produced
    constant = None
    if slot == 0 and "Constant" in scope.op_indexes:
        proto = scope.protos[index]
        if proto.op_type == "Constant" and proto.domain in ("", "ai.onnx"):
            constant = proto
            if dtype is None or shape is None:
                value = constant_value(proto)
                if value is not None:
                    dtype = dtype or element_type(value)
                    shape = shape if shape is not None else tuple(value.shape)
    return _tensor_info(name, scope.path, dtype, shape, f"{scope.path}/{index}", False, False,
                        name in scope.outputs, False, constant)


def _tensor_info(
    name: str, graph: str, dtype: int | None, shape: Shape | None, producer: str | None,
    is_initializer: bool, is_graph_input: bool, is_graph_output: bool, external: bool,
    constant_source: TensorProto | NodeProto | None,
) -> TensorInfo:
    """``TensorInfo(...)`` with every field given, at half its cost: the frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, and a model has a TensorInfo
    per tensor (params_types.replaced copies records the same way). A field added to TensorInfo
    must be added here: tests/test_view_records.py compares the two."""
    info: TensorInfo = object.__new__(TensorInfo)
    info.__dict__.update(
        name=name, graph=graph, dtype=dtype, shape=shape, producer=producer,
        is_initializer=is_initializer, is_graph_input=is_graph_input,
        is_graph_output=is_graph_output, external=external, constant_source=constant_source,
    )
    return info


def build_graph(model: LoadedModel) -> ModelGraph:
    """Index the model as read; types come from the inferred model, waited for on first use
    (the inference child works meanwhile: archlint/loader.py)."""
    graph = ModelGraph()
    graph.opset = model.opset
    graph._functions = FunctionTable.of(model.proto)
    graph._inferred = model.shapes.types_graph
    main_inputs = {vi.name for vi in model.proto.graph.input}
    main_initializers = {t.name: t for t in model.proto.graph.initializer}
    _add_scope(graph, model.proto.graph, "main", None, None, 0,
               main_inputs, main_initializers, ())
    return graph


def indexed(model: LoadedModel) -> tuple[LoadedModel, ModelGraph]:
    """The model and its index, as every front end analyses it: where a graph's nodes are not
    in topological order (a node reads a tensor a later node makes), the index and the shape
    inference are of a sorted copy (the model as read is never changed), and the copy's
    ``reordered`` lists what was out of order (AL006). onnxruntime sorts such a graph itself;
    onnx's inference types nothing downstream of the first read-before-made, and the cell
    matchers walk in model order."""
    graph = build_graph(model)
    if not graph.out_of_order:
        return model, graph
    ordered = in_topological_order(model, tuple(graph.out_of_order))
    return ordered, build_graph(ordered)


def not_text(value: object) -> UnicodeDecodeError:
    """What a name that is not UTF-8 raises where archlint first reads it (a node's, a
    tensor's): the protobuf runtime hands such a proto2 string back as its raw bytes, which no
    str operation accepts, and the model is reported corrupt (archlint/loader.py). Checked as
    each view is made, not over the whole index: a scan of 100k names costs 40 ms."""
    raw = value if isinstance(value, bytes) else repr(value).encode()
    return UnicodeDecodeError("utf-8", raw, 0, len(raw), "a name that is not UTF-8")


def _follow(main: GraphProto, locator: tuple[tuple[int, str], ...]) -> GraphProto | None:
    """The subgraph at ``locator`` in ``main`` (None where the structure differs)."""
    current = main
    for index, attr_name in locator:
        if index >= len(current.node):
            return None
        found = next((sub for name, sub in _subgraphs(current.node[index])
                      if name == attr_name), None)
        if found is None:
            return None
        current = found
    return current


def _add_scope(
    graph: ModelGraph,
    proto: GraphProto,
    path: str,
    parent: str | None,
    parent_node: str | None,
    depth: int,
    main_inputs: set[str],
    main_initializers: dict[str, TensorProto],
    locator: tuple[tuple[int, str], ...] | None,
) -> None:
    """Index one graph, then its subgraphs right after their owner (pre-order, as a reader
    walks the model). Recursion depth is bounded by MAX_SUBGRAPH_DEPTH. ``locator`` finds the
    graph in the inferred model; None for a function body archlint instantiated (its types
    are its own)."""
    inputs = tuple(vi.name for vi in proto.input)
    if path == "main":  # skeleton inputs that stand for initializers are not graph inputs
        inputs = tuple(name for name in inputs if name in main_inputs)
    scope = _Scope(
        path=path, parent=parent, parent_node=parent_node, protos=proto.node,
        initializers=main_initializers if path == "main"
        else {t.name: t for t in proto.initializer},
        declared=declared_types(proto) if locator is None else None,
        locator=locator or (), source=proto, inputs=inputs,
        outputs=tuple(vi.name for vi in proto.output),
    )
    graph._scopes[path] = scope
    by_op, producers, preorder = graph._by_op, scope.producers, graph._preorder
    node_inputs, node_outputs, readers = scope.node_inputs, scope.node_outputs, scope.readers
    op_indexes, unresolved, initializers = scope.op_indexes, scope.unresolved, scope.initializers
    with_empty = scope.with_empty_input
    for index, node in enumerate(proto.node):
        op_type, domain, node_id = node.op_type, node.domain, f"{path}/{index}"
        position = next(preorder)
        same_op = by_op.get(op_type)
        if same_op is None:
            by_op[op_type] = [(position, node_id)]
        else:
            same_op.append((position, node_id))
        here = op_indexes.get(op_type)
        if here is None:
            op_indexes[op_type] = [index]
            scope.first_position[op_type] = position
        else:
            here.append(index)
        inputs = tuple(node.input[:])  # a list first: tuple() of a list is quicker
        node_inputs.append(inputs)
        for name in inputs:
            if name:
                same_name = readers.get(name)
                if same_name is None:
                    readers[name] = [index]
                    if name not in producers and name not in initializers:
                        unresolved.append(name)  # an input, an outer tensor, made later or never
                else:
                    same_name.append(index)
            else:
                with_empty.append(index)
        outputs = tuple(node.output[:])
        node_outputs.append(outputs)
        for slot, name in enumerate(outputs):
            if name:
                producers[name] = (index, slot)
        if domain and domain != "ai.onnx":
            graph._unusual_domain.append((position, node_id))
        if op_type not in _CONTROL_FLOW_OPS and domain in _STANDARD_DOMAINS:
            continue
        function = graph._functions.called(node) if graph._functions is not None else None
        if function is not None and graph._functions is not None:
            # a call of a model-local function: its body, bound to this call (functions.py)
            sub_path = instance_path(path, node, index, function)
            if depth + 1 > MAX_SUBGRAPH_DEPTH or sub_path in graph._scopes \
                    or not graph._functions.affordable(function):
                graph.skipped_subgraphs.append(sub_path)
                continue
            body = graph._functions.instantiate(function, node, _type_reader(graph, path))
            scope.children.setdefault(index, []).append(sub_path)
            _add_scope(graph, body, sub_path, None, f"{path}/{index}", depth + 1,
                       main_inputs, main_initializers, None)
            instance = graph._scopes[sub_path]
            instance.call_scope = path
            instance.bindings = {formal: actual for formal, actual
                                 in zip(function.input, node.input, strict=False) if actual}
            first = instance.first_instance = graph._first_instance.setdefault(
                (function.domain, function.name, getattr(function, "overload", "")), sub_path)
            graph._calls[first] = graph._calls.get(first, 0) + 1
            instance.constants = frozenset(
                body_node.output[0] for body_node in function.node
                if body_node.op_type == "Constant" and body_node.domain in _STANDARD_DOMAINS
                and body_node.output and not any(a.ref_attr_name for a in body_node.attribute))
            continue
        for attr_name, sub in _subgraphs(node):
            sub_path = subgraph_path(path, node, index, attr_name)
            if sub_path in graph._scopes:  # two owners with the same name (subgraph_of)
                sub_path = f"{path}/{node.name}#{index}.{attr_name}"
            if depth + 1 > MAX_SUBGRAPH_DEPTH:
                graph.skipped_subgraphs.append(sub_path)
                continue
            scope.children.setdefault(index, []).append(sub_path)
            _add_scope(graph, sub, sub_path, path, f"{path}/{index}", depth + 1,
                       main_inputs, main_initializers,
                       None if locator is None else (*locator, (index, attr_name)))
    for op_type in op_indexes:  # a few distinct ones: the names are checked as views are made
        if not isinstance(op_type, str):
            raise not_text(op_type)
    _defined_twice(graph, scope)
    for name in unresolved:  # read before anything made it: an input, outer, or made later
        if name in producers:
            reader = proto.node[readers[name][0]]
            graph.out_of_order.append((path, reader.name, reader.op_type, name))


def _defined_twice(graph: ModelGraph, scope: _Scope) -> None:
    """Record the names ``scope`` defines twice (ModelGraph.defined_twice): made by two nodes
    (the later one named, which ``producers`` kept), or made by a node while an initializer
    or a graph input of the scope. Counted in C first: a graph with no such name (every
    graph a valid model has) costs a list of its output names and two set operations."""
    producers = scope.producers
    names = list(itertools.chain.from_iterable(scope.node_outputs))
    if len(producers) != len(names) - names.count(""):
        seen: set[str] = set()
        for index, outputs in enumerate(scope.node_outputs):
            for name in outputs:
                if name and name in seen:
                    graph.defined_twice.append((scope.path, name, index, "node"))
                seen.add(name)
    for name in sorted(producers.keys() & scope.initializers.keys(), key=str):
        graph.defined_twice.append((scope.path, name, producers[name][0], "initializer"))
    for name in sorted(producers.keys() & set(scope.inputs), key=str):
        graph.defined_twice.append((scope.path, name, producers[name][0], "input"))


def _type_reader(graph: ModelGraph, path: str) -> TypeOf:
    def read(name: str) -> tuple[int | None, Shape | None]:
        info = graph.tensor(name, path)
        return (None, None) if info is None else (info.dtype, info.shape)

    return read


def _subgraphs(node: NodeProto) -> Iterator[tuple[str, GraphProto]]:
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            yield attr.name, attr.g
        elif attr.type == AttributeProto.GRAPHS:
            for k, sub in enumerate(attr.graphs):
                yield f"{attr.name}[{k}]", sub
