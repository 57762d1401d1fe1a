"""Random inputs for a model, from its static description.

Symbolic dimensions are bound from the user's ``--dim`` values or defaults the report states
(a recurrent layer's batch symbol 2, its sequence symbol 5, any other symbol 3, an unnamed
dimension 1). Integer inputs are kept in valid ranges: indices into a Gather below the
gathered axis of the data tensor (a vocabulary from an embedding initializer's shape), and
``sequence_lens`` in ``[1, seq]``. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from archlint.declared_types import tensor_type
from archlint.exporter import is_keras_exporter
from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import attr_int, is_model_input, state_source
from archlint.recurrent import RecurrentLayer
from archlint.runtime.worker import SEQUENCE_KEY
from archlint.shapes import Dim, Shape

__all__ = ["RETRY_MAX_BYTES", "RETRY_SIZE", "Binding", "GivenInputError", "InputSpec",
           "InputsError", "bind_dims", "drawn_bytes", "joint_sweeps", "load_given",
           "longest_sequence", "make_inputs", "resolve_shape", "sequence_past",
           "sizes_to_retry"]

DEFAULT_BATCH, DEFAULT_SEQ, DEFAULT_OTHER, DEFAULT_UNNAMED = 2, 5, 3, 1
# Binding.origin of a dim bound by a default, and of an unnamed one (read back to tell which
# sizes archlint chose: the invented ones, the ones a failed run is retried at)
BY_DEFAULT, UNNAMED_BY_DEFAULT = "default", "default, unnamed dim"
# When the run fails at those defaults, the named dims archlint chose (all but the batch) get
# this size in a second run (archlint/runtime/check.py): a model that needs a minimum length
# (an STFT front-end's reflect padding, a chunk of audio samples, a stack of strided
# convolutions) fails at 5 and is not broken. 512 is silero-vad's chunk of 16 kHz audio
# (silero_vad_half.onnx in its 6.2 package runs at 256 to 576 samples, not at 128 or 1,000);
# it is past the windows and strides such models use, and small to draw.
RETRY_SIZE = 512
# ... as long as the second run's inputs stay below this: several dims at 512 multiply fast
# (a [batch, a, b, c] input would be 2·512³ values); past it, no second run is made
RETRY_MAX_BYTES = 64 * 1024**2
GENERIC_INT_RANGE = (0, 4)  # [low, high): small non-negative ints
UNBOUNDED = "invented: no declared range and no consumer bounds it; give it with --input"
# Inputs are drawn in archlint's own process: a declared shape of 2^40 elements must be
# refused before numpy is asked for the memory.
MAX_INPUT_BYTES = 1 << 30


class InputsError(Exception):
    """Inputs that cannot be drawn (a huge shape, a string tensor):
    ``str()`` says which input and why; the model is then not run. ``needs``: the inputs
    only the caller can give (text: no value of it is drawn), where that is why."""

    def __init__(self, message: str, needs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.needs = needs


@dataclass(frozen=True)
class Binding:
    """Symbol -> value, and where each value came from ("--dim", "default", ...).

    A dimension without a name is keyed ``input:axis``. ``groups`` are the keys bound equal
    (one recurrent layer's batch, or its sequence, under every name the exporter gave it),
    each with its role; ``user`` the keys whose value the user gave (a sweep leaves them).
    """

    values: Mapping[str, int]
    origin: Mapping[str, str]
    unused: tuple[str, ...] = ()  # --dim names this model does not have
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (role, keys), every key once
    user: frozenset[str] = frozenset()
    # symbols that are expressions of others (torch's dynamo writes ``time + 4`` for
    # Dim("time") + 4): their values follow the others', in every sweep too
    derived: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.values:
            return "none (all input dims are fixed)"
        return ", ".join(f"{k}={v} ({self.origin[k]})" for k, v in self.values.items())

    def short(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "fixed dims"


@dataclass(frozen=True)
class InputSpec:
    """One fed input: dtype, concrete shape, and how its values were drawn.

    ``invented`` is set when archlint chose values the model gives no bound for (an integer
    that selects or indexes with no consumer to bound it, a boolean condition): a failure on
    them may be the values' fault, not the model's.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    values: str
    low: float | None = None
    high: float | None = None
    origin: str = "random"  # "random", "--input", "--inputs"
    invented: bool = False

    def describe(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(map(str, self.shape))}] {self.values}"


def _given_by(name: str, from_config: frozenset[str], named: bool = False) -> str:
    """Where a requested dim came from, as a binding labels it."""
    if name in from_config:
        return f"dims.{name} in the config" if named else "the config's dims"
    return f"--dim {name}" if named else "--dim"


