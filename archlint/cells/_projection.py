"""An input projection computed before the steps (archlint/cells/): ``x @ kernel (+ bias)`` over
the whole sequence at once, which each step then reads one step of, and the reversals of the
sequence in time that can come before it. Torch's dynamo export of ``nn.RNN`` hoists it out of
an unrolled chain (unrolled.py); jax2onnx hoists it out of the Loop of a Keras 3 GRU with
reset_after=True, the body reading ``Gather(projection, t)`` (loop.py). Keras 3's
go_backwards on the jax backend is ``jnp.flip(x, time)``, which jax2onnx writes as a Gather
of every index in reverse."""

from __future__ import annotations

from archlint.cells._trace import (
    _PRODUCTS,
    _QDQ,
    _SEQUENCE_VIEW_OPS,
    _VIEWS,
    _added_sources,
    _as_float_op,
    _first,
    _integer_matmul,
    _is_stored,
    _operands,
    _weight_product,
    _WeightProduct,
)
from archlint.graph import ModelGraph, NodeInfo
from archlint.patterns import (
    PAST_END,
    DimOf,
    attr_int,
    attr_ints,
    const_ints,
    shape_vector,
    slice_spec,
)

__all__: list[str] = []

# Ops between a hoisted input projection and the slices the steps read (its bias Add, views).
_PROJECTION_OPS = frozenset({"Add", "Identity", "Cast", "Reshape", "Transpose", "Squeeze",
                             "BatchNormalization",
                             "Unsqueeze"}) | _QDQ
# Views after which an axis is no longer known to be the same axis.
_RESHAPING = frozenset({"Reshape", "Squeeze", "Unsqueeze", "SplitToSequence", "Flatten"})


def _projected(graph: ModelGraph, kernel: _WeightProduct) -> dict[str, bool]:
    """The product's output and what it becomes through its bias Add, views and a flip of
    the time axis (a Slice with step -1): tensor -> whether it is flipped."""
    scope = kernel.node.graph
    found: dict[str, bool] = {}
    frontier = [(name, False) for name in kernel.node.outputs[:1] if name]
    while frontier and len(found) < 16:
        name, flipped = frontier.pop()
        if name in found:
            continue
        found[name] = flipped
        for consumer in graph.consumers_of(name, scope):
            if consumer.graph != scope or not consumer.outputs or not consumer.outputs[0]:
                continue
            if consumer.op_type == "Slice" and _is_flip(graph, consumer):
                frontier.append((consumer.outputs[0], not flipped))
                continue
            kind = _as_float_op(consumer)
            if kind not in _PROJECTION_OPS:
                continue
            if kind == "Add" and not any(
                    other != name and (_is_stored(graph, other, scope)
                                       or _added_sources(graph, other, scope))
                    for other in _operands(consumer)):  # a bias, stored or dequantized
                continue  # an Add of two computed values: the step's sum, not a bias
            frontier.append((consumer.outputs[0], flipped))
    return found


def _projection_of(
    graph: ModelGraph, sequence: str, scope: str
) -> tuple[_WeightProduct, dict[str, bool]] | None:
    """The product of a stored weight in ``scope`` that ``sequence`` is the projection of
    (:func:`_projected`), with what that product becomes; None when there is none. Found
    from ``sequence`` up, through the ops a projection passes through."""
    stack = [sequence]
    seen: set[str] = set()
    while stack and len(seen) < 16:
        name = stack.pop()
        producer = graph.producer(name, scope) if name not in seen else None
        seen.add(name)
        if producer is None or producer.graph != scope:
            continue
        # quantize_dynamic's product is the Mul that rescales its MatMulInteger
        integer = _integer_matmul(graph, producer) if producer.op_type == "Mul" else None
        if producer.op_type in _PRODUCTS or integer is not None:
            product = _weight_product(graph, integer or producer)
            projected = None if product is None else _projected(graph, product)
            if product is not None and projected is not None and sequence in projected:
                return product, projected
        elif _as_float_op(producer) in _PROJECTION_OPS or _is_flip(graph, producer):
            # an Add's other operand is its bias; every other op is a view of its input 0
            inputs = _operands(producer) if _as_float_op(producer) == "Add" \
                else producer.inputs[:1]
            stack.extend(n for n in inputs if n)
    return None


def _axis_at_data(
    graph: ModelGraph, product: _WeightProduct, projected: dict[str, bool], sequence: str,
    axis: int | None,
) -> int | None:
    """The axis of the product's data that becomes axis ``axis`` of ``sequence``, one of its
    projected tensors: back through the Transposes and the bias Adds between them; None when
    a view reshapes it, or when it is the axis the product contracts."""
    scope = product.node.graph
    output = product.node.outputs[0]
    name = sequence
    for _ in range(len(projected) + 1):
        axis = _normal_axis(graph, name, scope, axis)
        if axis is None:
            return None
        if name == output:
            rank = _rank(graph, product.data, scope)
            return axis if rank is not None and axis < rank - 1 else None
        producer = graph.producer(name, scope)
        if producer is None:
            return None
        axis = _axis_before(producer, axis)
        name = next((n for n in _operands(producer) if n in projected), "")
    return None


def _axis_before(node: NodeInfo, axis: int | None) -> int | None:
    """The axis of ``node``'s input 0 that becomes ``axis`` of its output: moved by a
    Transpose, kept by an elementwise view, not known past one that reshapes."""
    if axis is None or node.op_type in _RESHAPING:
        return None
    if node.op_type == "Transpose":
        perm = attr_ints(node, "perm")
        return perm[axis] if perm is not None and axis < len(perm) else None
    return axis


