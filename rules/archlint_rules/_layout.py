"""Helpers shared by the layout rules (AL302-AL313): the graph around recurrent nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from archlint.api import RuleContext
from archlint.graph import NodeInfo, TensorInfo
from archlint.patterns import (
    FlattenPath,
    StateSource,
    attr_int,
    const_ints,
    flatten_paths,
    is_model_input,
    layer_stacks,
    reshape_target,
    state_origin,
    state_source,
    transpose_perm,
)
from archlint.recurrent import RecurrentLayer
from archlint.shapes import Dim, Shape, is_invented_symbol

SEQ_MAJOR_Y = ("seq", "D", "batch", "H")  # layout=0
BATCH_MAJOR_Y = ("batch", "seq", "D", "H")  # layout=1
SEQ_MAJOR_STATE = ("D", "batch", "H")  # Y_h / Y_c, layout=0
BATCH_MAJOR_STATE = ("batch", "D", "H")  # layout=1


def y_labels(layer: RecurrentLayer) -> tuple[str, ...]:
    return BATCH_MAJOR_Y if layer.layout == 1 else SEQ_MAJOR_Y


def node_text(node: NodeInfo) -> str:
    """``Reshape 'flatten'`` / ``Reshape <Reshape #7>`` for messages."""
    return f"{node.op_type} {node.name!r}" if node.name else f"{node.op_type} {node.label}"


def others_text(others: int) -> str:
    """`` (and 3 other nodes)`` after the first node a finding names; "" for none."""
    return f" (and {others} other node{'s' if others > 1 else ''})" if others else ""