def _roles(layers: tuple[RecurrentLayer, ...]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for layer in layers:
        if isinstance(layer.batch_dim, str):
            roles.setdefault(layer.batch_dim, "batch")
        if isinstance(layer.seq_dim, str):
            roles.setdefault(layer.seq_dim, "seq")
    return roles


# torch's name for an axis given by position alone (dynamic_axes={"length": [0]}): the
# input's name, which says what the tensor holds, not what the axis is
_TORCH_AXIS_NAME = re.compile(r".+_dynamic_axes_\d+")


def _role_by_name(symbol: str) -> str | None:
    """The role a dim's own name gives it; none for torch's ``<input>_dynamic_axes_<n>``:
    NeMo's ``length_dynamic_axes_1`` is the batch of a lengths vector, not a length."""
    if _TORCH_AXIS_NAME.fullmatch(symbol):
        return None
    lowered = symbol.lower()
    if "batch" in lowered:
        return "batch"
    if any(word in lowered for word in ("seq", "time", "len", "step")):
        return "seq"
    return None


def fed_inputs(graph: ModelGraph) -> list[str]:
    """Graph inputs the caller must feed (an input with an initializer has a default)."""
    names = []
    for name in graph.graph_inputs.get("main", ()):
        info = graph.tensor(name)
        if info is not None and not info.is_initializer:
            names.append(name)
    return names


def axis_key(name: str, axis: int) -> str:
    """The key of an input's dimension that has no symbol: ``x:1``."""
    return f"{name}:{axis}"


_AXIS = re.compile(r"^(?P<name>.+?)(?::(?P<a>\d+)|\[(?P<b>\d+)\])$")


def _input_axis(graph: ModelGraph, key: str) -> tuple[str, int] | None:
    """``x:1`` or ``x[1]`` naming an axis of a fed input, else None."""
    match = _AXIS.match(key)
    if match is None or match["name"] not in fed_inputs(graph):
        return None
    return match["name"], int(match["a"] or match["b"])


def _dim_key(graph: ModelGraph, name: str, axis: int) -> str | int | None:
    info = graph.tensor(name)
    if info is None or info.shape is None or not 0 <= axis < len(info.shape):
        return None
    dim = info.shape[axis]
    return axis_key(name, axis) if dim is None else dim


# (slot, role, axis with layout=0, axis with layout=1)
_TIED_SLOTS = (("X", "batch", 1, 0), ("X", "seq", 0, 1), ("initial_h", "batch", 1, 0),
               ("initial_c", "batch", 1, 0), ("sequence_lens", "batch", 0, 0))


def tied_dims(graph: ModelGraph,
              layers: tuple[RecurrentLayer, ...]) -> list[tuple[str, list[str | int]]]:
    """Per recurrent node, the dims that must be equal for onnxruntime to run it: the batch
    axis of X, the initial states and sequence_lens, and X's sequence axis, each under the
    symbol the node's input carries and under the model input it comes from (followed back
    through Unsqueeze, Reshape, Transpose, Expand, Slice, Gather, Concat by
    :func:`~archlint.patterns.state_source`). tf2onnx names every input's batch apart
    (``unk__2271`` for x, ``unk__2273`` for h0): they are one size all the same. An int in a
    group is a fixed size that binds the rest."""
    tied: list[tuple[str, list[str | int]]] = []
    for layer in layers:  # a recognised cell binds no op slot (its axes: _cell_dims)
        by_role: dict[str, list[str | int]] = {}
        for slot, role, axis0, axis1 in _TIED_SLOTS:
            ref = layer.inputs.get(slot)
            if ref is None or not ref.name:
                continue
            axis = axis1 if layer.layout == 1 else axis0
            by_role.setdefault(role, []).extend(
                _axis_keys(graph, ref.name, layer.node.graph, ref.shape, axis))
        x, size = layer.inputs.get("X"), layer.conformable_dim("W", 2)
        if x is not None and x.name and isinstance(size, int) and size > 0:
            # X's features are W's input size I: a model input that only reshapes into X
            # (madmom's [frames, features] unsqueezed to [frames, 1, features]) takes it
            by_role["features"] = [
                *_axis_keys(graph, x.name, layer.node.graph, x.shape, 2), size]
        tied.extend((role, keys) for role, keys in by_role.items() if len(keys) > 1)
    return tied


def _axis_keys(
    graph: ModelGraph, name: str, scope: str, shape: Shape | None, axis: int
) -> list[str | int]:
    """The keys of ``axis`` of tensor ``name``: the symbol or size it carries, and the dim of
    the model input it comes from (followed back by state_source)."""
    keys: list[str | int] = []
    if shape is not None and axis < len(shape):
        own = shape[axis]
        if isinstance(own, str | int):
            keys.append(own)
    source = state_source(graph, name, scope, axis)
    if source.axis is not None and is_model_input(graph.tensor(source.root)):
        key = _dim_key(graph, source.root, source.axis)
        if key is not None:
            keys.append(key)
    return keys


def _cell_dims(graph: ModelGraph, layer: RecurrentLayer) -> list[tuple[str, list[str | int]]]:
    """A recognised Loop or Scan cell's seq and batch: the axis of the outer sequence each step
    takes x_t from (tf2onnx's Gather of a Keras layer's time-major copy of x, a Scan's scan
    axis), and, for a 3-D sequence, the other axis before its features; each under the symbol
    the sequence carries and under the model input it comes from. Nothing where the cell does
    not say which axis its steps read: a guessed role would bind ``--dim seq`` to another
    axis.

    These roles bind ``--dim seq`` and ``--dim batch`` only: the dims keep the default sizes
    of dims without a role (3, swept to 5). A Loop cell is made of generic ops that may tie
    batch and seq to each other (a Keras 3 TimeDistributed GRU exported by tf2onnx fails
    whenever batch > seq), which the role defaults (batch 2 -> 3, seq 5 -> 7) never try."""
    cell = layer.cell
    if cell is None or cell.sequence is None or cell.sequence_axis is None:
        return []
    scope = layer.node.graph
    info = graph.tensor(cell.sequence, scope)
    if info is None or info.shape is None:
        return []
    rank = len(info.shape)
    seq_axis = cell.sequence_axis % rank if -rank <= cell.sequence_axis < rank else None
    if seq_axis is None:
        return []
    roles = [("seq", seq_axis)]
    if rank == 3 and seq_axis in (0, 1):
        roles.append(("batch", 1 - seq_axis))
    found = [(role, _axis_keys(graph, cell.sequence, scope, info.shape, axis))
             for role, axis in roles]
    return [(role, keys) for role, keys in found if keys]


# Ops that need the sizes on some axes of their inputs to agree: Concat on every axis but
# its own, the broadcasting ones where neither input holds 1 there (binding two such input
# dims to one size is a size the op accepts: equal sizes always broadcast).
_BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Greater",
                           "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor",
                           "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Where", "Max", "Min", "Sum",
                           "Mean", "PRelu"})
