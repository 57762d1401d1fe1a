"""Typed reads of the layout ops around recurrent nodes, and walks through them.

Rules about the graph *around* an LSTM/GRU/RNN (how Y is flattened, how a multi-layer state is
sliced, where a Reshape target comes from) need a node's attributes and constant inputs as
plain values. This module is the one place that reads them from the protobuf: every function
returns typed values, or ``None`` when the graph does not say ("cannot check"). It never raises
on a malformed model.

Walks:

* :func:`shape_vector` evaluates a 1-D shape tensor built by Shape / Gather / Slice / Concat /
  Unsqueeze / Squeeze / Cast / Mul / Constant into elements that are numbers or
  :class:`DimOf` ("axis k of tensor T"), so a rule can tell which axis a computed shape reads.
* :func:`flatten_paths` follows a tensor forward through Transpose / Identity to the first
  Reshape, composing the permutations on the way (and, for a state, through the Concat of a
  stack's states and a Slice of exactly its rows).
* :func:`state_origin` follows a state tensor back through Slice / Gather / Squeeze /
  Unsqueeze / Identity / Cast to its root, keeping the rows of axis 0 it selects; a
  Loop-carried value is followed to its initial value, an If output to the root both
  branches agree on.
* :func:`state_source` follows one axis of a state (batch) through the same ops plus
  unit-axis Reshapes and non-broadcasting Expands, to rank-2 (Keras) state inputs.
* :func:`picked_rows` lists the rows of one root that become rows 0, 1, ... of a state
  (Gather / Slice with any step / Concat of rows), so swapped direction rows show.
* :func:`layer_chain` finds, for each recurrent node, the recurrent node whose Y feeds its X
  (stacked layers), so a rule knows which layer index k each node is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from archlint.graph import ModelGraph, NodeInfo, TensorInfo
from archlint.onnx_protos import AttributeProto
from archlint.recurrent import RecurrentLayer
from archlint.shapes import Dim

__all__ = [
    "PAST_END",
    "DimOf",
    "FlattenPath",
    "PickedRows",
    "ShapeElem",
    "SliceSpec",
    "StateOrigin",
    "StateSource",
    "align_reshape",
    "attr_float",
    "attr_int",
    "attr_ints",
    "attr_str",
    "const_ints",
    "einsum_grouped_linear",
    "einsum_weight_transposed",
    "flatten_paths",
    "flips_whole",
    "gather_spec",
    "gemm_c",
    "if_branch_outputs",
    "integer_matmuls_rescaled_by",
    "is_model_input",
    "layer_chain",
    "layer_stacks",
    "loop_initial_value",
    "picked_rows",
    "reshape_target",
    "reversed_in_time",
    "shape_vector",
    "slice_spec",
    "squeeze_axes",
    "state_origin",
    "state_source",
    "transpose_perm",
    "unsqueeze_axes",
    "upstream_layer",
]

_MAX_DEPTH = 32  # walks stop here: graphs around recurrent nodes are shallow
# picked_rows lists at most this many rows: a state has num_directions rows (layers x D for a
# stacked one), and a window read from a declared dim can be any size (a corrupt 2**62)
_MAX_PICKED_ROWS = 4096
# a shape vector has one element per axis: a longer one is not a shape
_MAX_SHAPE_ELEMENTS = 4096
# Ops that change neither values nor layout: a walk passes straight through them.
_TRANSPARENT = frozenset({"Identity", "Cast"})


# --- attributes --------------------------------------------------------------------------------
def _attribute(node: NodeInfo, name: str) -> Any:
    for attr in node.proto.attribute:
        if attr.name == name:
            return attr
    return None


def attr_int(node: NodeInfo, name: str) -> int | None:
    """An INT attribute, or None when absent or of another type."""
    attr = _attribute(node, name)
    if attr is None or attr.type != AttributeProto.INT:
        return None
    return int(attr.i)


def attr_float(node: NodeInfo, name: str) -> float | None:
    """A FLOAT attribute, or None when absent or of another type."""
    attr = _attribute(node, name)
    if attr is None or attr.type != AttributeProto.FLOAT:
        return None
    return float(attr.f)


def gemm_c(node: NodeInfo) -> str:
    """The C input a Gemm adds to its product (``alpha·A'·B' + beta·C``), or "" when it has
    none or multiplies it by ``beta=0`` (jax2onnx writes every ``x @ W`` as a Gemm with a
    zero scalar C and beta 0: no bias)."""
    if node.op_type not in ("Gemm", "FusedGemm") or len(node.inputs) < 3 or not node.inputs[2]:
        return ""
    return "" if attr_float(node, "beta") == 0.0 else node.inputs[2]


_EINSUM_TERMS = re.compile(r"^([a-z.]*)([a-z]),([a-z])([a-z])->([a-z.]*)([a-z])$")


def einsum_weight_transposed(node: NodeInfo) -> bool | None:
    """For an Einsum that is ``x @ W`` over x's last axis (``abc,cd->abd``: jax2onnx's
    lowering of a Dense on a rank-3 input), whether W is stored ``[out, in]`` (``abc,dc->abd``);
    None for any other Einsum (attention scores, a contraction of two activations' axes)."""
    if node.op_type != "Einsum" or len(node.inputs) != 2:
        return None
    equation = attr_str(node, "equation")
    found = _EINSUM_TERMS.match("".join((equation or "").split()).lower())
    if found is None:
        return None
    batch, contracted, first, second, out_batch, made = found.groups()
    if batch != out_batch or contracted == made or contracted in batch or made in batch:
        return None
    if (first, second) == (contracted, made):
        return False
    if (first, second) == (made, contracted):
        return True
    return None


def einsum_grouped_linear(node: NodeInfo) -> bool:
    """Whether an Einsum of two operands is a grouped linear layer over the first's last
    axis: one index contracted (x's last), one index made (the second's, in no index of x),
    the second's other indices groups that x and the output keep, and the output x's indices
    with the contracted one replaced by the made one (DeepFilterNet's GroupedLinearEinsum,
    ``btgi,gih->btgh``; xLSTM's headwise projection ``...hd,hod->...ho``, W stored
    ``[groups, out, in]``; ``abc,cd->abd`` is its case of no groups). A leading ``...`` of x
    and the output is batch. Not a DFT basis contracted over two axes (``fi,fij->j``), nor
    attention scores (no index of the second kept by both)."""
    if node.op_type != "Einsum" or len(node.inputs) != 2:
        return False
    equation = "".join((attr_str(node, "equation") or "").split()).lower()
    if equation.count("->") != 1:
        return False
    left, out = equation.split("->")
    terms = left.split(",")
    if len(terms) != 2 or not all(terms) or not out:
        return False
    data, weight = terms
    if data.startswith("...") and out.startswith("..."):
        data, out = data[3:], out[3:]
    if "." in data + weight + out or not data or not out:
        return False
    # a weight of one group at most: [groups, in, out] or [in, out] (attention's keys over
    # batch and heads, ``bhqd,bhkd->bhqk``, have two)
    if any(len(set(t)) != len(t) for t in (data, weight, out)) or not 2 <= len(weight) <= 3:
        return False
    contracted = (set(data) & set(weight)) - set(out)
    made = set(weight) - set(data)
    if contracted != {data[-1]} or len(made) != 1:
        return False
    (index,) = made
    return out == data[:-1] + index and set(weight) <= set(data[:-1]) | contracted | made


def integer_matmuls_rescaled_by(graph: ModelGraph, mul: NodeInfo) -> Iterator[NodeInfo]:
    """The MatMulIntegers whose Cast ``mul`` reads: onnxruntime's quantize_dynamic writes
    ``x @ W`` as Mul(Cast(MatMulInteger(DynamicQuantizeLinear(x)[0], W_int8, ...)),
    x_scale · W_scale). Only the shape of the walk: what the product's operands are is the
    caller's to check."""
    for operand in mul.inputs:
        cast = graph.producer(operand, mul.graph) if operand else None
        if cast is None or cast.op_type != "Cast" or not cast.inputs:
            continue
        matmul = graph.producer(cast.inputs[0], mul.graph)
        if matmul is not None and matmul.op_type == "MatMulInteger":
            yield matmul


def attr_ints(node: NodeInfo, name: str) -> tuple[int, ...] | None:
    """An INTS attribute, or None when absent or of another type."""
    attr = _attribute(node, name)
    if attr is None or attr.type != AttributeProto.INTS:
        return None
    return tuple(int(v) for v in attr.ints)


def attr_str(node: NodeInfo, name: str) -> str | None:
    """A STRING attribute decoded as UTF-8, or None when absent or of another type."""
    attr = _attribute(node, name)
    if attr is None or attr.type != AttributeProto.STRING:
        return None
    return str(attr.s.decode("utf-8", "replace"))


# --- constant inputs ---------------------------------------------------------------------------
def const_ints(graph: ModelGraph, name: str, scope: str = "main") -> tuple[int, ...] | None:
    """A small integer constant (initializer or Constant output), flattened; else None."""
    if not name:
        return None
    info = graph.tensor(name, scope)
    found = None if info is None else info.int_value
    return None if found is None else found[0]


def _input(node: NodeInfo, position: int) -> str:
    return node.inputs[position] if position < len(node.inputs) else ""


def transpose_perm(node: NodeInfo, rank: int | None) -> tuple[int, ...] | None:
    """The permutation of a Transpose: its ``perm``, or reversed axes when absent."""
    if node.op_type != "Transpose":
        return None
    perm = attr_ints(node, "perm")
    if perm is None:
        return None if rank is None else tuple(reversed(range(rank)))
    if sorted(perm) != list(range(len(perm))):
        return None  # not a permutation: another rule's business
    return perm


def reshape_target(graph: ModelGraph, node: NodeInfo) -> tuple[int, ...] | None:
    """The constant target shape of a Reshape (or Expand / ConstantOfShape), else None."""
    position = 0 if node.op_type == "ConstantOfShape" else 1
    return const_ints(graph, _input(node, position), node.graph)


@dataclass(frozen=True)
class SliceSpec:
    """A Slice's constant starts, ends, axes and steps."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...]
    steps: tuple[int, ...]

    def on_axis(self, axis: int, rank: int | None = None) -> tuple[int, int, int] | None:
        """(start, end, step) on ``axis``; None when this slice leaves the axis alone."""
        for k, a in enumerate(self.axes):
            if a == axis or (rank is not None and a < 0 and a + rank == axis):
                return self.starts[k], self.ends[k], self.steps[k]
        return None


def slice_spec(graph: ModelGraph, node: NodeInfo) -> SliceSpec | None:
    """starts/ends/axes/steps of a Slice, from attributes (opset < 10) or constant inputs."""
    if node.op_type != "Slice":
        return None
    starts = attr_ints(node, "starts")
    ends: tuple[int, ...] | None
    axes: tuple[int, ...] | None
    if starts is not None:  # opset 1-9: attributes
        ends = attr_ints(node, "ends")
        axes = attr_ints(node, "axes") or tuple(range(len(starts)))
        steps: tuple[int, ...] | None = (1,) * len(starts)
    else:
        scope = node.graph
        starts = const_ints(graph, _input(node, 1), scope)
        ends = const_ints(graph, _input(node, 2), scope)
        axes = const_ints(graph, _input(node, 3), scope) if _input(node, 3) else None
        steps = const_ints(graph, _input(node, 4), scope) if _input(node, 4) else None
        if starts is not None:
            axes = axes if axes is not None else tuple(range(len(starts)))
            steps = steps if steps is not None else (1,) * len(starts)
    if starts is None or ends is None or axes is None or steps is None:
        return None
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return None
    return SliceSpec(starts, ends, axes, steps)


def reversed_in_time(graph: ModelGraph, layer: RecurrentLayer) -> NodeInfo | None:
    """The node that reverses a forward layer's X along time (a Slice with step -1 over the
    whole axis, a ReverseSequence, or TensorFlow's ReverseV2 left unconverted), where the
    layer reads it directly: a forward node run backward over the input, the backward half
    of a bidirectional layer built from two forward nodes (MindSpore's
    ``nn.LSTM(bidirectional=True)``, madmom's BiLSTMs)."""
    if layer.cell is not None or layer.direction != "forward":
        return None
    ref = layer.inputs.get("X")
    node = graph.producer(ref.name, layer.node.graph) if ref is not None else None
    time_axis = 1 if layer.layout == 1 else 0
    for _ in range(4):  # past views that keep time the first axis (madmom adds the batch)
        if node is None or time_axis != 0 or node.op_type not in _FIRST_AXIS_VIEWS \
                or not node.inputs or 0 in _view_axes(graph, node):
            break
        node = graph.producer(node.inputs[0], node.graph)
    if node is None:
        return None
    if node.op_type == "ReverseSequence":
        return node if (attr_int(node, "time_axis") or 0) == time_axis else None
    if node.op_type == "ReverseV2" and len(node.inputs) > 1:
        # TensorFlow's reverse, left unconverted by tf2onnx 1.9 at opset 9 (no such ONNX op:
        # AL005), its axes an input
        axes = const_ints(graph, node.inputs[1], node.graph)
        return node if axes is not None and list(axes) == [time_axis] else None
    spec = slice_spec(graph, node)
    return node if spec is not None and flips_whole(graph, node, spec, time_axis) else None


# a Slice bound that stands for "past the end": onnx clamps it to the axis
PAST_END = 2**31 - 1


def flips_whole(graph: ModelGraph, node: NodeInfo, spec: SliceSpec, axis: int | None) -> bool:
    """Whether the Slice ``node`` takes every element of ``axis`` from the last to the first
    and leaves its other axes alone: starts -1 (or past the end), ends before the first
    element (below -n, or below -2**31 when n is not known), steps -1."""
    if axis is None or len(spec.axes) != 1:
        return False
    info = graph.tensor(node.inputs[0], node.graph) if node.inputs else None
    rank = None if info is None or info.shape is None else len(info.shape)
    found = spec.on_axis(axis, rank)
    if found is None:
        return False
    start, end, step = found
    dim = info.shape[axis] if info is not None and info.shape is not None \
        and axis < len(info.shape) else None
    first = -(dim + 1) if isinstance(dim, int) else -PAST_END
    return step == -1 and (start == -1 or start >= PAST_END
                           or (isinstance(dim, int) and start >= dim - 1)) and end <= first


_FIRST_AXIS_VIEWS = frozenset({"Identity", "Cast", "Unsqueeze", "Squeeze"})


def _view_axes(graph: ModelGraph, node: NodeInfo) -> tuple[int, ...]:
    """The axes an Unsqueeze or Squeeze names (attribute or constant input); (0,) where they
    are not known, so that the caller stops; () for Identity and Cast."""
    if node.op_type in ("Identity", "Cast"):
        return ()
    axes = attr_ints(node, "axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = const_ints(graph, node.inputs[1], node.graph)
    return (0,) if axes is None else axes


def gather_spec(graph: ModelGraph, node: NodeInfo) -> tuple[int, tuple[int, ...], bool] | None:
    """(axis, indices, scalar_index) of a Gather with constant indices, else None."""
    if node.op_type != "Gather":
        return None
    info = graph.tensor(_input(node, 1), node.graph)
    found = None if info is None else info.int_value
    if found is None:
        return None
    axis = attr_int(node, "axis") or 0
    return axis, found[0], found[1] == ()


def squeeze_axes(graph: ModelGraph, node: NodeInfo) -> tuple[int, ...] | None:
    """Axes of a Squeeze (attribute before opset 13, input after); None when not constant."""
    axes = attr_ints(node, "axes")
    return axes if axes is not None else const_ints(graph, _input(node, 1), node.graph)


unsqueeze_axes = squeeze_axes  # same two spellings across opsets


# --- symbolic shape vectors --------------------------------------------------------------------
@dataclass(frozen=True)
class DimOf:
    """An element of a computed shape: "axis ``axis`` of tensor ``tensor``" (value ``dim``)."""

    tensor: str
    axis: int
    dim: Dim


ShapeElem = int | DimOf | None  # None: unknown element


def shape_vector(graph: ModelGraph, name: str, scope: str = "main") -> tuple[ShapeElem, ...] | None:
    """Evaluate a 1-D int tensor that holds a shape; None when its length is not known."""
    return _ShapeWalk(graph).vector(name, scope, 0)


class _ShapeWalk:
    """One evaluation: each (tensor, depth) is evaluated once, so a graph that reads one
    tensor twice at every step (``Mul(v, v)``, ``Concat(v, v)``: 2**depth paths) costs a step
    per node, and a vector longer than _MAX_SHAPE_ELEMENTS is not a shape."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.memo: dict[tuple[str, str, int], tuple[ShapeElem, ...] | None] = {}

    def vector(self, name: str, scope: str, depth: int) -> tuple[ShapeElem, ...] | None:
        key = (scope, name, depth)
        if key not in self.memo:
            found = self._evaluate(name, scope, depth)
            self.memo[key] = None if found is not None and len(found) > _MAX_SHAPE_ELEMENTS \
                else found
        return self.memo[key]

    def _evaluate(self, name: str, scope: str, depth: int) -> tuple[ShapeElem, ...] | None:
        if depth > _MAX_DEPTH or not name:
            return None
        graph = self.graph
        constant = const_ints(graph, name, scope)
        if constant is not None:
            return constant
        node = graph.producer(name, scope)
        if node is None:
            return None
        recurse = depth + 1
        op = node.op_type
        if op in _TRANSPARENT or op in ("Unsqueeze", "Squeeze", "Reshape"):
            return self.vector(_input(node, 0), node.graph, recurse)
        if op == "Shape":
            return _shape_of(graph, node)
        if op == "Concat":
            parts: list[ShapeElem] = []
            for part in node.inputs:
                elems = self.vector(part, node.graph, recurse)
                if elems is None or len(parts) + len(elems) > _MAX_SHAPE_ELEMENTS:
                    return None
                parts.extend(elems)
            return tuple(parts)
        if op == "Gather":
            return self._gather(node, recurse)
        if op == "Slice":
            return self._slice(node, recurse)
        if op == "Mul":
            return self._mul(node, recurse)
        return None

    def _gather(self, node: NodeInfo, depth: int) -> tuple[ShapeElem, ...] | None:
        spec = gather_spec(self.graph, node)
        data = self.vector(_input(node, 0), node.graph, depth)
        if spec is None or data is None or spec[0] != 0:
            return None
        picked: list[ShapeElem] = []
        for index in spec[1]:
            if not -len(data) <= index < len(data):
                return None
            picked.append(data[index])
        return tuple(picked)

    def _slice(self, node: NodeInfo, depth: int) -> tuple[ShapeElem, ...] | None:
        spec = slice_spec(self.graph, node)
        data = self.vector(_input(node, 0), node.graph, depth)
        if spec is None or data is None:
            return None
        window = spec.on_axis(0, 1)
        if window is None:
            return data
        start, end, step = window
        if step == 0:
            return None
        return data[slice(start, end, step)]

    def _mul(self, node: NodeInfo, depth: int) -> tuple[ShapeElem, ...] | None:
        left = self.vector(_input(node, 0), node.graph, depth)
        right = self.vector(_input(node, 1), node.graph, depth)
        if left is None or right is None or len(left) != len(right):
            return None
        return tuple(_times(a, b) for a, b in zip(left, right, strict=True))


def _shape_of(graph: ModelGraph, node: NodeInfo) -> tuple[ShapeElem, ...] | None:
    source = _input(node, 0)
    info = graph.tensor(source, node.graph)
    if info is None or info.shape is None:
        return None
    rank = len(info.shape)
    start = attr_int(node, "start") or 0
    end = attr_int(node, "end")
    axes = range(rank)[slice(start, end)]
    return tuple(DimOf(source, a, info.shape[a]) for a in axes)


def _times(a: ShapeElem, b: ShapeElem) -> ShapeElem:
    values = [x.dim if isinstance(x, DimOf) else x for x in (a, b)]
    if all(isinstance(v, int) for v in values):
        product = int(values[0]) * int(values[1])  # type: ignore[arg-type]
        # no dim is that large; a product past it is no size (and squaring it again and again
        # would grow without end)
        return product if abs(product) < 1 << 63 else None
    return None


# --- Reshape alignment -------------------------------------------------------------------------
def align_reshape(
    in_shape: Sequence[Dim], target: Sequence[int], allowzero: bool = False
) -> dict[int, tuple[int, ...]]:
    """Which input axes each output axis of a Reshape takes, where that is provable.

    Walks from the left and from the right: a 0 copies the input axis (unless ``allowzero``),
    a number takes the run of known input dims whose product it is; whatever is left in the
    middle maps one to one when the counts agree (the -1 then takes exactly one axis).
    Output axes that cannot be aligned are absent from the result.
    """
    groups: dict[int, tuple[int, ...]] = {}
    n_in, n_out = len(in_shape), len(target)
    i, j = 0, 0
    while i < n_in and j < n_out:
        run = _take(in_shape, target[j], i, 1, allowzero, copy_ok=True)
        if run is None:
            break
        groups[j] = run
        i, j = max(run) + 1, j + 1
    ri, rj = n_in - 1, n_out - 1
    while ri >= i and rj >= j:
        run = _take(in_shape, target[rj], ri, -1, allowzero, copy_ok=ri == rj)
        if run is None:
            break
        groups[rj] = run
        ri, rj = min(run) - 1, rj - 1
    if rj == j and target[j] == -1 and ri >= i:
        groups[j] = tuple(range(i, ri + 1))  # a lone -1 takes every axis left
    elif rj - j == ri - i and rj >= j:
        for offset in range(rj - j + 1):
            if target[j + offset] != 0 or allowzero:
                groups[j + offset] = (i + offset,)
    elif rj >= j and 0 not in target[j:rj + 1]:
        # known size-1 input axes hold nothing (a one-direction Y's D axis): without them the
        # counts may agree, and the axes left map one to one ([seq, batch, 1, 5] -> [5, -1, 5])
        kept = [k for k in range(i, ri + 1) if in_shape[k] != 1]
        if len(kept) == rj - j + 1:
            for offset, k in enumerate(kept):
                groups[j + offset] = (k,)
    return groups


def _take(
    in_shape: Sequence[Dim], wanted: int, start: int, step: int, allowzero: bool, copy_ok: bool
) -> tuple[int, ...] | None:
    if wanted == 0 and not allowzero:
        return (start,) if copy_ok else None
    if wanted <= 0:
        return None
    product, axes, k = 1, [], start
    while 0 <= k < len(in_shape):
        dim = in_shape[k]
        if not isinstance(dim, int) or dim <= 0:
            return None
        product *= dim
        axes.append(k)
        if product == wanted:
            # size-1 axes next to the run are ambiguous: leave them to the other side
            return tuple(sorted(axes))
        if product > wanted:
            return None
        k += step
    return None


# --- forward: Y through Transpose to a Reshape ---------------------------------------------------
@dataclass(frozen=True)
class FlattenPath:
    """A Reshape reached from a tensor through Transpose / Identity nodes only.

    ``order`` lists, for each axis of the Reshape's input, the axis of the starting tensor it
    holds; ``transposes`` are the Transpose nodes on the way (last one nearest the Reshape).
    """

    reshape: NodeInfo
    order: tuple[int, ...]
    transposes: tuple[NodeInfo, ...]
    before_last: tuple[int, ...]  # ``order`` at the input of the last Transpose


def flatten_paths(
    graph: ModelGraph, name: str, rank: int, scope: str = "main", rows_axis: int | None = None
) -> Iterator[FlattenPath]:
    """Every Reshape that ``name`` reaches through Transpose / Identity / Cast only; and, when
    ``rows_axis`` is given, through a Concat on that axis and a Slice that takes exactly the
    rows ``name`` put there back out (PyTorch's ``h_n`` of a stack is the Concat of every
    layer's Y_h, and ``h_n[-2:]`` the last layer's: the same [D, batch, H] as its Y_h)."""
    start = tuple(range(rank))
    stack: list[tuple[str, str, tuple[int, ...], tuple[NodeInfo, ...], tuple[int, ...],
                      tuple[int, int] | None]] = [(name, scope, start, (), start, None)]
    seen: set[tuple[str, str]] = set()
    while stack:
        tensor, where, order, transposes, before, rows = stack.pop()
        if (where, tensor) in seen or len(seen) > 4 * _MAX_DEPTH:
            continue
        seen.add((where, tensor))
        for consumer in graph.consumers_of(tensor, where):
            if rows_axis is not None and consumer.outputs and consumer.op_type in (
                    "Concat", "Slice"):
                block = _rows_after(graph, consumer, tensor, order.index(rows_axis), rows)
                if block is not None:
                    stack.append((consumer.outputs[0], consumer.graph, order, transposes,
                                  before, None if block[0] == 0 and _rows_are(
                                      graph, consumer.outputs[0], consumer.graph,
                                      order.index(rows_axis), block[1]) else block))
                continue
            if rows is not None:
                continue  # other rows around ours: a Reshape would fold them in too
            if not consumer.inputs or consumer.inputs[0] != tensor or not consumer.outputs:
                continue
            if consumer.op_type == "Reshape":
                yield FlattenPath(consumer, order, transposes, before)
            elif consumer.op_type in _TRANSPARENT:
                stack.append((consumer.outputs[0], consumer.graph, order, transposes, before,
                              None))
            elif consumer.op_type == "Transpose":
                perm = transpose_perm(consumer, len(order))
                if perm is None or len(perm) != len(order):
                    continue
                stack.append((consumer.outputs[0], consumer.graph,
                              tuple(order[p] for p in perm), (*transposes, consumer), order,
                              None))


def _rows_after(
    graph: ModelGraph, node: NodeInfo, tensor: str, axis: int, rows: tuple[int, int] | None
) -> tuple[int, int] | None:
    """Where the rows of ``tensor`` (``rows``: (offset, count) on ``axis``; all of it when
    None) are in the output of ``node``, a Concat on ``axis`` or a Slice of exactly them;
    None when they are not kept whole and alone, or when a size it takes is not known."""
    if rows is None:
        count = _axis_size(graph, tensor, node.graph, axis)
        if count is None:
            return None
        rows = (0, count)
    offset, count = rows
    if node.op_type == "Concat":
        rank = _rank(graph, tensor, node.graph)
        concat_axis = attr_int(node, "axis")
        if rank is None or concat_axis is None or concat_axis % rank != axis \
                or node.inputs.count(tensor) != 1:
            return None
        before = 0
        for other in node.inputs[:node.inputs.index(tensor)]:
            size = _axis_size(graph, other, node.graph, axis)
            if size is None:
                return None
            before += size
        return before + offset, count
    spec = slice_spec(graph, node) if node.inputs and node.inputs[0] == tensor else None
    total = _axis_size(graph, tensor, node.graph, axis)
    rank = _rank(graph, tensor, node.graph)
    if spec is None or total is None or rank is None or len(spec.axes) != 1:
        return None
    window = spec.on_axis(axis, rank)
    if window is None or window[2] != 1:
        return None
    start, end = (max(0, min(total, v + total if v < 0 else v)) for v in window[:2])
    return (0, count) if (start, end) == (offset, offset + count) else None


def _axis_size(graph: ModelGraph, name: str, scope: str, axis: int) -> int | None:
    info = graph.tensor(name, scope) if name else None
    if info is None or info.shape is None or not 0 <= axis < len(info.shape):
        return None
    size = info.shape[axis]
    return size if isinstance(size, int) else None


def _rows_are(graph: ModelGraph, name: str, scope: str, axis: int, count: int) -> bool:
    """Whether ``name`` holds ``count`` rows on ``axis``: nothing else around them."""
    return _axis_size(graph, name, scope, axis) == count


# --- backward: where a state comes from --------------------------------------------------------
@dataclass(frozen=True)
class StateOrigin:
    """The root of a state tensor and the rows of the root's axis 0 that reach the state.

    ``root`` is the first tensor that is not a Slice / Gather / Squeeze / Unsqueeze / Identity /
    Cast of another one (a graph input, an initializer, a recurrent output, a ConstantOfShape...);
    ``rows`` is ``(start, stop)`` on the root's axis 0, or None when not provable.
    """

    root: str
    producer: NodeInfo | None
    rows: tuple[int, int] | None
    through: tuple[NodeInfo, ...]


def state_origin(graph: ModelGraph, name: str, scope: str = "main") -> StateOrigin:
    """Follow a state back to its root, composing the axis-0 row window on the way.

    A Loop-carried value is followed to its initial value (the Loop's input), and an If
    output to the root both branches agree on; a disagreement stops the walk at the If.
    Walked once per tensor and graph: several rules ask for every layer's states, and a
    state made by nested Ifs walks every branch.
    """
    return _origin(graph, name, scope, 0)


def _origin(graph: ModelGraph, name: str, scope: str, ifs: int) -> StateOrigin:
    """:func:`state_origin` from inside ``ifs`` If branches (at most _MAX_DEPTH: a chain of
    hundreds of Ifs would exhaust Python's recursion), remembered per graph."""
    memo = graph.memo("state_origin")
    found: StateOrigin | None = memo.get((scope, name, ifs))
    if found is None:
        found = memo[(scope, name, ifs)] = _state_origin(graph, name, scope, ifs)
    return found


def _state_origin(graph: ModelGraph, name: str, scope: str, ifs: int) -> StateOrigin:
    through: list[NodeInfo] = []
    # Each step maps the rows of its output to rows of its input; compose root-ward.
    windows: list[object] = []
    tensor, where = name, scope
    for _ in range(_MAX_DEPTH):
        node = graph.producer(tensor, where)
        if node is None:
            carried = loop_initial_value(graph, tensor, where)
            if carried is None:
                break
            tensor, where = carried
            continue
        if node.op_type == "If":
            joined = None if ifs >= _MAX_DEPTH else _joined_origin(graph, node, tensor, ifs)
            if joined is None:
                break
            base = None if joined.rows is None else joined.rows
            rows = None if base is None else _compose(windows, graph, joined.root, where, base)
            return StateOrigin(joined.root, joined.producer, rows,
                               (*through, node, *joined.through))
        window = _row_window(graph, node)
        if window is _STOP:
            break
        through.append(node)
        windows.append(window)
        tensor, where = _input(node, 0), node.graph
    return StateOrigin(tensor, graph.producer(tensor, where), _compose(windows, graph, tensor,
                                                                        where), tuple(through))


def _joined_origin(
    graph: ModelGraph, node: NodeInfo, output: str, ifs: int
) -> StateOrigin | None:
    """The origin of an If output when both branches give the same root (and rows)."""
    branches = if_branch_outputs(graph, node, output)
    if branches is None:
        return None
    origins = [_origin(graph, name, path, ifs + 1) for path, name in branches]
    roots = {(o.root, o.producer.id if o.producer is not None else None) for o in origins}
    if len(roots) != 1:
        return None
    rows = {o.rows for o in origins}
    first = origins[0]
    return StateOrigin(first.root, first.producer, first.rows if len(rows) == 1 else None,
                       first.through)


# --- control flow: Loop-carried values and If branches -------------------------------------------
def _body_owner(graph: ModelGraph, body: str, name: str) -> NodeInfo | None:
    """The Loop / If / Scan node that owns scope ``body``, found from a reader of ``name``."""
    for reader in graph.consumers_of(name, body):
        if reader.graph == body and reader.parent is not None:
            return graph.node(reader.parent)
    return None


def loop_initial_value(graph: ModelGraph, name: str, scope: str) -> tuple[str, str] | None:
    """(tensor, scope) of the initial value of a Loop-carried body input; else None.

    A Loop body's inputs are (iteration, condition, carried...), and the Loop's inputs are
    (M, condition, initial values...): carried input k starts as the Loop's input k."""
    info = graph.tensor(name, scope)
    if info is None or not info.is_graph_input or info.graph == "main":
        return None
    body = info.graph
    inputs = graph.graph_inputs.get(body, ())
    k = inputs.index(name) if name in inputs else -1
    owner = _body_owner(graph, body, name) if k >= 2 else None
    if owner is None or owner.op_type != "Loop" or k >= len(owner.inputs) \
            or not owner.inputs[k]:
        return None
    return owner.inputs[k], owner.graph


def if_branch_outputs(
    graph: ModelGraph, node: NodeInfo, output: str
) -> list[tuple[str, str]] | None:
    """(branch scope, tensor) that each branch of an If returns as ``output``; else None."""
    if node.op_type != "If" or output not in node.outputs:
        return None
    k = node.outputs.index(output)
    found: list[tuple[str, str]] = []
    scopes = graph.graph_outputs
    for attr in ("then_branch", "else_branch"):
        path = graph.subgraph_of(node, attr)
        outputs = None if path is None else scopes.get(path)
        if path is None or outputs is None or k >= len(outputs):
            return None
        found.append((path, outputs[k]))
    return found


_STOP = object()
_KEEP = object()


@dataclass(frozen=True)
class _Window:
    """Rows picked on axis 0 by one Slice (start, end) or Gather (start, start + count)."""

    start: int
    end: int
    gather: bool


def _row_window(graph: ModelGraph, node: NodeInfo) -> object:
    """For a node on the path: its axis-0 _Window, _KEEP, None (unknown) or _STOP."""
    op = node.op_type
    if op in _TRANSPARENT:
        return _KEEP
    if op == "Slice":
        spec = slice_spec(graph, node)
        if spec is None:
            return None
        window = spec.on_axis(0)
        if window is None:
            return _KEEP
        start, end, step = window
        return _Window(start, end, gather=False) if step == 1 else None
    if op == "Gather":
        gather = gather_spec(graph, node)
        if gather is None or gather[0] != 0 or not gather[1]:
            return None
        indices = gather[1]
        if list(indices) != list(range(indices[0], indices[0] + len(indices))):
            return None  # picks rows out of order: not one window
        if indices[0] < 0 <= indices[-1]:
            return None  # wraps around the end
        return _Window(indices[0], indices[0] + len(indices), gather=True)
    if op in ("Unsqueeze", "Squeeze"):
        axes = squeeze_axes(graph, node)
        # Axes after 0 leave the rows alone; a leading size-1 axis added back after a scalar
        # Gather (or dropped) keeps the row window the Gather chose.
        return _KEEP if axes is not None and (0 not in axes or tuple(axes) == (0,)) else None
    return _STOP


def _compose(
    windows: list[object], graph: ModelGraph, root: str, scope: str,
    base: tuple[int, int] | None = None,
) -> tuple[int, int] | None:
    """Apply the windows from the root outward; negative bounds count from the end (ONNX).

    ``base`` is the window the walk started from on the root (an If branch's rows)."""
    hi: int | None
    if base is not None:
        lo, hi = base
    else:
        info = graph.tensor(root, scope)
        size = info.shape[0] if info is not None and info.shape else None
        lo, hi = 0, size if isinstance(size, int) else None
    for window in reversed(windows):  # windows[0] is nearest the state
        if window is _KEEP:
            continue
        if not isinstance(window, _Window):
            return None
        length = None if hi is None else hi - lo
        start, end = window.start, window.end
        if length is None:
            if start < 0 or end < 0:
                return None
            lo, hi = lo + start, None if end > 2**31 else lo + end
            continue
        if window.gather:
            start = start + length if start < 0 else start
            end = start + (window.end - window.start)
            if not 0 <= start < end <= length:
                return None  # out of range: onnxruntime rejects it, not ours to report
        else:
            start = min(max(start + length if start < 0 else start, 0), length)
            end = min(max(end + length if end < 0 else end, 0), length)
        lo, hi = lo + start, lo + max(end, start)
    return None if hi is None else (lo, hi)


# --- stacked layers ----------------------------------------------------------------------------
_LAYOUT_OPS = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Cast"})


def upstream_layer(
    graph: ModelGraph, layer: RecurrentLayer, by_node: dict[str, RecurrentLayer]
) -> RecurrentLayer | None:
    """The recurrent layer whose Y reaches this layer's X through layout ops only."""
    x = layer.tensor("X")
    if x is None:
        return None
    tensor, scope = x.name, layer.node.graph
    for _ in range(_MAX_DEPTH):
        node = graph.producer(tensor, scope)
        if node is None:
            return None
        if node.id in by_node:
            upstream = by_node[node.id]
            y = upstream.tensor("Y")
            return upstream if y is not None and y.name == tensor else None
        if node.op_type not in _LAYOUT_OPS:
            return None
        tensor, scope = _input(node, 0), node.graph
    return None


def layer_chain(graph: ModelGraph, layers: Sequence[RecurrentLayer]) -> dict[str, int]:
    """Layer index k of each recurrent node (by node id): 0 unless fed by another layer's Y."""
    return {node_id: k for node_id, (k, _) in layer_stacks(graph, layers).items()}


def layer_stacks(
    graph: ModelGraph, layers: Sequence[RecurrentLayer]
) -> dict[str, tuple[int, str]]:
    """(k, root) per layer: its index in its stack (:func:`layer_chain`) and the first layer
    (node id) of that stack, in one walk. Each layer's upstream is looked up once and every
    chain walked once, so a stack of thousands of layers stays linear. A cycle counts from
    where it closes."""
    by_node = {layer.node.id: layer for layer in layers}
    parent: dict[str, str | None] = {}
    for layer in layers:
        up = upstream_layer(graph, layer, by_node)
        parent[layer.node.id] = None if up is None else up.node.id
    done: dict[str, tuple[int, str]] = {}
    for layer in layers:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = layer.node.id
        while current is not None and current not in done and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = parent[current]
        if current is not None and current in done:
            k, root = done[current]
        else:  # reached a first layer (or closed a cycle): the last one walked is the root
            k, root = -1, path[-1]
        for node_id in reversed(path):
            k += 1
            done[node_id] = (k, root)
    return done


# --- backward, one axis: where a state's batch axis comes from ---------------------------------
@dataclass(frozen=True)
class StateSource:
    """The root of a state tensor, and which axis of the root holds the state's ``axis``.

    Unlike :func:`state_origin` (rows of axis 0), this walk follows one axis, usually batch,
    through the ops exporters put between a model input and a state: Slice / Gather of rows,
    Squeeze / Unsqueeze (tf2onnx unsqueezes Keras' ``[batch, H]`` states), a Reshape that only
    adds or drops unit axes, an Expand that does not broadcast that axis, a Transpose (tf2onnx
    transposes Keras' batch-first X) and a Concat along another axis. ``axis`` is None
    when the walk reached the root but could not prove which of its axes it is.
    """

    root: str
    producer: NodeInfo | None
    axis: int | None
    through: tuple[NodeInfo, ...]


def is_model_input(info: TensorInfo | None) -> bool:
    """A tensor the caller of the model feeds: a main-graph input that is not an initializer.

    Inputs of Loop / If / Scan bodies are carried or scanned values, not model inputs.
    """
    return info is not None and info.graph == "main" and info.is_graph_input \
        and not info.is_initializer


def state_source(graph: ModelGraph, name: str, scope: str, axis: int) -> StateSource:
    """Follow ``axis`` of a state back to its root (see :class:`StateSource`); once per
    tensor, axis and graph, as :func:`state_origin`."""
    return _source(graph, name, scope, axis, 0)


def _source(graph: ModelGraph, name: str, scope: str, axis: int, ifs: int) -> StateSource:
    memo = graph.memo("state_source")
    found: StateSource | None = memo.get((scope, name, axis, ifs))
    if found is None:
        found = memo[(scope, name, axis, ifs)] = _state_source(graph, name, scope, axis, ifs)
    return found


def _state_source(
    graph: ModelGraph, name: str, scope: str, axis: int, ifs: int
) -> StateSource:
    through: list[NodeInfo] = []
    tensor, where = name, scope
    tracked: int | None = axis
    for _ in range(_MAX_DEPTH):
        node = graph.producer(tensor, where)
        if node is None:
            carried = loop_initial_value(graph, tensor, where)
            if carried is None:
                break
            tensor, where = carried
            continue
        if node.op_type == "If" and tracked is not None:
            joined = None if ifs >= _MAX_DEPTH \
                else _joined_source(graph, node, tensor, tracked, ifs)
            if joined is not None:
                return StateSource(joined.root, joined.producer, joined.axis,
                                   (*through, node, *joined.through))
            break
        if not node.inputs:
            break
        step = _axis_step(graph, node, tracked) if tracked is not None else _UNTRACKED.get(
            node.op_type, _STOP)
        if step is _STOP:
            break
        through.append(node)
        tracked = step if isinstance(step, int) else None
        tensor, where = node.inputs[0], node.graph
    return StateSource(tensor, graph.producer(tensor, where), tracked, tuple(through))


def _joined_source(
    graph: ModelGraph, node: NodeInfo, output: str, axis: int, ifs: int
) -> StateSource | None:
    branches = if_branch_outputs(graph, node, output)
    if branches is None:
        return None
    sources = [_source(graph, name, path, axis, ifs + 1) for path, name in branches]
    keys = {(s.root, s.producer.id if s.producer is not None else None, s.axis) for s in sources}
    return sources[0] if len(keys) == 1 else None


# Ops a walk may still pass once the axis is lost (it only needs the root then).
_UNTRACKED: dict[str, object] = {op: None for op in (
    "Identity", "Cast", "Slice", "Gather", "Squeeze", "Unsqueeze", "Reshape")}


def _rank(graph: ModelGraph, name: str, scope: str) -> int | None:
    info = graph.tensor(name, scope)
    return None if info is None or info.shape is None else len(info.shape)


def _axis_step(graph: ModelGraph, node: NodeInfo, axis: int) -> object:
    """The input axis of ``node`` that its output ``axis`` reads; None: unknown; _STOP."""
    op = node.op_type
    if op in _TRANSPARENT or op == "Slice":
        return axis
    if op == "Gather":
        spec = gather_spec(graph, node)
        if spec is None:
            return None
        gather_axis, _, scalar = spec
        rank = _rank(graph, node.inputs[0], node.graph)
        if gather_axis < 0:
            if rank is None:
                return None
            gather_axis += rank
        if gather_axis == axis and not scalar:
            return _STOP  # the axis itself is picked from: rows of another tensor
        return axis + 1 if scalar and axis >= gather_axis else axis
    if op in ("Squeeze", "Unsqueeze"):
        return _squeeze_step(graph, node, axis)
    if op == "Reshape":
        return _reshape_step(graph, node, axis)
    if op == "Expand":
        return _expand_step(graph, node, axis)
    if op == "Transpose":
        perm = transpose_perm(node, _rank(graph, node.inputs[0], node.graph))
        return None if perm is None or axis >= len(perm) else perm[axis]
    if op == "Concat":
        # joined along another axis, every input has this axis's size: follow the first
        concat_axis = attr_int(node, "axis")
        rank = _rank(graph, node.inputs[0], node.graph)
        if concat_axis is None or rank is None:
            return None
        return _STOP if concat_axis % rank == axis else axis
    return _STOP


def _squeeze_step(graph: ModelGraph, node: NodeInfo, axis: int) -> object:
    axes = squeeze_axes(graph, node)
    in_rank = _rank(graph, node.inputs[0], node.graph)
    out_rank = _rank(graph, node.outputs[0], node.graph) if node.outputs else None
    if axes is None:
        return None
    if node.op_type == "Unsqueeze":
        if out_rank is None:
            return None
        normal = sorted(a + out_rank if a < 0 else a for a in axes)
        if axis in normal:
            return _STOP  # the state's axis is a unit axis made here
        return axis - sum(1 for a in normal if a < axis)
    if in_rank is None:
        return None
    position = axis
    for removed in sorted(a + in_rank if a < 0 else a for a in axes):
        if removed <= position:
            position += 1
    return position


def _reshape_step(graph: ModelGraph, node: NodeInfo, axis: int) -> object:
    """A Reshape that only inserts or drops size-1 axes maps its other axes in order."""
    source = graph.tensor(node.inputs[0], node.graph)
    out = graph.tensor(node.outputs[0], node.graph) if node.outputs else None
    target = reshape_target(graph, node)
    if source is None or source.shape is None:
        return None
    in_shape = source.shape
    if out is not None and out.shape is not None:
        out_shape: tuple[Dim, ...] = out.shape
    elif target is not None:
        out_shape = tuple(in_shape[k] if v == 0 and k < len(in_shape) else (None if v < 0 else v)
                          for k, v in enumerate(target))
    else:
        return None
    kept_in = [k for k, d in enumerate(in_shape) if d != 1]
    kept_out = [k for k, d in enumerate(out_shape) if d != 1]
    if len(kept_in) != len(kept_out):
        return None
    for i, o in zip(kept_in, kept_out, strict=True):
        a, b = in_shape[i], out_shape[o]
        if isinstance(a, int) and isinstance(b, int) and a != b:
            return None  # merges or splits axes: not a unit-axis reshape
    if axis not in kept_out:
        return None  # a unit axis: which input axis it was is not provable
    return kept_in[kept_out.index(axis)]


def _expand_step(graph: ModelGraph, node: NodeInfo, axis: int) -> object:
    source = graph.tensor(node.inputs[0], node.graph)
    out_rank = _rank(graph, node.outputs[0], node.graph) if node.outputs else None
    if source is None or source.shape is None or out_rank is None:
        return _STOP
    position = axis - (out_rank - len(source.shape))
    if position < 0 or source.shape[position] == 1:
        return _STOP  # broadcast here: the axis's size comes from Expand's shape input
    return position


# --- which source row feeds each direction of a state -------------------------------------------
@dataclass(frozen=True)
class PickedRows:
    """The rows of ``root``'s axis 0 that become rows 0, 1, ... of a state, in that order."""

    root: str
    producer: NodeInfo | None
    rows: tuple[int, ...]
    picker: NodeInfo | None  # the Gather / Slice / Concat that chose the order, if any


def picked_rows(graph: ModelGraph, name: str, scope: str = "main") -> PickedRows | None:
    """Rows of one root picked, in order, by a Gather of constant indices, a Slice (any step)
    or an axis-0 Concat of single-row windows; None when not provable."""
    return _picked_rows(graph, name, scope, {}, 0)


def _picked_rows(
    graph: ModelGraph, name: str, scope: str,
    memo: dict[tuple[str, str], PickedRows | None], depth: int,
) -> PickedRows | None:
    """:func:`picked_rows`, each tensor once (``Concat(v, v)`` at every step would otherwise
    cost 2**depth), at most _MAX_DEPTH Concats deep."""
    key = (scope, name)
    if key in memo:
        return memo[key]
    memo[key] = None  # until found: a walk that meets it again (a cycle) proves nothing
    if depth > _MAX_DEPTH:
        return None
    tensor, where = name, scope
    for _ in range(_MAX_DEPTH):
        node = graph.producer(tensor, where)
        if node is None or node.op_type not in _TRANSPARENT or not node.inputs:
            break
        tensor, where = node.inputs[0], node.graph
    node = graph.producer(tensor, where)
    found: PickedRows | None
    if node is not None and node.op_type == "Concat" and attr_int(node, "axis") in (0,) \
            and node.inputs:
        found = _concat_rows(graph, node, memo, depth + 1)
    elif node is not None and node.op_type in ("Gather", "Slice") and node.inputs:
        found = _indexed_rows(graph, node)
    else:
        origin = state_origin(graph, name, scope)
        rows = None if origin.rows is None else range(*origin.rows)
        found = None if rows is None or len(rows) > _MAX_PICKED_ROWS \
            else PickedRows(origin.root, origin.producer, tuple(rows), None)
    memo[key] = found
    return found


def _indexed_rows(graph: ModelGraph, node: NodeInfo) -> PickedRows | None:
    source = state_origin(graph, node.inputs[0], node.graph)
    if source.rows is None:
        return None
    base = range(*source.rows)  # ranges index and slice without listing their rows
    indices: Sequence[int]
    if node.op_type == "Gather":
        spec = gather_spec(graph, node)
        if spec is None or spec[0] != 0 or spec[2]:
            return None
        indices = spec[1]
    else:
        spec_s = slice_spec(graph, node)
        window = None if spec_s is None else spec_s.on_axis(0)
        if window is None:
            return None
        start, end, step = window
        if step == 0:
            return None
        indices = range(len(base))[slice(start, end, step)]
    if len(indices) > _MAX_PICKED_ROWS or any(not -len(base) <= i < len(base) for i in indices):
        return None
    return PickedRows(source.root, source.producer, tuple(base[i] for i in indices), node)


def _concat_rows(
    graph: ModelGraph, node: NodeInfo, memo: dict[tuple[str, str], PickedRows | None],
    depth: int,
) -> PickedRows | None:
    parts = [_picked_rows(graph, name, node.graph, memo, depth) for name in node.inputs]
    known = [p for p in parts if p is not None]
    if len(known) != len(parts) or len({p.root for p in known}) != 1 \
            or sum(len(p.rows) for p in known) > _MAX_PICKED_ROWS:
        return None
    rows = tuple(r for p in known for r in p.rows)
    return PickedRows(known[0].root, known[0].producer, rows, node)