def _normal_axis(graph: ModelGraph, name: str, scope: str, axis: int | None) -> int | None:
    """``axis`` of ``name`` counted from the front (None when negative and the rank is not
    known)."""
    if axis is None or axis >= 0:
        return axis
    rank = _rank(graph, name, scope)
    return None if rank is None or axis < -rank else axis + rank


def _rank(graph: ModelGraph, name: str, scope: str) -> int | None:
    info = graph.tensor(name, scope)
    return None if info is None or info.shape is None else len(info.shape)


def _reads_flipped(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` is its sequence reversed in time: a flip (a Slice with step -1) among
    the views it is made through (an odd number of them)."""
    flipped = False
    for _ in range(16):
        producer = graph.producer(name, scope)
        if producer is None or producer.graph != scope:
            break
        if producer.op_type == "Slice" and _is_flip(graph, producer):
            flipped = not flipped
        elif producer.op_type not in _SEQUENCE_VIEW_OPS:
            break
        name = _first(producer)
    return flipped


def _is_flip(graph: ModelGraph, node: NodeInfo) -> bool:
    """A Slice that reverses one axis whole: step -1 from the end (torch.flip)."""
    spec = slice_spec(graph, node) if node.op_type == "Slice" else None
    return spec is not None and len(spec.steps) == 1 and spec.steps[0] == -1 \
        and spec.starts[0] in (-1, 2**63 - 1, PAST_END) and spec.ends[0] <= -PAST_END


def _reversed_axis(graph: ModelGraph, node: NodeInfo) -> int | None:
    """The axis (from the front) a Gather reverses whole, taking every index from the last to
    the first: ``(n - 1) - Range(0, n, 1)`` (jax2onnx's ``jnp.flip``), ``Range(n - 1, -1, -1)``
    or those indices stored, n the axis' length; None for any other node."""
    if node.op_type != "Gather" or len(node.inputs) < 2 or node.domain not in ("", "ai.onnx"):
        return None
    data = node.inputs[0]
    axis = _normal_axis(graph, data, node.graph, attr_int(node, "axis") or 0)
    if axis is None:
        return None
    length = _AxisLength(graph, node.graph, data, axis)
    return axis if length.counts_down(node.inputs[1]) else None


class _AxisLength:
    """Integer tensors of one scope that hold the length n of one axis of ``data``, or n - 1,
    or count from n - 1 down to 0."""

    def __init__(self, graph: ModelGraph, scope: str, data: str, axis: int) -> None:
        self.graph, self.scope, self.data, self.axis = graph, scope, data, axis
        # the length may be read from the tensor a Cast of the data reads (a float16
        # converter keeping the inputs float casts x for the Gather, not for its Shape)
        self.root = graph.through(data, scope, _VIEWS)
        info = graph.tensor(data, scope)
        dim = None if info is None or info.shape is None or axis >= len(info.shape) \
            else info.shape[axis]
        self.dim = dim if isinstance(dim, int) else None

    def counts_down(self, name: str) -> bool:
        """n - 1, n - 2, ... 0."""
        stored = const_ints(self.graph, name, self.scope)
        if stored is not None:
            return self.dim is not None and stored == tuple(range(self.dim - 1, -1, -1))
        producer = self.graph.producer(name, self.scope)
        if producer is None or len(producer.inputs) < 2:
            return False
        if producer.op_type == "Range" and len(producer.inputs) == 3:
            start, limit, delta = producer.inputs
            return self._const(limit) == -1 and self._const(delta) == -1 \
                and self.is_last(start)
        if producer.op_type == "Sub":
            last, counter = producer.inputs[:2]
            upward = self.graph.producer(counter, self.scope)
            return self.is_last(last) and upward is not None and upward.op_type == "Range" \
                and len(upward.inputs) == 3 and self._const(upward.inputs[0]) == 0 \
                and self._const(upward.inputs[2]) == 1 and self.is_length(upward.inputs[1])
        return False

    def is_length(self, name: str) -> bool:
        """n: stored, or read from the data's shape."""
        stored = self._const(name)
        if stored is not None:
            return stored == self.dim
        found = shape_vector(self.graph, name, self.scope)
        return found is not None and len(found) == 1 and isinstance(found[0], DimOf) \
            and found[0].axis == self.axis and (
                found[0].tensor == self.data
                or self.graph.through(found[0].tensor, self.scope, _VIEWS) == self.root)

    def is_last(self, name: str) -> bool:
        """n - 1: stored, or ``Sub(n, 1)``."""
        stored = self._const(name)
        if stored is not None:
            return self.dim is not None and stored == self.dim - 1
        producer = self.graph.producer(name, self.scope)
        return producer is not None and producer.op_type == "Sub" \
            and len(producer.inputs) == 2 and self.is_length(producer.inputs[0]) \
            and self._const(producer.inputs[1]) == 1

    def _const(self, name: str) -> int | None:
        """A stored integer scalar (or one-element vector), also behind the ops that keep its
        value (onnxoptimizer's eliminate_shape_gather leaves ``Squeeze`` of the constant
        length where the graph read it from the data's shape)."""
        found: tuple[object, ...] | None = const_ints(self.graph, name, self.scope)
        if found is None:
            found = shape_vector(self.graph, name, self.scope)
        return found[0] if found is not None and len(found) == 1 \
            and isinstance(found[0], int) else None