_EQUAL_AXES_OPS = _BROADCASTING | {"Concat"}


def op_ties(graph: ModelGraph, keys: list[str]) -> list[list[str]]:
    """Symbols of the fed inputs' dims (``keys``) that a main-graph node needs equal: the
    axes Concat does not join, and the axes a broadcasting op aligns (counted from the last)
    where two inputs carry different input symbols. tf2onnx names every input's batch apart
    (``unk__2044``, ``unk__2045``, ``unk__2046`` for three inputs of one Keras model, joined
    by a Concat of their embeddings): one size all the same, which the sweep must move
    together (a failure at two of them apart is archlint's own mix of sizes)."""
    known = set(keys)
    ties: list[list[str]] = []
    for node in graph.iter_nodes(_EQUAL_AXES_OPS):
        if node.graph != "main" or node.domain not in ("", "ai.onnx"):
            continue
        shapes = [info.shape for name in node.inputs
                  if name and (info := graph.tensor(name)) is not None and info.shape]
        if len(shapes) < 2:
            continue
        skip = _concat_axis(node, len(shapes[0])) if node.op_type == "Concat" else None
        if node.op_type == "Concat" and skip is None:
            continue
        width = max(len(shape) for shape in shapes)
        for back in range(1, width + 1):
            if node.op_type == "Concat" and width - back == skip:
                continue
            symbols = {dim for shape in shapes if len(shape) >= back
                       and isinstance(dim := shape[-back], str) and dim in known}
            if len(symbols) > 1:
                ties.append(sorted(symbols))
    return ties


def weight_ties(graph: ModelGraph, keys: list[str]) -> list[tuple[str, int]]:
    """Symbols of the fed inputs' dims (``keys``) that a main-graph MatMul or Gemm contracts
    against a stored weight, each with the weight's size on that axis: the only size the
    model runs at. espnet_onnx declares a joint network's 1-D feature inputs dynamic
    (``enc_out_length``); drawn at 5, the product failed and the model was blamed."""
    known = set(keys)
    ties: list[tuple[str, int]] = []
    for node in graph.iter_nodes(frozenset({"MatMul", "Gemm"})):
        if node.graph != "main" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
            continue
        data, weight = graph.tensor(node.inputs[0]), graph.tensor(node.inputs[1])
        if data is None or weight is None or not data.shape or weight.shape is None \
                or len(weight.shape) != 2 or not weight.is_constant:
            continue
        if node.op_type == "Gemm" and attr_int(node, "transA"):
            continue
        transposed = node.op_type == "Gemm" and bool(attr_int(node, "transB"))
        size, symbol = weight.shape[1 if transposed else 0], data.shape[-1]
        if isinstance(size, int) and isinstance(symbol, str) and symbol in known:
            ties.append((symbol, size))
    return ties


def keras_batches(graph: ModelGraph, exporter: str) -> list[str | int]:
    """The first axis of every fed input of a Keras model (tf2onnx, keras2onnx): Keras gives
    each input the batch as axis 0 and one batch to all of them, and tf2onnx names each
    input's apart (``unk__2287``, ``unk__2289``). Nothing shows the tie where the layers
    between the inputs are Loops (a seq2seq whose masked LSTM encoder hands its state to
    the decoder): fed 3 and 2, such a model failed, and archlint blamed it."""
    if not is_keras_exporter(exporter):
        return []
    keys: list[str | int] = []
    for name in fed_inputs(graph):
        key = _dim_key(graph, name, 0)
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def _concat_axis(node: NodeInfo, rank: int) -> int | None:
    """The axis a Concat of rank-``rank`` inputs joins on, non-negative; None when the
    attribute is missing or out of range."""
    axis = attr_int(node, "axis")
    if axis is None or not -rank <= axis < rank:
        return None
    return axis % rank


class _Groups:
    """Union-find over dimension keys."""

    def __init__(self) -> None:
        self.parent: dict[str | int, str | int] = {}

    def find(self, key: str | int) -> str | int:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str | int, b: str | int) -> None:
        self.parent[self.find(a)] = self.find(b)

    def tie(self, keys: list[str | int], role: str, roles: dict[str | int, str]) -> None:
        """One group of ``keys``, each given ``role`` in ``roles`` unless it has one."""
        for key in keys[1:]:
            self.join(keys[0], key)
        for key in keys:
            roles.setdefault(key, role)