def ints_text(values: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


# Layout ops whose output is their input, permuted (Transpose) or as it is: the few nodes where
# torch's dynamo exporter's declarations first part from what the graph computes. Elementwise
# ops and products are not looked at: a big graph has tens of thousands of them.
LAYOUT_OPS = frozenset({"Transpose", "Identity", "Cast"})


def made_shape(ctx: RuleContext, node: NodeInfo) -> tuple[TensorInfo, Shape] | None:
    """(the data a layout op reads, the shape it makes of it), from the data's shape alone;
    None when that shape, or the node's permutation, is not known."""
    data = ctx.graph.tensor(node.inputs[0], node.graph) if node.inputs and node.inputs[0] \
        else None
    made = None if data is None or data.shape is None else _laid_out(node, data.shape)
    return None if data is None or made is None else (data, made)


def _laid_out(node: NodeInfo, shape: Shape) -> Shape | None:
    """What a layout op makes of ``shape``: permuted by a Transpose, else as it is; None when
    the permutation is not known."""
    if node.op_type != "Transpose":
        return shape
    perm = transpose_perm(node, len(shape))
    if perm is None or len(perm) != len(shape):
        return None
    return tuple(shape[k] for k in perm)


# besides the layout ops: a product by a matrix and a bias, which keep the leading axes
HEAD_OPS = frozenset({"Add", "Sub", "Mul", "Div", "MatMul", "Gemm"})


def _declared(info: TensorInfo) -> Shape | None:
    return info.shape


def made_by_head(
    ctx: RuleContext, node: NodeInfo,
    shape_of: Callable[[TensorInfo], Shape | None] = _declared,
) -> tuple[TensorInfo, Shape] | None:
    """(the data, the shape made of it) for ``x @ W`` with W a matrix of known size (the
    leading axes kept, the last one W's), ``Gemm(x, W)`` on a 2-D x, or ``x ± b`` / ``x · s``
    with the other operand of known numbers that broadcast into x without growing it (x's
    shape); None otherwise. ``shape_of`` gives the data's shape (its declaration unless
    told): a head after a recurrent layer keeps the axes the layer made (nvidia-modelopt's
    int4 export of a GRU and Linear declares ``y = Add(MatMul(..), bias)`` with the
    example's length; so does torch's dynamo exporter for ``fc(out)``)."""
    if node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Gemm":
        return _made_by_gemm(ctx, node, shape_of)
    if len(node.inputs) != 2 or not all(node.inputs):
        return None
    graph = ctx.graph
    first, second = (graph.tensor(name, node.graph) for name in node.inputs)
    if first is None or second is None or second.shape is None:
        return None
    if node.op_type == "MatMul":
        data_shape, weight = shape_of(first), second.shape
        if data_shape is None or len(data_shape) < 2 or len(weight) != 2 \
                or not isinstance(weight[1], int):
            return None
        return first, (*data_shape[:-1], weight[1])
    for data, other in ((first, second), (second, first)):
        shape = shape_of(data)
        if shape is None or other.shape is None or len(other.shape) > len(shape):
            continue
        tail = shape[len(shape) - len(other.shape):]
        if all(isinstance(o, int) and (o == 1 or o == d) for o, d in zip(
                other.shape, tail, strict=True)) and any(isinstance(d, str) for d in shape):
            return data, shape
    return None


def _made_by_gemm(
    ctx: RuleContext, node: NodeInfo, shape_of: Callable[[TensorInfo], Shape | None],
) -> tuple[TensorInfo, Shape] | None:
    """(A, [M, N]) for ``Gemm(A, B, C)`` with A the data (transA=0: M is A's first axis) and
    B a weight of known N (torch's nn.Linear on a 2-D input: ``fc(out[:, -1, :])``, the
    many-to-one head, is a Gemm with transB=1)."""
    if len(node.inputs) < 2 or not node.inputs[0] or not node.inputs[1] \
            or attr_int(node, "transA"):
        return None
    data = ctx.graph.tensor(node.inputs[0], node.graph)
    weight = ctx.graph.tensor(node.inputs[1], node.graph)
    shape = None if data is None else shape_of(data)
    if data is None or weight is None or shape is None or weight.shape is None \
            or len(shape) != 2 or len(weight.shape) != 2:
        return None
    columns = weight.shape[0] if attr_int(node, "transB") else weight.shape[1]
    if not isinstance(columns, int):
        return None
    return data, (shape[0], columns)


# how many layout ops and heads computed_shape follows up from a tensor
_FOLLOWED = 32


def computed_shape(
    ctx: RuleContext, info: TensorInfo, symbols: Mapping[str, str], followed: int = 0
) -> Shape:
    """``info``'s shape, where a layout op or a head (a product by a matrix, a bias:
    :func:`made_by_head`) makes it, with each axis its declaration fixes to a number taken
    from what the op makes of its input when that is one of ``symbols`` (a dynamic axis of
    the graph inputs): torch's dynamo exporter declares the example's length after a
    batch-first recurrent layer (AL316), and after the Linear that reads it (darts'
    ``RNNModel``: ``fc(out).view(batch, -1, 2, 1)`` declared and baked at 12 steps); a
    reshape reading that tensor is judged against the axis the graph computes. Followed
    through a chain of such ops, at most ``_FOLLOWED`` of them."""
    shape = info.shape or ()
    producer = ctx.graph.producer(info.name, info.graph)
    if producer is None or followed >= _FOLLOWED or not producer.inputs \
            or not producer.inputs[0]:
        return shape
    if producer.op_type in LAYOUT_OPS:
        data = ctx.graph.tensor(producer.inputs[0], producer.graph)
        if data is None or data.shape is None:
            return shape
        inner = _laid_out(producer, computed_shape(ctx, data, symbols, followed + 1))
    elif producer.op_type in HEAD_OPS:
        made = made_by_head(ctx, producer,
                            lambda data: computed_shape(ctx, data, symbols, followed + 1))
        inner = None if made is None else made[1]
    else:
        return shape
    if inner is None or len(inner) != len(shape):
        return shape
    return tuple(computed if isinstance(declared, int) and isinstance(computed, str)
                 and computed in symbols else declared
                 for declared, computed in zip(shape, inner, strict=True))


def dynamic_symbols(ctx: RuleContext) -> dict[str, str]:
    """Symbolic dims declared by the main graph's inputs: symbol -> first input declaring it."""
    def find() -> dict[str, str]:
        found: dict[str, str] = {}
        for name in ctx.graph.graph_inputs.get("main", ()):
            info = ctx.graph.tensor(name)
            if info is None or info.shape is None or info.is_initializer:
                continue
            for dim in info.shape:
                if isinstance(dim, str):
                    found.setdefault(dim, name)
        return found

    return ctx.memo("layout.dynamic_symbols", find)


def upstream_of_recurrent(ctx: RuleContext, node_id: str) -> bool:
    """Whether a recurrent node reads, directly or not, an output of node ``node_id`` (or a
    node whose subgraph holds one does). The nodes that feed any recurrent node are found
    once, walking upstream from all of them (ModelGraph.feeding): ask it only of nodes a rule
    would report, so a big graph with nothing to report is never walked."""
    feeding = ctx.memo("layout.feeding_recurrent", lambda: ctx.graph.feeding(
        frozenset(layer.node.id for layer in ctx.layers)))
    return node_id in feeding


def downstream_of_recurrent(ctx: RuleContext, node_id: str) -> bool:
    """Whether a node reads, directly or not, an output of a recurrent node.

    Asked per node and walked upstream from it (ModelGraph.reads_from): a Reshape right after
    an LSTM is answered in two steps, where a walk downstream of every layer would visit the
    whole graph after it; answers of no are shared, so many questions stay linear."""
    layers = ctx.memo("layout.recurrent_ids",
                      lambda: frozenset(layer.node.id for layer in ctx.layers))
    return ctx.graph.reads_from(node_id, layers)


@dataclass(frozen=True)
class Misfold:
    """A Reshape that flattens a bidirectional Y, Y_h or Y_c without D directly before H."""

    layer: RecurrentLayer
    path: FlattenPath
    labels: tuple[str, ...]
    slot: str = "Y"

    @property
    def order_labels(self) -> tuple[str, ...]:
        return tuple(self.labels[a] for a in self.path.order)

    def desired_order(self) -> tuple[int, ...]:
        d_axis = self.labels.index("D")
        h_axis = self.labels.index("H")
        rest = [a for a in self.path.order if a not in (d_axis, h_axis)]
        return (*rest, d_axis, h_axis)

    def expected_perm(self) -> tuple[int, ...]:
        """The last Transpose's perm that would put D directly before H."""
        before = self.path.before_last
        return tuple(before.index(a) for a in self.desired_order())

    @property
    def folded(self) -> str:
        """What the right fold gives: PyTorch's output, or its h_n[-2:] concatenated."""
        return "[seq, batch, 2·H]" if self.slot == "Y" else "[batch, 2·H]"

    @property
    def keep_target(self) -> str:
        return "[0, 0, -1]" if self.slot == "Y" else "[0, -1]"


def state_labels(layer: RecurrentLayer) -> tuple[str, ...]:
    """Axes of Y_h / Y_c: [D, batch, H], or [batch, D, H] with layout=1."""
    return BATCH_MAJOR_STATE if layer.layout == 1 else SEQ_MAJOR_STATE


def misfolds(ctx: RuleContext) -> Iterator[Misfold]:
    """Every Reshape that lowers the rank of a bidirectional Y, Y_h or Y_c while D is not just
    before H (and H is not kept whole as the last axis).

    Flattening is right only when the direction axis sits directly before H: then the last
    axis holds [forward H | backward H], the 2·H features PyTorch returns (for Y_h, what
    ``torch.cat((h_n[-2], h_n[-1]), 1)`` gives). Anything else mixes directions into batch
    (or seq), as ``h_n.view(batch, -1)`` does, or interleaves the two directions feature by
    feature. A Reshape whose last axis is H itself merges rows only: features stay whole.
    """
    for layer in ctx.layers:
        if layer.num_directions != 2:
            continue
        for slot, labels in (("Y", y_labels(layer)), ("Y_h", state_labels(layer)),
                             ("Y_c", state_labels(layer))):
            yield from _misfolds_of(ctx, layer, slot, labels)


def _misfolds_of(
    ctx: RuleContext, layer: RecurrentLayer, slot: str, labels: tuple[str, ...]
) -> Iterator[Misfold]:
    ref = layer.outputs.get(slot)
    rank = len(labels)
    if ref is None or (ref.rank is not None and ref.rank != rank):
        return
    d_axis, h_axis = labels.index("D"), labels.index("H")
    if ref.shape is not None and isinstance(ref.shape[d_axis], int) and ref.shape[d_axis] != 2:
        return  # a D axis of another size is AL301's finding
    # Axes of size 1 (batch 1 in a static export) hold no data: D before them is D before H.
    unit = {a for a, dim in enumerate(ref.shape or ()) if dim == 1}
    for path in flatten_paths(ctx.graph, ref.name, rank, layer.node.graph,
                              rows_axis=d_axis if slot != "Y" else None):
        out_rank = _output_rank(ctx, path.reshape)
        if out_rank is None or out_rank >= rank or (slot != "Y" and out_rank != 2):
            continue  # a state flattened to 1-D (or kept 3-D) is no [batch, 2·H] fold
        order = [a for a in path.order if a not in unit]
        if order.index(d_axis) + 1 == order.index(h_axis):
            continue
        if path.order[-1] == h_axis and _last_axis_is(ctx, path.reshape, layer.hidden_size):
            continue
        yield Misfold(layer, path, labels, slot)


def _last_axis_is(ctx: RuleContext, reshape: NodeInfo, size: int | None) -> bool:
    """The Reshape's last output axis is known to be ``size`` (H): only rows were merged."""
    if size is None:
        return False
    target = reshape_target(ctx.graph, reshape)
    if target is not None:
        return bool(target) and target[-1] == size
    out = ctx.graph.tensor(reshape.outputs[0], reshape.graph) if reshape.outputs else None
    return out is not None and out.shape is not None and bool(out.shape) \
        and out.shape[-1] == size


def _output_rank(ctx: RuleContext, reshape: NodeInfo) -> int | None:
    target = reshape_target(ctx.graph, reshape)
    if target is not None:
        return len(target)
    shape_input = ctx.graph.tensor(reshape.inputs[1], reshape.graph) \
        if len(reshape.inputs) > 1 else None
    if shape_input is not None and shape_input.shape is not None \
            and len(shape_input.shape) == 1 and isinstance(shape_input.shape[0], int):
        return shape_input.shape[0]
    out = ctx.graph.tensor(reshape.outputs[0], reshape.graph) if reshape.outputs else None
    return None if out is None or out.shape is None else len(out.shape)


def labelled(labels: tuple[str, ...], shape: tuple[Dim, ...] | None) -> str:
    """``[seq, D=2, batch, H=3]``."""
    parts = []
    for k, label in enumerate(labels):
        dim = shape[k] if shape is not None and k < len(shape) else None
        parts.append(f"{label}={dim}" if isinstance(dim, int) else label)
    return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class StackInfo:
    """Each layer's index k in its stack and the first layer of that stack (by node id)."""

    index: dict[str, int]
    root: dict[str, str]

    @classmethod
    def of(cls, ctx: RuleContext) -> StackInfo:
        def walk() -> StackInfo:
            stacks = layer_stacks(ctx.graph, ctx.layers)
            return cls({node_id: k for node_id, (k, _) in stacks.items()},
                       {node_id: root for node_id, (_, root) in stacks.items()})

        return ctx.memo("layout.stacks", walk)


def stack_depth(ctx: RuleContext, layer: RecurrentLayer) -> int | None:
    """How many layers the stack of ``layer`` has (None where it is in no stack walk)."""
    stacks = StackInfo.of(ctx)
    root = stacks.root.get(layer.node.id)
    return None if root is None else sum(r == root for r in stacks.root.values())


def whole_stack_rows(ctx: RuleContext, layer: RecurrentLayer, rows: object) -> bool:
    """Whether ``rows`` on a final state's direction axis are num_layers·D of the stack of
    ``layer`` (two layers or more): a model output declared as the whole stack's h_n / c_n
    that holds one layer's state (AL306 reports which layers it drops)."""
    depth = stack_depth(ctx, layer)
    d = layer.num_directions
    return depth is not None and depth >= 2 and d is not None and rows == depth * d


def rows_text(rows: tuple[int, int]) -> str:
    return f"rows [{rows[0]}, {rows[1]})"


def recurrent_outputs(ctx: RuleContext) -> dict[tuple[str, str], tuple[RecurrentLayer, str]]:
    """(graph, tensor) -> (layer, output slot) for every bound output of every layer."""
    def index() -> dict[tuple[str, str], tuple[RecurrentLayer, str]]:
        found: dict[tuple[str, str], tuple[RecurrentLayer, str]] = {}
        for layer in ctx.layers:
            for slot, ref in layer.outputs.items():
                found[(layer.node.graph, ref.name)] = (layer, slot)
        return found

    return ctx.memo("layout.recurrent_outputs", index)


def state_direction_axis(layer: RecurrentLayer) -> int:
    """The direction axis of initial_h / initial_c / Y_h / Y_c: 0 for [D, batch, H], 1 with
    layout=1."""
    return 1 if layer.layout == 1 else 0


def state_batch_axis(layer: RecurrentLayer) -> int:
    """The batch axis of initial_h / initial_c: 1 for [D, batch, H], 0 with layout=1."""
    return 0 if layer.layout == 1 else 1


@dataclass(frozen=True)
class DeclaredBatch:
    """A model input a state's batch axis comes from, declared otherwise than X's batch."""

    root: str  # the model input
    declared: Dim  # what it declares on the axis the state's batch axis comes from
    axis: int  # that axis
    # the axis of the model input that declares X's batch symbol, which the state's walk
    # does not follow (a batch-major h0 [batch, L·D, H] sliced on axis 0 as if it held the
    # layers): None when it declares it nowhere
    batch_axis: int | None = None


def declared_state_batch(
    ctx: RuleContext, layer: RecurrentLayer, slot: str, batch: str
) -> DeclaredBatch | None:
    """The model input the state in ``slot`` comes from, when it declares the axis the state's
    batch axis comes from otherwise than X's ``batch`` symbol."""
    ref = layer.inputs.get(slot)
    if ref is None:
        return None
    axis = state_batch_axis(layer)
    source = state_source(ctx.graph, ref.name, layer.node.graph, axis)
    root = ctx.graph.tensor(source.root, layer.node.graph)
    if not is_model_input(root) or root is None:
        return None  # constants are AL308's; computed states have no declaration
    # The walk follows the batch axis through Slice / Gather / Squeeze / Unsqueeze and
    # unit-axis Reshapes: a Keras [batch, H] state input is unsqueezed by tf2onnx.
    if root.shape is None or source.axis is None or source.axis >= len(root.shape):
        return None
    declared = root.shape[source.axis]
    if declared is None or declared == batch:
        return None
    batch_axis = root.shape.index(batch) if batch in root.shape else None
    if batch_axis is not None and (ref.shape is None or batch in ref.shape):
        return None  # the state itself carries the symbol on another axis: AL310's
    if isinstance(declared, str) and (is_invented_symbol(declared)
                                      or is_invented_symbol(batch)):
        return None  # a name a tool made up (unk__N, DynamicDimension.N): no claim
    return DeclaredBatch(source.root, declared, source.axis, batch_axis)


def batch_fix(found: DeclaredBatch, batch: str) -> str:
    """How to make the state's batch axis X's ``batch``, as a sentence."""
    if found.batch_axis is None:
        return (f"declare axis {found.axis} of {found.root!r} as {batch!r}, as X's (torch: "
                "give the state inputs the same dynamic_axes name as x).")
    return ("PyTorch's h0 and c0 are (num_layers·num_directions, batch, hidden) even with "
            f"batch_first=True: pass {found.root!r} that way (h0.transpose(0, 1).contiguous() "
            "before the call), or transpose it in the model before the layers use it.")


def state_root(
    ctx: RuleContext, layer: RecurrentLayer, slot: str | None
) -> tuple[StateSource, TensorInfo] | None:
    """Where a state comes from (:func:`state_source`, its batch axis followed) and the root
    tensor's info; None where the slot is unbound or the root is not known."""
    ref = layer.inputs.get(slot) if slot else None
    if ref is None:
        return None
    origin = state_source(ctx.graph, ref.name, layer.node.graph, state_batch_axis(layer))
    info = ctx.graph.tensor(origin.root, layer.node.graph)
    return None if info is None else (origin, info)


def constant_state(ctx: RuleContext, layer: RecurrentLayer, slot: str) -> str | None:
    """How a state is a constant ("initializer 'H0'", "ConstantOfShape 'zeros'"), else None."""
    found = state_root(ctx, layer, slot)
    if found is None:
        return None
    origin, info = found
    if info.is_initializer and not info.is_graph_input:
        return f"initializer {origin.root!r}"
    producer = origin.producer
    if producer is None:
        return None
    if producer.op_type == "Constant":
        return f"Constant {producer.label!r}"
    shape = _shape_input(producer)
    if shape and _constant_ints(ctx, shape, producer.graph) is not None:
        return f"{producer.op_type} {producer.label!r} with a constant shape"
    return None


def _shape_input(node: NodeInfo) -> str | None:
    """The input that gives the shape a ConstantOfShape or an Expand makes; None for any
    other node."""
    at = {"ConstantOfShape": 0, "Expand": 1}.get(node.op_type)
    return node.inputs[at] if at is not None and len(node.inputs) > at else None


def _constant_ints(ctx: RuleContext, name: str, scope: str) -> tuple[int, ...] | None:
    """A stored integer constant, else one computed from constants alone (folded with numpy,
    imported only then: a static lint of an export reads its constants without it)."""
    found = const_ints(ctx.graph, name, scope)
    if found is not None:
        return found
    from archlint.folded_ints import folded_ints

    return folded_ints(ctx.graph, name, scope)


def folded_state_batch(ctx: RuleContext, layer: RecurrentLayer, slot: str) -> int | None:
    """The batch a state made by an Expand or ConstantOfShape holds, where onnx's inference
    leaves it unknown: the shape is computed from constants (torch's classic exporter writes
    ``h0.expand(1, B, H)``'s shape as a Where over constants, archlint/folded_ints.py)."""
    ref = layer.inputs.get(slot)
    if ref is None:
        return None
    origin = state_source(ctx.graph, ref.name, layer.node.graph, state_batch_axis(layer))
    producer = origin.producer
    sizes = _shape_input(producer) if producer is not None else None
    if producer is None or not sizes or origin.axis is None:
        return None
    target = _constant_ints(ctx, sizes, producer.graph)
    if target is None or not -len(target) <= origin.axis < len(target):
        return None
    dim = target[origin.axis]
    if producer.op_type == "Expand" and dim == 1:  # the input's axis, broadcast right-aligned
        data = ctx.graph.tensor(producer.inputs[0], producer.graph)
        shape = None if data is None else data.shape
        offset = len(target) - len(shape) if shape is not None else 0
        kept = shape[origin.axis - offset] if shape is not None \
            and 0 <= origin.axis - offset < len(shape) else 1
        return kept if isinstance(kept, int) else None
    return dim


# --- packed (h, c) states ------------------------------------------------------------------------
WANTED_OUTPUT = {"initial_h": "Y_h", "initial_c": "Y_c"}


@dataclass(frozen=True)
class PackedOutput:
    """A Concat along axis 0 of whole Y_h / Y_c outputs: the rows each (layer, slot) takes."""

    node: NodeInfo
    rows: dict[tuple[str, str], tuple[int, int]]  # (layer node id, Y_h / Y_c) -> rows

    @property
    def is_packed(self) -> bool:
        """Every layer in it gives both its Y_h and its Y_c: an (h, c) pair, not h_n or c_n."""
        layers = {node_id for node_id, _ in self.rows}
        return all((node_id, slot) in self.rows for node_id in layers for slot in ("Y_h", "Y_c"))


def state_concats(ctx: RuleContext) -> list[PackedOutput]:
    """Every Concat on axis 0 whose inputs are all whole Y_h / Y_c outputs (through Squeeze /
    Unsqueeze / Identity), in any graph: where the model assembles its output state."""
    return ctx.memo("layout.state_concats", lambda: list(_state_concats(ctx)))


def _state_concats(ctx: RuleContext) -> Iterator[PackedOutput]:
    outputs = recurrent_outputs(ctx)
    for node in ctx.graph.iter_nodes(frozenset({"Concat"})):
        if attr_int(node, "axis") not in (0, -3) or len(node.inputs) < 2:
            continue
        rows: dict[tuple[str, str], tuple[int, int]] = {}
        offset = 0
        for name in node.inputs:
            origin = state_origin(ctx.graph, name, node.graph)
            found = outputs.get((origin.producer.graph, origin.root)) \
                if origin.producer is not None else None
            if found is None or found[1] not in ("Y_h", "Y_c"):
                break
            layer, slot = found
            d = layer.num_directions
            if d is None or origin.rows not in (None, (0, d)) or (layer.node.id, slot) in rows:
                break
            rows[(layer.node.id, slot)] = (offset, offset + d)
            offset += d
        else:
            yield PackedOutput(node, rows)