def bind_dims(
    graph: ModelGraph, layers: tuple[RecurrentLayer, ...], requested: Mapping[str, int],
    given: Mapping[str, tuple[int, ...]] | None = None,
    retried: Mapping[str, int] | None = None,
    from_config: frozenset[str] = frozenset(),
    exporter: str = "",
) -> Binding:
    """Bind every symbolic or unnamed dim of the fed inputs: dims tied by a recurrent node are
    bound equal; a value comes from ``--dim`` (a symbol, a role, or ``input:axis``), from the
    shape of an array the user gave (``given``), from a fixed size it is tied to, or from the
    role's default. ``retried`` (binding keys, from :func:`sizes_to_retry`) replaces the
    defaults a first run failed at: still archlint's choice, so the sweep tries those dims at
    a second size too: a model that runs only at the retried size is not dynamic.
    ``from_config`` names the requested dims the config gave, labelled as such. ``exporter``
    (the model's producer_name, seen through the quantizer: archlint/exporter.py) names a
    Keras exporter whose inputs share their first axis
    (:func:`keras_batches`)."""
    roles = _roles(layers)
    keys: list[str] = []
    for name in fed_inputs(graph):
        info = graph.tensor(name)
        for axis, dim in enumerate((info.shape or ()) if info is not None else ()):
            key = axis_key(name, axis) if dim is None else dim
            if isinstance(key, str) and key not in keys:
                keys.append(key)
    derived = [key for key in keys
               if (uses := _expression_names(key)) and uses <= set(keys) - {key}]
    ordered = keys
    keys = [key for key in keys if key not in derived]
    groups = _Groups()
    group_role: dict[str | int, str] = {}
    for tied_role, tied in tied_dims(graph, layers):
        groups.tie(tied, tied_role, group_role)
    for aligned in op_ties(graph, keys):
        for key in aligned[1:]:
            groups.join(aligned[0], key)
    for key, size in weight_ties(graph, keys):
        groups.tie([key, size], "features", group_role)  # not swept: W fixes it
    if len(batches := keras_batches(graph, exporter)) > 1:
        groups.tie(batches, "batch", group_role)
    hinted_role: dict[str | int, str] = {}  # what --dim seq / batch binds in a Loop cell
    for layer in layers:
        for hinted, tied in _cell_dims(graph, layer):
            groups.tie(tied, hinted, hinted_role)
    # what the user fixed, keyed as the binding keys them
    fixed: dict[str, tuple[int, str]] = {}
    used: set[str] = set()
    for name, shape in (given or {}).items():
        info = graph.tensor(name)
        for axis, size in enumerate(shape):
            dim = info.shape[axis] if info and info.shape and axis < len(info.shape) else 0
            key = axis_key(name, axis) if dim is None else dim
            if isinstance(key, str):
                fixed.setdefault(key, (size, f"shape of --input {name}"))
    for raw, value in requested.items():
        located = _input_axis(graph, raw)
        key = raw
        if located is not None:
            resolved = _dim_key(graph, *located)
            key = resolved if isinstance(resolved, str) else raw
        if key in keys:
            fixed[key] = (value, _given_by(raw, from_config))
            used.add(raw)
    members: dict[str | int, list[str | int]] = {}
    for key in [*keys, *groups.parent]:
        if key not in members.get(groups.find(key), []):
            members.setdefault(groups.find(key), []).append(key)
    values: dict[str, int] = {}
    origin: dict[str, str] = {}
    out_groups: list[tuple[str, tuple[str, ...]]] = []
    user: set[str] = set()
    for member in members.values():
        names = [k for k in member if isinstance(k, str) and k in keys]
        if not names:
            continue
        role = next((group_role[k] for k in member if k in group_role), None) or next(
            (r for r in (roles.get(k) or _role_by_name(k) for k in names
                         if not _is_axis_key(k)) if r), None)
        sizes = [k for k in member if isinstance(k, int)]
        chosen = next(((fixed[k][0], fixed[k][1]) for k in names if k in fixed), None)
        larger = next((retried[k] for k in names if retried and k in retried), None)
        if chosen is not None:
            user.update(names)
        elif (asked := role or next((hinted_role[k] for k in member if k in hinted_role),
                                    None)) is not None and asked in requested:
            chosen = (requested[asked], _given_by(asked, from_config, named=True))
            used.add(asked)
            user.update(names)
        elif larger is not None:  # archlint's second choice: swept like its first
            chosen = (larger, "batch 1: the run failed at the default" if role == "batch"
                      else "larger size: the run failed at the default")
        elif sizes:
            chosen = (sizes[0], "fixed by the node it feeds")
        elif role is not None:
            chosen = ({"batch": DEFAULT_BATCH, "seq": DEFAULT_SEQ}.get(role, DEFAULT_OTHER),
                      BY_DEFAULT)
        elif all(_is_axis_key(k) for k in names):
            chosen = (DEFAULT_UNNAMED, UNNAMED_BY_DEFAULT)
        else:
            chosen = (DEFAULT_OTHER, BY_DEFAULT)
        tie = f", tied to {', '.join(k for k in names[1:])}" if len(names) > 1 else ""
        for index, key in enumerate(names):
            values[key] = chosen[0]
            origin[key] = chosen[1] + (tie if index == 0 else f", tied to {names[0]}")
        out_groups.append((role or ("unnamed" if all(map(_is_axis_key, names)) else "other"),
                           tuple(names)))
    for key, computed in _derived_values(derived, values).items():
        values[key] = computed
        origin[key] = f"follows {', '.join(sorted(_expression_names(key) or ()))}"
    values = {k: values[k] for k in ordered if k in values}
    unused = tuple(sorted(set(requested) - used))
    return Binding(values, {k: origin[k] for k in values}, unused, tuple(out_groups),
                   frozenset(user), tuple(k for k in derived if k in values))


# the integer arithmetic a derived dim may use (torch writes +, -, * and // of its Dims)
_OPERATIONS: Mapping[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__,
    ast.FloorDiv: int.__floordiv__, ast.Mod: int.__mod__}


def _expression_names(symbol: str) -> frozenset[str] | None:
    """The names an arithmetic expression of other dims uses (``time + 4``, ``2*s0``,
    ``(s1 - 1)//2``: :data:`_OPERATIONS` of names and ints); None for a plain name or
    anything else."""
    try:
        tree = ast.parse(symbol, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if not isinstance(tree, ast.BinOp):
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _OPERATIONS:
                return None
        elif not isinstance(node, ast.operator | ast.Load) and not (
                isinstance(node, ast.Constant) and type(node.value) is int):
            return None
    return frozenset(names) or None


def _derived_values(derived: Iterable[str], values: Mapping[str, int]) -> dict[str, int]:
    """Each derived dim's value at ``values`` (its names bound there), where it comes out a
    size (not below 0, no division by 0)."""
    found: dict[str, int] = {}
    for symbol in derived:
        computed = _evaluate(ast.parse(symbol, mode="eval").body, values)
        if computed is not None and computed >= 0:
            found[symbol] = computed
    return found


def _evaluate(node: ast.expr, values: Mapping[str, int]) -> int | None:
    """The value of a node of an expression ``_expression_names`` accepted."""
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if left is None or right is None or (right == 0 and isinstance(
                node.op, ast.FloorDiv | ast.Mod)):
            return None
        return _OPERATIONS[type(node.op)](left, right)
    return None


def _is_axis_key(key: str) -> bool:
    return _AXIS.match(key) is not None and ":" in key


def sizes_to_retry(binding: Binding) -> dict[str, int]:
    """The dims to bind at :data:`RETRY_SIZE` when a run at ``binding`` failed: every group of
    named dims bound by a default, except batches. What the user gave, what a node fixes
    and unnamed dims (invented: the report names them) keep their values."""
    retried: dict[str, int] = {}
    for role, keys in binding.groups:
        if role == "batch" or not keys or any(k in binding.user for k in keys):
            continue
        origin = binding.origin.get(keys[0], "")
        if origin.startswith(BY_DEFAULT) and not origin.startswith(UNNAMED_BY_DEFAULT) \
                and binding.values[keys[0]] < RETRY_SIZE:
            retried.update((key, RETRY_SIZE) for key in keys)
    return retried


def batch_of_one(binding: Binding) -> dict[str, int]:
    """The batch groups archlint bound by default at another size than 1, at 1: the size
    exports are traced with most often, where a model whose export wrote the batch into the
    graph runs (a zero state traced at batch 1, a Reshape target, torch.export's
    specialisation of a dim of size 1). What the user gave keeps its value."""
    ones: dict[str, int] = {}
    for role, keys in binding.groups:
        if role != "batch" or not keys or any(k in binding.user for k in keys):
            continue
        if binding.origin.get(keys[0], "").startswith(BY_DEFAULT) \
                and binding.values[keys[0]] != 1:
            ones.update((key, 1) for key in keys)
    return ones


MAX_SWEEP_GROUPS = 4  # one extra session per group: bounded for models with many symbols
# The batch's second size passes every sequence's size (batch 2 -> 7 at seq 5): a model that
# takes one axis for the other (a loop over the batch as if it were time: tf2onnx 1.17 writes
# Keras 3's TimeDistributed so) runs at batch 3 and returns the batch as its time axis, and
# fails once the batch passes the length. Past this length the batch keeps its small size.
BATCH_PAST_SEQ_MAX = 16


def second_size(size: int) -> int:
    """The sweep's other size: batch 2 -> 3, seq 5 -> 7, 1 -> 3, v -> v + 2."""
    return 3 if size == 2 else size + 2


def longest_sequence(binding: Binding) -> int | None:
    """The largest size bound to a group tied to a recurrent layer's sequence axis."""
    return max((binding.values[keys[0]] for role, keys in binding.groups
                if role == "seq" and keys), default=None)


def _past_sequence(binding: Binding) -> dict[int, int]:
    """Base size -> second size for the batch groups' base sizes, where the batch's usual
    second size does not pass the longest sequence and passing it stays small
    (:data:`BATCH_PAST_SEQ_MAX`). Keyed by size, so that every group of that base (the
    batches of x and of h that an exporter names apart) moves to the same size, as the joint
    sweeps need."""
    longest = longest_sequence(binding)
    if longest is None or longest + 2 > BATCH_PAST_SEQ_MAX:
        return {}
    return {base: longest + 2 for role, keys in binding.groups
            if role == "batch" and keys
            and second_size(base := binding.values[keys[0]]) <= longest}


def sweep_bindings(binding: Binding) -> list[tuple[str, str, int, int, Binding]]:
    """(dim names, role, base size, other size, binding) per group the user did not fix. A
    recurrent node's input size (the ``features`` group W fixes) is not swept: another size
    fails by construction, and the sweep's few groups are for the dims a model may mishandle.
    The batch's second size passes the sequence's (:func:`_past_sequence`)."""
    found = []
    past = _past_sequence(binding)
    for role, keys in binding.groups:
        if any(k in binding.user for k in keys) or not keys or role == "features":
            continue
        base = binding.values[keys[0]]
        other = past.get(base) or second_size(base)
        found.append((" = ".join(keys), role, base, other,
                      _swept(binding, dict.fromkeys(keys, other))))
    return found[:MAX_SWEEP_GROUPS]


def sequence_past(binding: Binding, size: int) -> Binding | None:
    """``binding`` (a batch sweep's) with every sequence group at ``size`` + 2, past the batch
    that failed there: where that runs, the model fails only where the batch passes the
    length. None where a sequence's size is the user's (the deployment's, left alone)."""
    keys = [key for role, group in binding.groups if role == "seq" for key in group]
    if not keys or any(key in binding.user for key in keys):
        return None
    return _swept(binding, dict.fromkeys(keys, size + 2))


def _swept(binding: Binding, sizes: Mapping[str, int]) -> Binding:
    """``binding`` with the dims of ``sizes`` at those sizes, said to come from the sweep."""
    values = {k: sizes.get(k, v) for k, v in binding.values.items()}
    values.update(_derived_values(binding.derived, values))  # they follow the swept dims
    origin = {k: ("sweep" if k in sizes else o) for k, o in binding.origin.items()}
    return Binding(values, origin, (), binding.groups, binding.user, binding.derived)


def joint_sweeps(
    sweeps: list[tuple[str, str, int, int, Binding]], binding: Binding
) -> list[tuple[tuple[int, ...], Binding]]:
    """Per base size that two or more swept groups share: those groups (indexes into
    ``sweeps``) all at their second size at once, and where there are three to
    :data:`JOINT_LEAVE_ONE_OUT_MAX`, each set of all but one of them too. Inputs may name one
    size apart (x's batch and h's, each its own ``DynamicDimension.N`` or ``unk__N``) where
    no recurrent node ties them: each group swept alone then fails on a broadcast, and all
    run when they move together. The sets that leave one out tell those apart from a group
    of the same base that runs alone (tf2onnx's time axis beside three batch names): moving
    it along would hide a model that runs only where batch <= seq."""
    by_base: dict[int, list[int]] = {}
    for index, (_, _, base, _, _) in enumerate(sweeps):
        by_base.setdefault(base, []).append(index)
    found = []
    for indexes in by_base.values():
        if len(indexes) < 2:
            continue
        sets = [tuple(indexes)]
        if len(indexes) <= JOINT_LEAVE_ONE_OUT_MAX:
            sets += [tuple(i for i in indexes if i != left) for left in indexes
                     if len(indexes) > 2]
        for members in sets:
            moved = {key: size for i in members for key, size in sweeps[i][4].values.items()
                     if size != binding.values.get(key)}
            found.append((members, _swept(binding, moved)))
    return found


# the most groups of one base whose leave-one-out sets are run too (a run each)
JOINT_LEAVE_ONE_OUT_MAX = 5


def resolve_shape(shape: Shape, binding: Binding) -> tuple[int, ...]:
    return tuple(_resolve(dim, binding) for dim in shape)


def _resolve(dim: Dim, binding: Binding) -> int:
    if isinstance(dim, int):
        return dim
    if isinstance(dim, str):
        return binding.values.get(dim, DEFAULT_OTHER)
    return DEFAULT_UNNAMED


def resolve_input_shape(name: str, shape: Shape, binding: Binding) -> tuple[int, ...]:
    """An input's shape with its symbols and its unnamed axes (``name:axis``) bound."""
    return tuple(binding.values.get(axis_key(name, axis), DEFAULT_UNNAMED) if dim is None
                 else _resolve(dim, binding) for axis, dim in enumerate(shape))


def _int_range(
    name: str, graph: ModelGraph, layers: tuple[RecurrentLayer, ...], binding: Binding
) -> tuple[int, int, str]:
    """[low, high) for an integer input, and the reason, from the nodes that read it."""
    for layer in layers:
        ref = layer.inputs.get("sequence_lens")
        if ref is not None and (ref.name == name or _values_reach(graph, name, ref.name)):
            seq = layer.seq_dim
            if seq is not None:
                high = _resolve(seq, binding)
                return min(1, high), high + 1, f"sequence_lens of {layer.label}, <= seq={high}"
    bounds: list[tuple[int, str]] = []
    for node in _index_readers(graph, name):
        data = graph.tensor(node.inputs[0], node.graph)
        axis = next((a.i for a in node.proto.attribute if a.name == "axis"), 0)
        if data is None or data.shape is None or not -len(data.shape) <= axis < len(data.shape):
            continue
        size = data.shape[axis]
        if isinstance(size, int) and size > 0:
            bounds.append((size, f"indices into {node.inputs[0]!r} (axis {axis} has {size})"))
    if bounds:
        size, why = min(bounds)
        return 0, size, why
    low, high = GENERIC_INT_RANGE
    return low, high, UNBOUNDED


# ops that pass an integer input's values on unchanged (some of them, or all, reshaped):
# between an input of token ids and the embedding Gather that reads them, a merge's Identity
# (text2tashkeel's ensemble) or a Gather picking the last token (a decoder's prefix)
_VALUE_KEEPING = frozenset({"Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten",
                            "Transpose", "Slice", "Gather", "Expand", "Tile"})


def _values_reach(graph: ModelGraph, name: str, target: str) -> bool:
    """Whether ``name``'s values reach ``target`` unchanged (some of them, reordered):
    through ops that keep them (:data:`_VALUE_KEEPING`) and TopK's values (torch writes a
    lengths input as Cast(lengths, int32) before sequence_lens, and sorts it with TopK for
    pack_padded_sequence(enforce_sorted=False))."""
    return any(tensor == target
               for tensor, _ in _holding_values(graph, name, _VALUE_KEEPING | {"TopK"}))


def _index_readers(graph: ModelGraph, name: str) -> Iterator[NodeInfo]:
    """Each Gather that reads ``name``'s values as its indices (input 1), directly or through
    ops that keep them (:data:`_VALUE_KEEPING`, ``name`` as their data, input 0)."""
    for tensor, readers in _holding_values(graph, name, _VALUE_KEEPING):
        for node in readers:
            if node.op_type == "Gather" and len(node.inputs) > 1 and node.inputs[1] == tensor:
                yield node


def _holding_values(
    graph: ModelGraph, name: str, through: frozenset[str]
) -> Iterator[tuple[str, list[NodeInfo]]]:
    """``name`` and each tensor an op of ``through`` makes of its values (``name`` or such a
    tensor its data, input 0), with the nodes that read it; at most 64 tensors."""
    frontier, seen = [name], {name}
    while frontier and len(seen) < 64:
        current = frontier.pop()
        readers = graph.consumers_of(current)
        yield current, readers
        for node in readers:
            made = node.outputs[0] if node.outputs else ""
            if node.op_type in through and node.inputs[:1] == (current,) and made \
                    and made not in seen:
                seen.add(made)
                frontier.append(made)


class GivenInputError(ValueError):
    """An input value the user gave that cannot be read or fed; ``str()`` is one line."""


def drawn_bytes(graph: ModelGraph, binding: Binding) -> int:
    """What the fed inputs take at ``binding``, counted before anything is drawn."""
    total = 0
    for name in fed_inputs(graph):
        info = graph.tensor(name)
        if info is None or info.shape is None:
            continue
        elements = 1
        for dim in resolve_input_shape(name, info.shape, binding):
            elements *= max(dim, 0)
        total += elements * _np_dtype(info.dtype).itemsize
    return total


def _one_value(declared: tuple[int | str | None, ...] | None) -> bool:
    """Whether an input is declared to hold one number: a scalar, or every axis fixed at 1
    (RVM's ``downsample_ratio float[1]``); a symbolic axis bound to 1 is data."""
    return declared is not None and all(dim == 1 for dim in declared)


def _np_dtype(dtype: int | None) -> np.dtype[Any]:
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(dtype or 1))
    except Exception:  # bfloat16, strings...: not something we can draw
        return np.dtype(np.float32)


def load_given(graph: ModelGraph, inputs: Mapping[str, str], inputs_file: str | None,
               ) -> dict[str, tuple[np.ndarray[Any, Any], str]]:
    """The arrays the user gave (``--inputs FILE.npz``, then ``--input NAME=VALUE`` over it),
    cast to each input's declared dtype, with where each came from."""
    fed = fed_inputs(graph)
    raw: dict[str, tuple[Any, str]] = {}
    if inputs_file:
        try:
            with np.load(inputs_file, allow_pickle=False) as data:
                raw.update({key: (data[key], "--inputs") for key in data.files})
        except (OSError, ValueError) as exc:
            raise GivenInputError(f"--inputs {inputs_file}: {exc}") from None
    for name, text in inputs.items():
        if text.lower().endswith(".npy"):
            try:
                raw[name] = (np.load(text, allow_pickle=False), "--input")
            except (OSError, ValueError) as exc:
                raise GivenInputError(f"--input {name}={text}: {exc}") from None
            continue
        try:
            raw[name] = (ast.literal_eval(text), "--input")
        except (ValueError, SyntaxError):
            raise GivenInputError(f"--input {name}={text}: not a number or a list of numbers "
                                  "(or give a .npy file)") from None
    unknown = sorted(set(raw) - set(fed))
    if unknown:
        raise GivenInputError(f"--input {unknown[0]}: the model has no such input "
                              f"(its inputs: {', '.join(fed) or 'none'})")
    given: dict[str, tuple[np.ndarray[Any, Any], str]] = {}
    for name, (value, origin) in raw.items():
        info = graph.tensor(name)
        try:
            array = np.asarray(value).astype(_np_dtype(info.dtype if info else None))
        except (TypeError, ValueError) as exc:
            raise GivenInputError(f"--input {name}: {exc}") from None
        rank = len(info.shape) if info is not None and info.shape is not None else None
        if rank is not None and array.ndim != rank and array.size == 1:
            array = array.reshape((1,) * rank)  # sr=16000 for an input declared [1]
        given[name] = (array, origin)
    return given


def _check_drawable(name: str, label: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
    if dtype.kind in "OSU":  # bfloat16, float8 (ml_dtypes) are fed as zeros; text is not
        raise InputsError(f"input {name!r} is a {label} tensor: random inputs are drawn only "
                          "for numbers and booleans", needs=(name,))
    if any(d < 0 for d in shape):  # never from a declaration (graph.py reads those as free)
        raise InputsError(f"input {name!r} would have a negative dimension {list(shape)}")
    elements = 1
    for dim in shape:
        elements *= dim
    if elements * dtype.itemsize > MAX_INPUT_BYTES:
        raise InputsError(f"input {name!r} would take {elements * dtype.itemsize:,} bytes "
                          f"({label}{list(shape)}; at most {MAX_INPUT_BYTES:,}): bind smaller "
                          "dims with --dim")


# the elements archlint draws for a sequence input (its length is archlint's choice)
SEQUENCE_LENGTH = 2


def sequence_element(graph: ModelGraph, name: str) -> tuple[int | None, Shape] | None:
    """(dtype, shape) of the tensors a main-graph input of sequence type holds (an optional
    sequence is fed as the sequence it holds); None for any other input."""
    held = _held_type(graph, name)
    if held is None or not held.HasField("sequence_type"):
        return None
    element = held.sequence_type.elem_type
    if not element.HasField("tensor_type"):
        return None
    dtype, shape = tensor_type(element)
    return dtype, shape or ()


def _declared_tensor(graph: ModelGraph, name: str) -> bool:
    """Whether an input is declared a tensor (or an optional one), or not declared at all."""
    held = _held_type(graph, name)
    return held is None or bool(held.HasField("tensor_type"))


def _held_type(graph: ModelGraph, name: str) -> onnx.TypeProto | None:
    """The declared type of main-graph input ``name``, an optional's element type in its
    place; None where it declares none."""
    entry = next((vi for vi in graph.main_inputs() if vi.name == name), None)
    if entry is None or not entry.HasField("type"):
        return None
    return entry.type.optional_type.elem_type if entry.type.HasField("optional_type") \
        else entry.type


def _sequence_feeds(
    name: str, element: tuple[int | None, Shape], binding: Binding, rng: np.random.Generator
) -> dict[str, np.ndarray[Any, Any]]:
    dtype, shape = element
    np_dtype = _np_dtype(dtype)
    dims = resolve_input_shape(name, shape, binding)
    _check_drawable(name, onnx.TensorProto.DataType.Name(dtype or 1).lower(), np_dtype, dims)
    feeds = {}
    for k in range(SEQUENCE_LENGTH):
        if np_dtype.kind == "f":
            value = rng.uniform(-1.0, 1.0, size=dims).astype(np_dtype)
        elif np_dtype.kind in "iu":
            value = rng.integers(0, 3, size=dims).astype(np_dtype)
        else:
            value = np.zeros(dims, dtype=np_dtype)
        feeds[f"{name}{SEQUENCE_KEY}{k}"] = value
    return feeds


def _sequence_spec(
    name: str, element: tuple[int | None, Shape], binding: Binding
) -> InputSpec:
    dtype, shape = element
    label = onnx.TensorProto.DataType.Name(dtype or 1).lower()
    return InputSpec(name, f"seq({label})", resolve_input_shape(name, shape, binding),
                     f"a sequence of {SEQUENCE_LENGTH} random tensors (its length is "
                     "archlint's choice)", None, None, "random", True)


def make_inputs(
    graph: ModelGraph,
    layers: tuple[RecurrentLayer, ...],
    binding: Binding,
    seed: int,
    given: Mapping[str, tuple[np.ndarray[Any, Any], str]] | None = None,
) -> tuple[dict[str, np.ndarray[Any, Any]], tuple[InputSpec, ...]]:
    """Feeds for every input the caller must give, and how each was drawn."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    specs: list[InputSpec] = []
    for name in fed_inputs(graph):
        info = graph.tensor(name)
        if info is None:
            continue  # fed_inputs only returns known tensors
        if given and name in given:
            array, origin = given[name]
            feeds[name] = array
            shown = f"value {array.tolist()}" if array.size <= 8 else f"from {origin}"
            numeric = array.size > 0 and array.dtype.kind in "fiub"
            specs.append(InputSpec(
                name, onnx.TensorProto.DataType.Name(info.dtype or 1).lower(),
                tuple(int(d) for d in array.shape), f"{shown} (given by {origin})",
                float(array.min()) if numeric else None,
                float(array.max()) if numeric else None, origin, False))
            continue
        element = sequence_element(graph, name)
        if element is not None:
            feeds.update(_sequence_feeds(name, element, binding, rng))
            specs.append(_sequence_spec(name, element, binding))
            continue
        if info.dtype is None and not _declared_tensor(graph, name):
            raise InputsError(f"input {name!r} is neither a tensor nor a sequence of tensors "
                              "(a map?): random inputs are drawn only for those")
        shape = resolve_input_shape(name, info.shape or (), binding)
        np_dtype = _np_dtype(info.dtype)
        dtype_label = onnx.TensorProto.DataType.Name(info.dtype or 1).lower()
        _check_drawable(name, dtype_label, np_dtype, shape)
        low: float | None = None
        high: float | None = None
        invented = False
        if np_dtype.kind == "f":
            value = rng.uniform(-1.0, 1.0, size=shape).astype(np_dtype)
            how, low, high = "uniform in [-1, 1)", -1.0, 1.0
            if _one_value(info.shape):  # a setting (a Range's limits, a threshold, a
                # Resize ratio declared [1]), not data
                how, invented = "uniform in [-1, 1) (a scalar: no value is known valid)", True
        elif np_dtype.kind in "iu":
            lo, hi, why = _int_range(name, graph, layers, binding)
            value = rng.integers(lo, max(hi, lo + 1), size=shape).astype(np_dtype)
            low, high = lo, hi - 1
            invented = why == UNBOUNDED
            how = f"ints in [{lo}, {hi - 1}] ({why})"
        elif np_dtype.kind == "b":
            value = rng.integers(0, 2, size=shape).astype(bool)
            how, low, high, invented = "random booleans (a condition: no value is known valid)", \
                0, 1, True
        else:
            value = np.zeros(shape, dtype=np_dtype)
            how = "zeros"
        feeds[name] = value
        specs.append(InputSpec(name, dtype_label, shape, how, low, high, "random", invented))
    return feeds, tuple(specs)
