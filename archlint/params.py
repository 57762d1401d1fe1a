"""Per-layer parameter counts in the ONNX, PyTorch and Keras conventions, and budgets for CI.

Pure functions of the views (ModelGraph, RecurrentLayer): nothing here prints. Element counts
come from tensor shapes (initializer dims, Constant attribute dims; a weight computed in the
graph counts as the stored tensors it is traced to, archlint/weight_sources.py), so a model
whose weights live in a 2 GB external file is counted without opening that file. The only
values read are a recurrent B's inline data, to tell an all-zero B (use_bias=False).

Each parameterised node becomes a :class:`LayerParams` row made of :class:`SlotCount` entries,
one per weight tensor, each saying what that tensor counts for in every convention. Totals are
sums of entries, and a stored tensor counts once, at its first reader (in graph order), the
way PyTorch's ``parameters()`` yields a tied weight once.

To count a new kind of recurrent layer, build its row in a module of its own with a
``count_*_layer`` function (archlint/params_native.py, params_contrib.py, params_cells.py: they
import the data types from archlint/params_types.py, never this module) and dispatch to it in
:func:`count_recurrent_layer`; deduplication by source tensor applies to every row.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from types import MappingProxyType

from onnx import OperatorSetIdProto, TensorProto

from archlint.cells import is_bias_copy
from archlint.contrib_inference import CONTRIB_DOMAIN, ONNX_OP_OF
from archlint.graph import ModelGraph, NodeInfo, TensorInfo
from archlint.params_cells import count_cell_layer
from archlint.params_contrib import count_contrib_layer
from archlint.params_native import (
    GeometryMemo,
    count_native_layer,
    resolve_recurrent_weights,
    traced_note,
)
from archlint.params_quantized import (
    QUANTIZED_OPS,
    count_quantized,
    fused_bias_operand,
    op_key,
    quantized_bias,
    quantized_op,
)
from archlint.params_types import (
    CONVENTIONS,
    LAYOUT_OPS,
    BudgetFailure,
    Convention,
    LayerParams,
    ModelParams,
    ParamsReport,
    SharedTensor,
    SlotCount,
    replaced,
)
from archlint.patterns import (
    einsum_grouped_linear,
    einsum_weight_transposed,
    gemm_c,
    is_model_input,
    reversed_in_time,
)
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.shapes import known_product
from archlint.stored_copies import (
    equal_copies,
    few_values,
    stored_tensors,
    transposed_copies,
)
from archlint.weight_sources import (
    Basis,
    Source,
    Trace,
    all_one,
    all_zero,
    infer_computed_shapes,
    trace,
)

__all__ = [
    "CONVENTIONS",
    "CONVENTIONS_TEXT",
    "Basis",
    "BudgetFailure",
    "Convention",
    "LayerParams",
    "ModelParams",
    "ParamsReport",
    "SharedTensor",
    "SlotCount",
    "check_budgets",
    "count_model",
    "count_recurrent_layer",
    "parse_count",
    "unmatched_limits",
]


CONVENTIONS_TEXT = """\
How archlint counts parameters
==============================

Every count comes from tensor shapes (initializer and Constant dims), never from weight
data (one exception: an all-zero B, below), and the sequence length never changes a count.
Notation: D = num_directions (2 when bidirectional), H = hidden_size, I = input size,
g = gates (LSTM 4, GRU 3, RNN 1).

ONNX: what the file stores. W [D, g·H, I] + R [D, g·H, H] + B [D, 2·g·H] (+ P [D, 3·H] for
  LSTM peepholes). B holds two bias vectors per gate (Wb and Rb). A missing optional B means
  the layer has no biases (zero), and counts 0. S: an initial state expanded to the batch
  (Expand, Tile) from stored tensors that are not all zeros (a learned initial state, an
  nn.Parameter), in every convention; zeros, a stored state of the full batch, or a state
  the caller feeds, is none.
PyTorch: sum(p.numel() for p in module.parameters()). nn.LSTM/nn.GRU/nn.RNN also keep two
  biases (b_ih, b_hh), so per direction:
    LSTM 4·H·I + 4·H·H + 8·H      GRU 3·H·I + 3·H·H + 6·H      RNN H·I + H·H + 2·H
  nn.LSTM(4, 2) = 32 + 16 + 16 = 64. BatchNormalization's running mean and variance are
  buffers, not parameters: they count 0.
Keras: model.count_params(). Keras keeps one bias per gate (Wb + Rb is one vector):
    LSTM 4·H·I + 4·H·H + 4·H      RNN (SimpleRNN) H·I + H·H + H
    GRU reset_after=True  (ONNX linear_before_reset=1): 3·H·I + 3·H·H + 6·H (two biases)
    GRU reset_after=False (ONNX linear_before_reset=0): 3·H·I + 3·H·H + 3·H (one bias)
  LSTM(2) on 4 input features = 32 + 16 + 8 = 56. BatchNormalization counts all four
  vectors (gamma, beta, moving mean, moving variance), as count_params() does.

A bidirectional layer doubles every count. Linear/Dense (Gemm, or MatMul with a constant
weight and its bias Add), Conv, embeddings (Gather from a constant table),
Layer/Instance/Group normalisation and PReLU's learned slope count the same in all three
conventions.

When a convention cannot represent a layer, the report says n/a and why instead of guessing:
  - LSTM peepholes (P) exist in ONNX only: PyTorch and Keras have no peephole LSTM;
  - PyTorch's nn.GRU always applies the reset gate after the recurrent product
    (linear_before_reset=1): a GRU with linear_before_reset=0 has no nn.GRU equivalent
    (in a PyTorch export, where the exporter left the attribute out, AL311, it counts the
    nn.GRU it came from);
  - an LSTM with input_forget=1 (f = 1 - i): neither nn.LSTM nor Keras's LSTM has it;
  - activations nn.LSTM/GRU/RNN do not compute (they are fixed sigmoid and tanh; nn.RNN
    tanh or relu for both directions): no PyTorch count; an LSTM whose candidate and cell
    output activations differ: no Keras count (Keras applies one activation to both);
  - W, R and B whose shapes disagree on H (AL201 reports them): only the ONNX count is given.
A recurrent layer without B is counted as bias=False (PyTorch) and use_bias=False (Keras),
the modules that hold exactly those weights: 0 bias parameters in every convention.

A recurrent layer whose B is stored but all zeros (tf2onnx writes zeros for Keras
use_bias=False; an exporter may do the same for bias=False) counts B in ONNX, what the file
stores, and 0 in PyTorch and Keras, what the framework had. Zeros are read only from inline
data (an initializer or a Constant in the model file, or one of at most 4096 elements read
from a safe data file) and only when every element is exactly 0; the row says so. A trained
bias is never exactly zero, but an untrained Keras GRU or SimpleRNN
(bias_initializer='zeros') looks the same: count it with --convention onnx, or train it
first. In a PyTorch export an all-zero B is biases held at zero: torch's exporters write
no B for bias=False, so the B counts in every convention.

Where a count comes from (the basis of every slot, in --format json and csv):
  initializer         the dims of the initializer the node reads;
  constant-attribute  the dims of a Constant node's value / sparse_value / value_floats...
                      attribute, whatever its size (values are never read);
  graph-input         the declared dims of a typed graph input;
  traced              a weight computed in the graph from stored tensors only (Slice,
                      Concat, Split, Gather at constant indices, Transpose, Reshape,
                      Squeeze, Unsqueeze, Flatten, Identity, Cast, QuantizeLinear,
                      DequantizeLinear, If branches): counted as the stored tensors it is
                      traced to; onnx shape inference over the computing nodes gives the
                      computed shape, used for D, I and H;
  inferred-shape      computed from tensors that are not stored: its inferred shape.
A computed weight counts, in every convention, the stored source tensors (for
DequantizeLinear, the quantized tensor; scales and zero points are not parameters), and
each source tensor counts once per model, in the row of its first reader: two LSTMs whose W
are slices of one initializer count it once, the second row saying "shared with" the first.
The frameworks count the same way: the exporter stored what the framework held, and slices of
one framework tensor are one parameter. The per-slot rules above still apply (Keras counts
half of a computed B).

A tensor read by several nodes (tied weights) is counted once, in the row of its first reader;
the report lists it. A node whose results nothing reads (a tool left it behind; onnxruntime
removes it) is a reader after all the others: a weight it shares counts in the live node's
row, and its row says it is read by nothing. Constants that feed no parameterised node
(shape vectors, Reshape targets) are not parameters and are reported separately as
uncounted initializers.

Layers written out by exporters count as the layer they are:
  - a bias Add after MatMul or a bias-less Conv, also through Reshape, Squeeze, Unsqueeze,
    Transpose or Flatten (tf2onnx's Dense on 3-D input: MatMul, Reshape, Add);
  - a LayerNormalization written as elementwise ops (tf2onnx: Reshape, BatchNormalization
    over computed moments, Reshape, Mul gamma, Add beta; or InstanceNormalization of ones
    then Mul, Add; older torch.onnx: ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div,
    Mul, Add; Keras 3 through tf2onnx: the same with GlobalAveragePool for ReduceMean and
    x·(gamma·rstd) + (beta - mean·gamma·rstd)): one LayerNormalization row with gamma and
    beta, as Keras and PyTorch count it.
  - a Keras BatchNormalization folded by tf2onnx into x·scale + shift (a Mul and an Add of
    vectors in tf.nn.batch_normalization's name scope): ONNX and PyTorch 2·C, Keras 4·C.
  - onnxruntime's quantized ops (ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul,
    com.microsoft QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat, MatMulNBits): the int8
    weight (MatMulNBits: its K·N packed values) and the bias as the float layer's parameters;
    the weight's scale and zero point in ONNX only.
The per-layer report says how each recurrent layer was recognised: native (an ONNX
LSTM/GRU/RNN node), contrib (an onnxruntime com.microsoft op), loop-cell (a Loop or Scan
whose body computes the cell), unrolled (per-step MatMuls) or step (one step per call, the
state in the model's inputs and outputs).
"""


# --- counting ---------------------------------------------------------------------------------

_KINDS: Mapping[str, str] = MappingProxyType({
    "Gemm": "linear", "MatMul": "linear", "Einsum": "linear", "Conv": "conv",
    "ConvTranspose": "conv", "Gather": "embedding", "BatchNormalization": "norm",
    "LayerNormalization": "norm", "InstanceNormalization": "norm", "GroupNormalization": "norm",
    # a learned slope (nn.PReLU's weight, Keras PReLU's alpha): trained, one per channel
    "PRelu": "activation",
})
_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16
# Slot names for the inputs of non-recurrent ops, by position (input 0 of Gather is the table).
_SLOT_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Gemm": ("weight", "weight", "bias"),  # A or B: whichever operand is constant
    "MatMul": ("weight", "weight"),
    "Einsum": ("X", "weight"),  # x @ W only (patterns.einsum_weight_transposed)
    "Conv": ("X", "weight", "bias"),
    "ConvTranspose": ("X", "weight", "bias"),
    "Gather": ("table", "indices"),
    "BatchNormalization": ("X", "scale", "bias", "mean", "var"),
    "LayerNormalization": ("X", "scale", "bias"),
    "InstanceNormalization": ("X", "scale", "bias"),
    "GroupNormalization": ("X", "scale", "bias"),
    "PRelu": ("X", "slope"),
})


def count_model(
    path: str,
    graph: ModelGraph,
    layers: Iterable[RecurrentLayer],
    *,
    opset_imports: Sequence[OperatorSetIdProto] = (),
    main_initializers: Iterable[TensorProto] | None = None,
) -> ModelParams:
    """Rows for every parameterised node, in graph order, each stored tensor counted once.

    A weight computed in the graph (Slice, Concat, Transpose... of initializers) counts as the
    stored tensors it is traced to; ``opset_imports`` (the model's) lets onnx shape inference
    give such a weight its shape, for the layer's geometry. ``main_initializers`` (the model
    proto's ``graph.initializer``, the list the graph indexed) lets the uncounted initializers
    be found without describing every tensor of the main graph.
    """
    recurrent: dict[str, tuple[RecurrentLayer, dict[str, Trace]]] = {}
    pending: list[tuple[TensorInfo, Trace]] = []
    for layer in layers:
        resolved, traces = resolve_recurrent_weights(graph, layer)
        recurrent[layer.node.id] = (resolved, traces)
        for slot, found in traces.items():
            ref = resolved.inputs[slot]
            if ref.shape is not None or found.basis is not Basis.TRACED:
                continue
            info = graph.tensor(ref.name, layer.node.graph)
            if info is not None:
                pending.append((info, found))
    if pending:
        shapes = infer_computed_shapes(graph, pending, opset_imports)
        for node_id, (layer, _) in list(recurrent.items()):
            if any(ref.shape is None and ref.name in shapes for ref in layer.inputs.values()):
                recurrent[node_id] = resolve_recurrent_weights(graph, layer, shapes)
    # the other nodes of a recognised cell (its MatMuls in a Loop body or an unrolled chain):
    # their weights are counted in the cell's row, not as Linear layers
    claimed = {n for layer, _ in recurrent.values() if layer.cell for n in layer.cell.nodes}
    weights = _Weights(graph)
    bias_adds = _bias_adds(weights)
    norms = _decomposed_norms(weights)
    rows: list[LayerParams] = []
    owners: dict[tuple[str, str], tuple[str, str]] = {}  # tensor -> (node id, label) counting it
    # a plain row's weight -> that row's bias as stored: a later row of the same weight whose
    # bias is another int32 tensor of that shape adds the same bias (_bias_copy)
    bias_of: dict[tuple[tuple[str, str], ...], Source] = {}
    readers: dict[tuple[str, str], list[str]] = {}
    # what rows' slots read: (its scope, the name read, the module the exporter places the
    # node in); a row that reads one again is a layer reused (a few-valued tensor read under a
    # new name, or from another module, is equal parameters merged: _merged_equal_values)
    read_as: set[tuple[str, str, str | None]] = set()
    sizes: dict[tuple[str, str], int | None] = {}
    # (row, slot) -> the tensors it counts, where it is the first to read each of them (and
    # shares none): _mark_stored_copies compares them for stored copies
    counted_alone: dict[tuple[int, int], tuple[tuple[str, str], ...]] = {}
    memo: GeometryMemo = {}
    # only the op types that can hold a row: a node of any other op type is never counted, and
    # iter_nodes keeps model order across the types it is asked for
    row_ops = frozenset(_KINDS).union(
        (op_type for _, op_type in QUANTIZED_OPS), ONNX_OP_OF, (op for _, op in _FUSED),
        (layer.node.op_type for layer, _ in recurrent.values()),
        (graph.node(node_id).op_type for node_id in norms))
    calls = graph.calls_functions
    for node, dead in _live_first(graph, graph.iter_nodes(row_ops), recurrent, norms):
        row: LayerParams | None
        if node.id in recurrent:
            row = count_recurrent_layer(*recurrent[node.id], memo=memo)
            reverser = reversed_in_time(graph, recurrent[node.id][0])
            if reverser is not None:
                # the direction the layer runs over the model's input, as a recognised cell's
                # is given (tf2onnx writes go_backwards as ReverseSequence + a forward node)
                row = replaced(row, direction="reverse" if row.direction == "forward"
                               else row.direction, notes=(*row.notes, (
                    f"X is {reverser.op_type} {reverser.label!r}: the sequence reversed in "
                    "time, so this forward node runs backward over the input (Keras "
                    "go_backwards, or the backward half of a bidirectional layer written as "
                    "two forward nodes)")))
        elif node.id in norms:
            row = norms[node.id]
        elif node.id in claimed:
            continue
        elif (quantized := quantized_op(node)) is not None:
            row = count_quantized(graph, node, quantized, weights.of,
                                  quantized_bias(graph, node, weights.of))
        else:
            row = _count_other(weights, node, bias_adds.get(node.id))
        if row is None:
            continue
        if calls and (call := graph.repeated_call(node.graph)) is not None:
            row = replaced(row, label=f"{call}/{row.label}")  # one body's node, at each call
        slots: list[SlotCount] = []
        notes = list(row.notes)
        if dead:
            notes.append("its result is read by nothing (onnxruntime removes the "
                         "node): its weights count in the rows of the nodes that use them")
        changed = dead  # a row whose every tensor is its own is kept as built
        counted_here: set[tuple[str, str]] = set()
        owned_here: list[str] = []  # slots of this row whose tensor it is the first to read
        node_id, label = node.id, row.label
        cell = recurrent.get(node_id)
        slot_keys = [[graph.source(s.name, s.graph) if s is not None
                      else _tensor_key(graph, entry.tensor, node.graph)
                      for s in entry.sources or (None,)] for entry in row.slots]
        # whether this row reads a tensor no earlier row counted: it is no reuse of a layer
        owns_some = any(owners.get(key, (node_id,))[0] == node_id
                        for keys in slot_keys for key in keys)
        module = _module_path(node)
        for entry, keys in zip(row.slots, slot_keys, strict=True):
            sources = entry.sources or (None,)
            # the tensor the slot reads (its own source when read as stored: no lookup)
            read_key = (*keys[0], module) if len(keys) == 1 and entry.sources \
                and entry.sources[0].name == entry.tensor \
                else (*graph.source(entry.tensor, node.graph), module)
            fresh: list[tuple[str, str]] = []
            for key, source in zip(keys, sources, strict=True):
                readers.setdefault(key, []).append(label)
                sizes[key] = source.elements if source is not None else entry.elements
                owner_id, _ = owners.setdefault(key, (node_id, label))
                if owner_id == node_id and key not in counted_here:
                    fresh.append(key)
                counted_here.add(key)
            if not fresh and _merged_bias(None if cell is None else cell[0], entry, owned_here):
                # an exporter merged two equal constants (tf2onnx: the zero biases of a
                # Bidirectional's two directions): stored once, but each layer has its own
                notes.append(f"B {entry.tensor!r} is the tensor {owners[keys[0]][1]} stores "
                             "(equal constants merged by the exporter): counted once in ONNX, "
                             "in both layers in Keras and PyTorch")
                entry = replaced(entry, elements=0)
                changed = True
            elif not fresh and _merged_equal_values(
                    graph, entry, owns_some or read_key not in read_as):
                # torch's classic exporter stores equal parameters once, each read through an
                # Identity named after it (pytorch-forecasting's TFT: 71 zero biases and
                # LayerNorm ones); the dynamo exporter and tf2onnx merge equal constants
                what = (f"{entry.tensor!r}, which {owners[keys[0]][1]} reads too,"
                        if entry.tensor == keys[0][1] else
                        f"{entry.tensor!r} is {keys[0][1]!r} ({owners[keys[0]][1]}'s) and")
                notes.append(f"{entry.slot} {what} holds at most two distinct values: equal "
                             "parameters of two layers the exporter stored once, counted once "
                             "in ONNX, in each layer in PyTorch and Keras")
                entry = replaced(entry, elements=0)
                changed = True
            elif not fresh:
                entry = replaced(entry, shared_with=owners[keys[0]][1])
                changed = True
            elif len(fresh) < len(keys):
                entry, note = _partly_shared(entry, keys, fresh, sizes, owners)
                notes.append(note)
                changed = True
            if fresh:
                owned_here.append(entry.slot)
                if len(fresh) == len(keys) and entry.shared_with is None:
                    counted_alone[(len(rows), len(slots))] = tuple(keys)
            read_as.add(read_key)
            slots.append(entry)
        if cell is None and node_id not in norms:
            copied = _bias_copy(slots, bias_of, graph)
            if copied is not None:
                slots, note = copied
                notes.append(note)
                changed = True
        if changed:
            row = replaced(row, slots=tuple(slots), notes=tuple(notes))
        rows.append(row)
    _mark_stored_copies(rows, counted_alone, graph)
    _mark_state_shaping_convs(rows, graph)
    shared = tuple(
        SharedTensor(key[1], sizes[key], tuple(dict.fromkeys(names)))
        for key, names in readers.items() if len(names) > 1
    )
    uncounted_tensors, uncounted_elements = _uncounted(graph, readers.keys(), main_initializers)
    return ModelParams(path, tuple(rows), shared, uncounted_tensors, uncounted_elements,
                       weight_inputs=_weight_inputs(graph, readers.keys()))


def _live_first(
    graph: ModelGraph, nodes: Iterable[NodeInfo], recurrent: Mapping[str, object],
    norms: Mapping[str, object],
) -> list[tuple[NodeInfo, bool]]:
    """``nodes`` in model order, each with whether it is a plain node whose results nothing
    reads; those come last, so a weight they share with a live node counts in the live
    node's row (onnxoptimizer's fuse_matmul_add_bias_into_gemm, without eliminate_deadend,
    leaves each step's ``x_t @ W`` beside the Gemm that replaced it)."""
    live: list[tuple[NodeInfo, bool]] = []
    dead: list[tuple[NodeInfo, bool]] = []
    for node in nodes:
        if node.id in recurrent or node.id in norms or not graph.read_by_nothing(node):
            live.append((node, False))
        else:
            dead.append((node, True))
    return live + dead


def _mark_stored_copies(
    rows: list[LayerParams],
    counted_alone: Mapping[tuple[int, int], tuple[tuple[str, str], ...]], graph: ModelGraph,
) -> None:
    """Rows whose weight holds the very values of weights earlier rows count: a stored copy
    (archlint/stored_copies.py), counted in ONNX only (in place, in ``rows``). A slot read
    from several tensors (a bias sliced from two) is a copy when each of them is.
    onnxruntime's saved basic level puts a copy of a weight both branches of an If read into
    each branch (silero VAD: 264,192 more); onnx-graphsurgeon copies the outer initializers a
    branch reads into it."""
    where: dict[tuple[str, str], tuple[int, int]] = {}
    for at, keys in counted_alone.items():
        for key in keys:
            where.setdefault(key, at)
    copies = equal_copies(stored_tensors(graph, where))
    # a language model's output layer tied to its embedding, folded to a transposed copy
    tables = [key for key, (row_at, _) in where.items() if rows[row_at].kind == "embedding"]
    transposed = transposed_copies(
        stored_tensors(graph, tables),
        stored_tensors(graph, (key for key in where if key not in copies))) if tables else {}
    copies.update(transposed)
    for (row_at, slot_at), keys in counted_alone.items():
        if not all(key in copies for key in keys):
            continue
        owner_row, owner_slot = where[copies[keys[0]]]
        row, original = rows[row_at], rows[owner_row].slots[owner_slot]
        entry = row.slots[slot_at]
        if not entry.pytorch and not entry.keras:
            continue  # already counted in ONNX only (a per-step QDQ bias copy)
        slots = list(row.slots)
        slots[slot_at] = replaced(entry, pytorch=0, keras=0)
        held = ("the values of" if keys[0] not in transposed else
                "the transposed values of")  # a tied output layer's, folded
        note = (f"{entry.slot} {entry.tensor!r} holds {held} {original.tensor!r} "
                f"({rows[owner_row].label}'s {original.slot}): a stored copy of that "
                "weight (stored twice by the exporter or by constant folding), counted "
                "in ONNX only")
        rows[row_at] = replaced(row, slots=tuple(slots), notes=(*row.notes, note))


# ops between Keras's state-shaping Conv and the Loop whose initial state it makes
_STATE_PATH = frozenset({"Transpose", "Reshape", "Identity", "Cast", "Unsqueeze", "Squeeze"})


def _mark_state_shaping_convs(rows: list[LayerParams], graph: ModelGraph) -> None:
    """A Conv whose stored kernel holds only zeros and whose result is a Loop's initial
    state: Keras's ConvLSTM1D/2D/3D shapes its zero initial state with
    ``input_conv(zeros_like(x), zeros(kernel_shape))`` (tf2onnx keeps the Conv and stores the
    zeros). No parameter: counted in ONNX only, as the file stores it (in place)."""
    for at, row in enumerate(rows):
        if row.op_type != "Conv" or row.graph != "main":
            continue
        weight = row.slot("weight")
        if weight is None or len(weight.sources) != 1 or not (weight.pytorch or weight.keras) \
                or not all_zero(Trace(weight.basis, weight.sources)) \
                or not _feeds_loop_state(graph, f"{row.graph}/{row.node_index}"):
            continue
        slots = tuple(replaced(entry, pytorch=0, keras=0) if entry is weight else entry
                      for entry in row.slots)
        note = (f"weight {weight.tensor!r} holds only zeros and the Conv's result is a Loop's "
                "initial state: Keras's ConvLSTM shapes its zero state so, no parameter "
                "(count_params() leaves it out); counted in ONNX only")
        rows[at] = replaced(row, slots=slots, notes=(*row.notes, note))


def _feeds_loop_state(graph: ModelGraph, node_id: str) -> bool:
    """Whether the node's first output reaches a Loop's carried input (not its trip count or
    condition) through ops that only move data, in at most four steps."""
    node = graph.node(node_id)
    frontier = list(node.outputs[:1])
    for _ in range(4):
        following: list[str] = []
        for name in frontier:
            for reader in graph.consumers_of(name, node.graph):
                if reader.op_type == "Loop" and name in reader.inputs[2:]:
                    return True
                if reader.op_type in _STATE_PATH and reader.inputs[:1] == (name,):
                    following.extend(reader.outputs[:1])
        frontier = following
    return False


def _bias_copy(
    slots: list[SlotCount], bias_of: dict[tuple[tuple[str, str], ...], Source],
    graph: ModelGraph,
) -> tuple[list[SlotCount], str] | None:
    """A plain row's bias that is a per-step copy: onnxruntime's QDQ format stores the bias of
    a Linear applied step by step once per step, in int32 with that step's input scale
    (``pre.bias0_quantized``, ``pre.bias1_quantized``...). Where the row's weight is the one
    an earlier row counted and its bias is a copy of that row's (cells.is_bias_copy, the rule
    a recognised cell's chain follows), the bias is that layer's again: counted in ONNX only.
    None where the row is not such a step (its slots stay as they are)."""
    weight = next((entry for entry in slots if entry.slot == "weight"), None)
    bias = next((entry for entry in slots if entry.slot == "bias"), None)
    if weight is None or len(weight.sources) != 1:
        return None
    key = tuple(graph.source(s.name, s.graph) for s in weight.sources)
    if weight.shared_with is None:  # the row that counts the weight: its bias is the layer's
        if bias is not None and len(bias.sources) == 1:
            bias_of.setdefault(key, bias.sources[0])
        return None
    first = bias_of.get(key)
    if bias is None or first is None or bias.shared_with is not None or len(bias.sources) != 1:
        return None
    if not is_bias_copy(first, bias.sources[0]):
        return None
    copy = replaced(bias, pytorch=0, keras=0)
    note = (f"bias {bias.tensor!r} is a per-step int32 copy of the bias {first.name!r} "
            "(onnxruntime's QDQ format quantizes it with each step's input scale): counted in "
            "ONNX only")
    return [copy if entry is bias else entry for entry in slots], note



def _partly_shared(
    entry: SlotCount,
    keys: list[tuple[str, str]],
    fresh: list[tuple[str, str]],
    sizes: Mapping[tuple[str, str], int | None],
    owners: Mapping[tuple[str, str], tuple[str, str]],
) -> tuple[SlotCount, str]:
    """A computed weight some of whose sources an earlier node already counted: only the
    others count here, each convention scaled as the whole slot was."""
    elements: int | None = 0
    for key in fresh:
        size = sizes.get(key)
        elements = None if size is None or elements is None else elements + size
    whole = entry.elements

    def scaled(value: int | None) -> int | None:
        if value is None or elements is None:
            return None
        return 0 if not whole else value * elements // whole
    earlier = [key for key in keys if key not in fresh]
    names = ", ".join(f"{key[1]!r} (counted by {owners[key][1]})" for key in earlier)
    note = (f"{entry.slot} {entry.tensor!r} is partly made of tensors counted earlier: {names}; "
            "only its other sources count here")
    return replaced(entry, elements=elements, pytorch=scaled(entry.pytorch),
                    keras=scaled(entry.keras)), note


def _merged_equal_values(graph: ModelGraph, entry: SlotCount, own_layer: bool) -> bool:
    """A slot whose one stored tensor an earlier row counted, holding at most two distinct
    values (values that may be equal by chance: zero biases, LayerNorm's ones), in a row
    that is no reuse of an earlier layer (``own_layer``): it reads the tensor under a name
    no earlier row read (torch's classic exporter keeps one of equal parameters and reads it
    through an Identity named after each other one, ``net.pos_wise_ff.fc1.bias``; the kept
    one's own layer may come after those), or from a module no earlier reader of that name
    was in (torch's dynamo exporter reads one initializer for all of them, and names each
    node's module), or the row has tensors of its own (a framework reuses a whole layer,
    never a bias or a norm's scale alone). A layer reused in the framework reads the very
    name again, in the same module, with nothing of its own."""
    if not own_layer or len(entry.sources) != 1 or not entry.elements:
        return False
    source = entry.sources[0]
    return few_values(graph, (source.graph, source.name))


def _module_path(node: NodeInfo) -> str | None:
    """The module names of torch's dynamo exporter's ``namespace`` metadata, the op's call
    left out: ``: Model/norm2: LayerNorm/layer_norm_1: aten.layer_norm.default`` is
    ``norm2`` (a module called twice has one path); None where the node has none."""
    for prop in node.proto.metadata_props:
        if prop.key == "namespace":
            parts = prop.value.split("/")
            if len(parts) < 2:
                return None
            return "/".join(part.split(":", 1)[0].strip() for part in parts[1:-1])
    return None


def _merged_bias(layer: RecurrentLayer | None, entry: SlotCount, owned: list[str]) -> bool:
    """A recurrent layer's bias that an earlier layer read, while its kernels are its own.

    Keras and PyTorch never share just the bias of a recurrent layer (reusing a layer shares
    all its weights), so a shared bias next to unshared kernels is the exporter's doing:
    tf2onnx merges equal constants; torch's exporters store equal parameters once (a stack
    of nn.LSTM layers whose biases a Keras-like init made equal: one initializer both LSTM
    nodes read, or an Identity copy named after each).
    """
    return (layer is not None and entry.slot == "B" and "W" in owned and "R" in owned)


def count_recurrent_layer(
    layer: RecurrentLayer,
    traces: Mapping[str, Trace] | None = None,
    *,
    memo: GeometryMemo | None = None,
) -> LayerParams:
    """A recurrent layer's row, whichever way it was recognised: an op's W, R, B and P
    (archlint/params_native.py, a contrib op's quantized weights archlint/params_contrib.py)
    or a recognised cell's stored tensors (archlint/params_cells.py).

    ``traces`` (slot -> what its tensor is made of, from :func:`count_model`) gives an op's
    computed weights their stored sources and lets an all-zero B count as no bias. ``memo``
    (one per model) shares the shape arithmetic between native layers of the same shape.
    """
    if layer.cell is not None:  # a Loop cell or an unrolled chain: Keras-shaped weights
        return count_cell_layer(layer)
    if layer.recognised_as is Recognition.CONTRIB:
        return count_contrib_layer(layer)
    return count_native_layer(layer, traces, memo=memo)


def _tensor_key(graph: ModelGraph, name: str, scope: str) -> tuple[str, str]:
    """A tensor's identity: the scope that defines it, and its name (a function body's formal
    input is the tensor the call passes in: ModelGraph.source)."""
    return graph.source(name, scope)


def _is_constant(info: TensorInfo | None, graph: ModelGraph) -> bool:
    """An initializer or a Constant node's output: a stored weight, not an activation."""
    if info is None:
        return False
    if info.is_initializer:
        return True
    producer = graph.nodes.get(info.producer) if info.producer is not None else None
    return producer is not None and producer.op_type == "Constant"


_WEIGHT_BASES = frozenset({Basis.INITIALIZER, Basis.CONSTANT, Basis.TRACED})


class _Weights:
    """What the operands of non-recurrent nodes hold, traced once per tensor: the bias-Add
    search, the normalisation search and the rows ask about the same MatMul weights."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.graph_outputs = {path: frozenset(names)
                              for path, names in graph.graph_outputs.items()}
        self._found: dict[tuple[str, str], Trace | None] = {}
        self._named: dict[tuple[str, str], Trace | None] = {}

    def of(self, info: TensorInfo | None) -> Trace | None:
        """What an operand holds when it is a weight: a stored tensor, or one computed from
        stored tensors only. None for an activation."""
        if info is None:
            return None
        key = (info.graph, info.name)
        if key in self._found:
            return self._found[key]
        found: Trace | None = trace(self.graph, info.name, info.graph, inputs_are_weights=False)
        if found is not None and found.basis not in _WEIGHT_BASES:
            found = None
        self._found[key] = found
        return found

    def named(self, tensor: str, scope: str) -> Trace | None:
        """:meth:`of` the tensor ``tensor`` as seen from ``scope``."""
        key = (scope, tensor)
        if key in self._named:
            return self._named[key]
        found = self._named[key] = self.of(self.graph.tensor(tensor, scope))
        return found


def _elements(info: TensorInfo) -> int | None:
    return None if info.shape is None else known_product(info.shape)


def _count_other(
    weights: _Weights, node: NodeInfo, added: tuple[str, Trace] | None
) -> LayerParams | None:
    """Rows for Gemm, MatMul (+ bias Add), Conv, Gather-from-a-table and normalisation nodes.

    Only weights count (initializers, Constant outputs, and tensors computed from them only):
    a MatMul of two activations (attention scores) holds no parameters.
    """
    graph = weights.graph
    # onnxruntime's FusedConv / FusedGemm (its saved extended level): the Conv's or Gemm's
    # weights, at the same inputs
    op = node.op_type if node.domain in ("", "ai.onnx") \
        else ONNX_OP_OF.get(node.op_type) if node.domain == CONTRIB_DOMAIN else None
    kind = None if op is None else _KINDS.get(op)
    fused = _FUSED.get(op_key(node))
    if fused is not None:
        op = node.op_type
        kind, names = fused
    elif op is None or kind is None or (
            op == "Einsum" and einsum_weight_transposed(node) is None
            and not einsum_grouped_linear(node)):
        return None
    else:
        names = _SLOT_NAMES[op]
    slots: list[SlotCount] = []
    notes: list[str] = []
    traces: dict[str, Trace] = {}
    for position, tensor in enumerate(node.inputs[: len(names)]):
        slot = names[position]
        info = graph.tensor(tensor, node.graph) if tensor else None
        if slot in ("X", "indices") or (slot == "bias" and op == "Gemm" and not gemm_c(node)):
            continue  # (a Gemm with beta=0 adds no C)
        found = weights.of(info)
        if found is None or info is None:
            continue
        if kind == "embedding" and not _float_weight(info, found) \
                and not _dequantized_lookup(weights, node):
            continue  # a Gather from a constant shape or index vector is not an embedding
        traces[slot] = found
        elements = found.elements
        if found.basis is Basis.TRACED:
            notes.append(traced_note(slot, tensor, found))
        # PyTorch keeps BatchNorm's running statistics as buffers, outside parameters().
        buffer = node.op_type == "BatchNormalization" and slot in ("mean", "var")
        slots.append(SlotCount(slot, tensor, elements, 0 if buffer else elements, elements,
                               basis=found.basis, sources=found.sources))
    if kind == "embedding" and len(node.inputs) > 1 and weights.named(
        node.inputs[1], node.graph
    ) and not _read_at_run_time(graph, node.inputs[1], node.graph):
        return None  # a constant table at constant indices: folding left over, not a lookup
    if op in _AFFINE_NORMS and _identity_affine(traces):
        slots = [replaced(slot, pytorch=0, keras=0) for slot in slots]
        notes.append("scale is all ones and bias all zeros: a normalisation without a learned "
                     "affine (PyTorch elementwise_affine=False, Keras scale=False and "
                     "center=False), whose exporter wrote the identity; counted in ONNX only")
    if added is not None and slots:
        name, bias = added
        elements = bias.elements
        slots.append(SlotCount("bias", name, elements, elements, elements,
                               basis=bias.basis, sources=bias.sources))
    if not slots:
        return None
    if node.op_type == "BatchNormalization":
        notes.append("running mean and variance are PyTorch buffers (not parameters); "
                     "Keras counts them (non-trainable weights)")
    blocked = node.domain == NCHWC_DOMAIN
    return LayerParams(
        graph=node.graph, node=node.name, label=node.label, node_index=node.index,
        op_type=node.op_type, kind=kind, slots=tuple(slots), notes=tuple(notes),
        unsupported=MappingProxyType(dict.fromkeys((Convention.PYTORCH, Convention.KERAS),
                                                   _BLOCKED) if blocked else {}),
    )


NCHWC_DOMAIN = "com.microsoft.nchwc"
# onnxruntime's fused normalisations and embeddings (its saved extended level, its transformers
# optimizer): kind, and slot names by input position ("X" and "indices": activations). The
# bias a SkipLayerNormalization adds (input 4), FastGelu's and BiasGelu's (input 1) are the
# bias of the MatMul before them (params_quantized.fused_bias_operand: _bias_adds, and
# quantized_bias where the product is quantized).
_FUSED: Mapping[tuple[str, str], tuple[str, tuple[str, ...]]] = MappingProxyType({
    ("", "SimplifiedLayerNormalization"): ("norm", ("X", "scale")),
    (CONTRIB_DOMAIN, "SkipLayerNormalization"): ("norm", ("X", "X", "scale", "bias")),
    (CONTRIB_DOMAIN, "SkipSimplifiedLayerNormalization"): ("norm", ("X", "X", "scale")),
    (CONTRIB_DOMAIN, "EmbedLayerNormalization"): (
        "embedding", ("indices", "indices", "table", "table", "table", "scale", "bias")),
    # ORT_ENABLE_ALL: a Conv in onnxruntime's channel-blocked layout, its weight reordered
    (NCHWC_DOMAIN, "Conv"): ("conv", ("X", "weight", "bias")),
})
_BLOCKED = ("a Conv in onnxruntime's channel-blocked (NCHWc) layout, as its highest "
            "optimization level saves it (hardware specific): the weight is stored reordered "
            "and padded to whole blocks of channels, so its framework count is not known; "
            "count the model saved below ORT_ENABLE_ALL")


def _read_at_run_time(graph: ModelGraph, name: str, scope: str) -> bool:
    """Whether ``name`` is computed from a model input as well as from stored tensors: the
    position ids of a BERT-style embedding, ``Slice(position_ids, 0, Shape(tokens)[1])``, a
    stored buffer cut to the input's length (the table is a trained weight, looked up)."""
    frontier, seen = [name], {name}
    while frontier and len(seen) < _RUN_TIME_SEARCH:
        tensor = frontier.pop()
        if is_model_input(graph.tensor(tensor, scope)):
            return True
        producer = graph.producer(tensor, scope)
        if producer is None or producer.graph != scope:
            continue
        for operand in producer.inputs:
            if operand and operand not in seen:
                seen.add(operand)
                frontier.append(operand)
    return False


_RUN_TIME_SEARCH = 32  # tensors looked at upward from a Gather's indices


# normalisations whose scale and bias are an optional learned affine (BatchNorm's are not)
_AFFINE_NORMS = frozenset({"LayerNormalization", "InstanceNormalization", "GroupNormalization"})


def _identity_affine(traces: Mapping[str, Trace]) -> bool:
    """Whether a normalisation's scale is Constant nodes of all ones and its bias, if any, of
    all zeros: what the exporter writes for a norm without an affine. An initializer of ones
    is a module's parameter (``ln.weight`` of an untrained or frozen LayerNorm): counted."""
    scale, bias = traces.get("scale"), traces.get("bias")
    return scale is not None and scale.basis is Basis.CONSTANT and all_one(scale) \
        and (bias is None or (bias.basis is Basis.CONSTANT and all_zero(bias)))


# what reads a quantized table's rows as the quantized values they are (input 0): a
# DequantizeLinear, or a product over quantized operands that scales its result back
# (quantize_dynamic's MatMulInteger, a QOperator model's QGemm and QLinearMatMul: a greedy
# decoder's embedded argmax goes straight into the step's product; quantize_dynamic's
# ConvInteger, QLinearConv: a TTS encoder's embedding goes into its first Conv)
_DEQUANTIZING_READERS = frozenset({("", "DequantizeLinear"), ("", "MatMulInteger"),
                                   ("", "QLinearMatMul"), (CONTRIB_DOMAIN, "QGemm"),
                                   ("", "ConvInteger"), ("", "QLinearConv")})


def _dequantized_lookup(weights: _Weights, node: NodeInfo) -> bool:
    """A Gather from an integer table whose rows are all dequantized after the lookup (through
    layout ops): onnxruntime's quantize_dynamic keeps an Embedding's table as uint8 and puts
    DequantizeLinear after the Gather (tf2onnx's Keras export reads the rows twice: each read
    is dequantized), or feeds the rows to a quantized product as its quantized input
    (:data:`_DEQUANTIZING_READERS`). The table is the float layer's weight."""
    graph = weights.graph
    frontier = [(name, node.graph) for name in node.outputs[:1] if name]
    seen = 0
    while frontier and seen < 16:
        tensor, scope = frontier.pop()
        consumers = graph.consumers_of(tensor, scope)
        if not consumers or tensor in weights.graph_outputs.get(scope, ()):
            return False
        for consumer in consumers:
            seen += 1
            key = op_key(consumer)
            if consumer.inputs[:1] != (tensor,) or (key[0] and key not in _DEQUANTIZING_READERS):
                return False
            if consumer.op_type in LAYOUT_OPS and len(consumer.outputs) == 1:
                frontier.append((consumer.outputs[0], consumer.graph))
            elif key not in _DEQUANTIZING_READERS:
                return False  # a row read as it is stored: a table of ints, not weights
    return not frontier and seen > 0


def _float_weight(info: TensorInfo, found: Trace) -> bool:
    if info.dtype is not None:
        return info.dtype in _FLOAT_TYPES
    if "DequantizeLinear" in found.via:
        return True
    return bool(found.sources) and all(s.dtype in _FLOAT_TYPES for s in found.sources)


# Between a layer and its bias Add: the layout ops (params_types.LAYOUT_OPS), the
# QuantizeLinear + DequantizeLinear pair that onnxruntime's QDQ quantizer puts on every
# activation, and a Cast (torch's TorchScript export of a Keras 3 Dense, torch backend,
# casts the product to float before adding the bias)
_BIAS_PATH_OPS = LAYOUT_OPS | {"QuantizeLinear", "DequantizeLinear", "Cast"}


def _bias_adds(weights: _Weights) -> dict[str, tuple[str, Trace]]:
    """MatMul or bias-less Conv node id -> the weight added to its output (its bias): the
    name the Add (or the fused op) reads, and what it is made of.

    The Add is the only consumer of the layer's output, directly or through a chain of layout
    ops each with one consumer. PyTorch exports nn.Linear on a 3-D input as MatMul + Add, and
    tf2onnx a Dense as MatMul, Reshape, Add: without this the bias would be missing.
    """
    graph = weights.graph
    found: dict[str, tuple[str, Trace]] = {}
    for node in graph.iter_nodes(frozenset({"MatMul", "Conv", "Einsum"})):
        if len(node.outputs) != 1 or node.domain not in ("", "ai.onnx") or (
                node.op_type == "Einsum" and einsum_weight_transposed(node) is None
                and not einsum_grouped_linear(node)):
            continue
        if node.op_type == "Conv" and len(node.inputs) > 2 and node.inputs[2]:
            continue  # the Conv has its own bias
        if not any(weights.named(t, node.graph) for t in node.inputs if t):
            continue
        add = _single_consumer_through_layout(weights, node.outputs[0], node.graph,
                                              through=_BIAS_PATH_OPS, limit=8)
        operand = None if add is None else fused_bias_operand(add[0])
        if add is not None and operand is not None:  # the fused op adds the bias
            bias = weights.named(operand, add[0].graph) if operand else None
            if bias is not None:
                found[node.id] = (operand, bias)
            continue
        if add is None or add[0].op_type != "Add":
            continue
        others = [t for t in add[0].inputs if t != add[1]]
        if len(others) != 1:
            continue
        bias = weights.named(others[0], add[0].graph)
        if bias is not None and not _scalar_on_many(graph, node, bias):
            found[node.id] = (others[0], bias)
    return found


def _scalar_on_many(graph: ModelGraph, node: NodeInfo, bias: Trace) -> bool:
    """Whether ``bias`` is one number added to a product of more than one output feature: an
    epsilon before a Log (DeepFilterNet's ERB features: ``log(x @ erb_fb + 1e-10)``), not a
    layer's bias, which holds one value per feature (a Linear of one output has one)."""
    if bias.elements != 1:
        return False
    info = graph.tensor(node.outputs[0], node.graph)
    shape = None if info is None else info.shape
    axis = 1 if node.op_type == "Conv" else -1
    width = shape[axis] if shape is not None and len(shape) >= 2 else None
    return isinstance(width, int) and width > 1


def _single_consumer_through_layout(
    weights: _Weights, tensor: str, scope: str, limit: int = 4,
    through: frozenset[str] = LAYOUT_OPS,
) -> tuple[NodeInfo, str] | None:
    """The one node reading ``tensor``, an output of a node in ``scope``, after at most
    ``limit`` single-consumer ops of ``through`` (layout ops), and the tensor it reads; None
    when the value fans out or is a graph output on the way."""
    graph = weights.graph
    for _ in range(limit + 1):
        # a node's output is defined in the node's own scope: no TensorInfo needed
        if not tensor or tensor in weights.graph_outputs.get(scope, ()):
            return None
        consumers = graph.consumers_of(tensor, scope)
        if len(consumers) != 1:
            return None
        consumer = consumers[0]
        if consumer.op_type not in through or consumer.domain not in ("", "ai.onnx"):
            return consumer, tensor
        if consumer.inputs[0] != tensor or len(consumer.outputs) != 1:
            return None
        tensor, scope = consumer.outputs[0], consumer.graph
    return None


# --- normalisation written out as elementwise ops ---------------------------------------------

# Ops a layer normalisation is written with; the search for its gamma and beta stays on them.
# the statistics of a written-out normalisation: ReduceMean, or GlobalAveragePool (tf2onnx
# writes Keras 3's LayerNormalization over the last axis of [batch, time, C] so)
_MEAN_OPS = frozenset({"ReduceMean", "GlobalAveragePool"})
_NORM_OPS = _MEAN_OPS | {
    "ReduceSumSquare", "Sub", "Mul", "Pow", "Add", "Sqrt", "Div", "Reciprocal",
    "Neg", "Cast", "Squeeze", "Unsqueeze",
    # asteroid's gLN (Conv-TasNet, DPRNN) normalises [batch, channels, time] over both
    # axes and applies gamma and beta per channel after moving channels last
    "Transpose",
}
_ROOT_OPS = frozenset({"Sqrt", "Reciprocal", "Pow"})
_NORM_CORES = frozenset({"BatchNormalization", "InstanceNormalization",
                         "LayerNormalization", "GroupNormalization"})
_MAX_NORM_NODES = 24


def _decomposed_norms(weights: _Weights) -> dict[str, LayerParams]:
    """Layer normalisations that an exporter wrote out, keyed by the node that holds the row.

    Two shapes, both seen in tf2onnx 1.17 output, and the moments form of older torch.onnx:
    - a normalisation node over computed statistics or without its own scale
      (Keras LayerNormalization becomes Reshape, BatchNormalization over a ReduceMean and a
      ReduceSumSquare, Reshape; tf2onnx's layer-norm rewriter an InstanceNormalization of
      ones and zeros), followed by Mul gamma and Add beta;
    - ReduceMean, Sub, Pow or Mul, ReduceMean, Add eps, Sqrt, Div or Reciprocal, Mul gamma,
      Add beta (GlobalAveragePool for ReduceMean: tf2onnx's Keras 3 LayerNormalization,
      x · (gamma / sqrt(var + eps)) + (beta - mean · that)).
    Either is one LayerNormalization with gamma and beta, as Keras and PyTorch count it.
    """
    graph = weights.graph
    rows: dict[str, LayerParams] = {}
    for node in graph.iter_nodes(_NORM_CORES | _MEAN_OPS | {"Mul"}):
        if node.domain not in ("", "ai.onnx") or not node.outputs:
            continue
        if node.op_type == "Mul":
            folded = _folded_batch_norm(weights, node)
            if folded is not None:
                rows[node.id] = folded
            continue
        if node.op_type in _MEAN_OPS:
            found = _moments_affine(weights, node)
            how = (f"{node.op_type}, Sub, {node.op_type}, Add eps, Sqrt, Div or Reciprocal, "
                   "Mul gamma, Add beta")
        elif _is_bare_norm(weights, node):
            found = _affine_tail(weights, node.outputs[0], node.graph)
            how = (f"{node.op_type} over computed statistics or without its own scale, "
                   "then Mul gamma and Add beta")
        else:
            continue
        if found is None:
            continue
        gamma, beta = found
        slots = tuple(
            SlotCount(slot, name, t.elements, t.elements, t.elements,
                      basis=t.basis, sources=t.sources)
            for slot, (name, t) in (("scale", gamma), ("bias", beta))
        )
        rows[node.id] = LayerParams(
            graph=node.graph, node=node.name, label=node.label, node_index=node.index,
            op_type="LayerNormalization", kind="norm", slots=slots,
            notes=(f"a LayerNormalization written out as elementwise ops ({how}): counted "
                   "as one layer with gamma and beta, as Keras and PyTorch count it",),
        )
    return rows


# tf.nn.batch_normalization's name scope: tf2onnx keeps TensorFlow's node names.
_TF_BATCHNORM_SCOPE = re.compile(r"(^|/)batchnorm/mul(_\d+)?$")


def _folded_batch_norm(weights: _Weights, mul: NodeInfo) -> LayerParams | None:
    """A Keras BatchNormalization that tf2onnx wrote folded, as TensorFlow computes it in
    inference: x · (gamma / sqrt(var + eps)) + (beta - mean · that), one Mul and one Add of
    per-channel vectors named by tf.nn.batch_normalization's scope (``.../batchnorm/mul_1``).
    The file stores 2·C; Keras counted gamma, beta, moving mean and variance (4·C)."""
    if not _TF_BATCHNORM_SCOPE.search(mul.name):
        return None
    data = [t for t in mul.inputs if t and weights.named(t, mul.graph) is None]
    if len(data) != 1:
        return None
    scale = _vector_operand(weights, mul, data[0])
    add = _single_consumer_through_layout(weights, mul.outputs[0], mul.graph, limit=0)
    if scale is None or add is None or add[0].op_type != "Add":
        return None
    shift = _vector_operand(weights, add[0], add[1])
    if shift is None or shift[1].elements != scale[1].elements:
        return None
    slots = tuple(
        SlotCount(slot, name, t.elements, t.elements,
                  None if t.elements is None else 2 * t.elements,
                  basis=t.basis, sources=t.sources)
        for slot, (name, t) in (("scale", scale), ("bias", shift))
    )
    return LayerParams(
        graph=mul.graph, node=mul.name, label=mul.label, node_index=mul.index,
        op_type="BatchNormalization", kind="norm", slots=slots,
        notes=("a BatchNormalization folded by the converter into x·scale + shift "
               "(tf.nn.batch_normalization in inference): the file stores 2·C; Keras counted "
               "gamma, beta, moving mean and moving variance (4·C), PyTorch weight and bias "
               "(2·C)",),
    )


def _is_bare_norm(weights: _Weights, node: NodeInfo) -> bool:
    """A normalisation node whose own scale is not a weight, or a BatchNormalization over
    statistics computed in the graph (the training-mode form Keras uses for layer norms)."""
    def weight_at(position: int) -> bool:
        tensor = node.inputs[position] if len(node.inputs) > position else ""
        return bool(tensor) and weights.named(tensor, node.graph) is not None

    if node.op_type == "BatchNormalization" and len(node.inputs) > 3:
        return not weight_at(3) or not weight_at(1)
    return not weight_at(1)


_Affine = tuple[tuple[str, Trace], tuple[str, Trace]]


def _affine_tail(weights: _Weights, tensor: str, scope: str) -> _Affine | None:
    """Mul by a weight, then Add of a weight, after at most a few layout ops."""
    mul = _single_consumer_through_layout(weights, tensor, scope)
    if mul is None or mul[0].op_type != "Mul":
        return None
    gamma = _vector_operand(weights, mul[0], mul[1])
    if gamma is None or not mul[0].outputs:
        return None
    add = _single_consumer_through_layout(weights, mul[0].outputs[0], mul[0].graph)
    if add is None or add[0].op_type not in ("Add", "Sub"):
        return None
    beta = _vector_operand(weights, add[0], add[1])
    return None if beta is None else (gamma, beta)


def _vector_operand(weights: _Weights, node: NodeInfo, other: str) -> tuple[str, Trace] | None:
    """The weight operand of a binary node (its other operand being ``other``), when it is a
    float vector of more than one element (an epsilon or a constant 2 is not a parameter)."""
    graph = weights.graph
    operands = [t for t in node.inputs if t and t != other]
    if len(operands) != 1:
        return None
    info = graph.tensor(operands[0], node.graph)
    found = weights.of(info)
    if found is None or info is None or not _float_weight(info, found):
        return None
    if found.elements is None or found.elements < 2:
        return None
    return operands[0], found


def _moments_affine(weights: _Weights, mean: NodeInfo) -> _Affine | None:
    """Gamma and beta of a normalisation written from a ReduceMean of ``x``: walk forward on
    elementwise ops only; the region must read ``x`` again, take a root (Sqrt, Reciprocal or
    Pow) and hold a Mul by a weight vector followed by an Add of one."""
    graph = weights.graph
    x = mean.inputs[0] if mean.inputs else ""
    if not x or weights.named(x, mean.graph) is not None:
        return None
    region: list[NodeInfo] = []
    frontier = [mean.outputs[0]]
    seen = {mean.id}
    gamma: tuple[str, Trace] | None = None
    # a shift met before the scale: tf2onnx's Keras 3 LayerNormalization adds beta to
    # -mean · (gamma · rstd), reached from the mean before gamma is
    early: tuple[str, Trace] | None = None
    found: _Affine | None = None
    while frontier and len(region) < _MAX_NORM_NODES:
        tensor = frontier.pop(0)
        for consumer in graph.consumers_of(tensor, mean.graph):
            if consumer.id in seen or consumer.op_type not in _NORM_OPS:
                continue
            seen.add(consumer.id)
            region.append(consumer)
            if consumer.op_type == "Mul" and gamma is None:
                gamma = _vector_operand(weights, consumer, tensor)
                if gamma is not None and early is not None:
                    found = (gamma, early)
            if consumer.op_type in ("Add", "Sub") and found is None:
                beta = _vector_operand(weights, consumer, tensor)
                if beta is not None and gamma is None:
                    early = early or beta  # the walk stops past it, as past the beta below
                    continue
                if beta is not None and gamma is not None:
                    # the root may come later in the walk: Keras's InstantLayerNorm (DTLN)
                    # subtracts the mean twice, one Sub for the square, one for the Div
                    found = (gamma, beta)
                    continue
            frontier.extend(t for t in consumer.outputs if t)
        if found is not None and any(n.op_type in _ROOT_OPS for n in region):
            break
    if found is None:
        return None
    reads_x = any(x in n.inputs for n in region)
    has_root = any(n.op_type in _ROOT_OPS for n in region)
    return found if reads_x and has_root else None


def _uncounted(
    graph: ModelGraph, counted: Container[tuple[str, str]],
    main_initializers: Iterable[TensorProto] | None,
) -> tuple[int, int]:
    """Initializers that no parameterised node reads: constants, not parameters."""
    tensors = elements = 0
    for scope in graph.graphs():
        if scope == "main" and main_initializers is not None:
            # only the uncounted ones are described (a node output that shadows an initializer
            # makes it no initializer: TensorInfo says which)
            names = (t.name for t in main_initializers)
            found = (graph.tensor(n, scope) for n in dict.fromkeys(names)
                     if (scope, n) not in counted)
            infos = [info for info in found if info is not None and info.graph == scope]
        else:
            infos = list(graph.tensors(scope).values())
        for info in infos:
            if info.is_initializer and (scope, info.name) not in counted:
                tensors += 1
                elements += _elements(info) or 0
    return tensors, elements


# A product's or a convolution's weight and bias operands: what a model saved without its
# weights reads from graph inputs there
_WEIGHT_OPERANDS: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "MatMul": (1,), "Gemm": (1, 2), "Conv": (1, 2), "ConvTranspose": (1, 2)})


# what an exporter that does not fold constants puts between a weight and its product
_WEIGHT_VIEWS = frozenset({"Identity", "Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze"})


def _weight_inputs(
    graph: ModelGraph, counted: Container[tuple[str, str]]
) -> tuple[tuple[str, int | None], ...]:
    """(name, elements) of the model's inputs with no stored value that a MatMul, Gemm or Conv
    reads as its weight or bias, or that an Add adds to such a node's result: a model saved
    without its weights (torch's ``export_params=False``) has its values given at run time.
    A recurrent slot's are counted by their declared shapes; these are not. Only inputs of a
    fully known shape, and only in a model where no such node reads a stored weight: an input
    a model is fed at run time as data (an attention's memory) has a batch or a length."""
    found: dict[str, int | None] = {}

    def stored(name: str) -> bool:
        """Whether ``name`` (through views) is stored; notes it when it is such an input."""
        name = graph.through(name, "main", _WEIGHT_VIEWS) if name else name
        info = graph.tensor(name) if name else None
        if info is None or info.graph != "main":
            return False
        if info.is_constant:
            return True
        if info.is_graph_input and not info.is_initializer and ("main", name) not in counted \
                and info.shape is not None and all(isinstance(d, int) for d in info.shape):
            found[name] = known_product(info.shape)
        return False

    ids: set[str] = set()  # the products, read one at a time: most models stop at the first
    for node in graph.iter_nodes(frozenset(_WEIGHT_OPERANDS)):
        if node.graph != "main":
            continue
        if any(stored(node.inputs[k]) for k in _WEIGHT_OPERANDS[node.op_type]
               if k < len(node.inputs)):
            return ()  # the model stores its weights: an input a product reads is data
        ids.add(node.id)
    if not found:
        return ()
    for node in graph.iter_nodes(frozenset({"Add"})):
        if node.graph != "main" or len(node.inputs) != 2:
            continue
        for k, operand in enumerate(node.inputs):
            other = graph.producer(node.inputs[1 - k], node.graph)
            if other is not None and other.id in ids and stored(operand):
                return ()
    return tuple(found.items())


# --- budgets ----------------------------------------------------------------------------------


def check_budgets(
    model: ModelParams,
    *,
    max_params: int | None = None,
    max_layer_params: int | None = None,
    layer_limits: Mapping[str, int] | None = None,
    expect_params: int | None = None,
    convention: Convention = Convention.ONNX,
) -> tuple[BudgetFailure, ...]:
    """Every budget the model breaks, counted in ``convention``.

    The keyword names follow the ``[tool.archlint.params]`` keys (max-params,
    max-layer-params, layer-limits, expect-params, convention). ``layer_limits`` maps a glob
    (fnmatch, matched against the node name and against ``graph/label``) to a maximum.
    A count that is unknown or that the convention cannot represent fails the check it is
    needed for: a budget that cannot be verified must not pass silently in CI.
    """
    failures: list[BudgetFailure] = []
    conv = convention.title
    total = model.total(convention)
    if max_params is not None or expect_params is not None:
        unknown = model.missing(convention)
        if unknown:
            labels = ", ".join(layer.label for layer in unknown)
            for check, limit in (("max-params", max_params), ("expect-params", expect_params)):
                if limit is not None:
                    failures.append(BudgetFailure(
                        check, model.path,
                        f"cannot check {check}={limit:,}: the {conv} count of {labels} is "
                        "unknown or not representable", limit, None,
                    ))
        elif total is not None:  # always known when no row is missing
            if max_params is not None and total > max_params:
                failures.append(BudgetFailure(
                    "max-params", model.path,
                    f"{total:,} {conv} parameters exceed max-params={max_params:,} "
                    f"by {total - max_params:,}", max_params, total,
                ))
            if expect_params is not None and total != expect_params:
                diff = total - expect_params
                more = f"{diff:,} more" if diff > 0 else f"{-diff:,} fewer"
                failures.append(BudgetFailure(
                    "expect-params", model.path,
                    f"expected {expect_params:,} {conv} parameters, found {total:,} ({more}): "
                    "a layer may have been dropped or duplicated by the export",
                    expect_params, total,
                ))
    limits: list[tuple[str, str, int]] = []
    if max_layer_params is not None:
        limits.append(("max-layer-params", "*", max_layer_params))
    limits.extend(("layer-limits", glob, limit) for glob, limit in (layer_limits or {}).items())
    for check, glob, limit in limits:
        for layer in model.layers:
            if not _matches(layer, glob):
                continue
            count = layer.total(convention)
            where = f"{layer.op_type} {layer.label!r}"
            rule = "max-layer-params" if check == "max-layer-params" else f"limit {glob!r}"
            if count is None:
                failures.append(BudgetFailure(
                    check, model.path,
                    f"cannot check {rule}={limit:,} on {where}: its {conv} count is unknown "
                    "or not representable", limit, None, layer.label,
                ))
            elif count > limit:
                failures.append(BudgetFailure(
                    check, model.path,
                    f"{where} has {count:,} {conv} parameters, over {rule}={limit:,} "
                    f"by {count - limit:,}", limit, count, layer.label,
                ))
    return tuple(failures)


def unmatched_limits(models: Iterable[ModelParams], layer_limits: Mapping[str, int]) -> list[str]:
    """Globs that match no layer in any of the models (probably a typo in the config)."""
    rows = [layer for model in models for layer in model.layers]
    return [glob for glob in layer_limits if not any(_matches(row, glob) for row in rows)]


def _matches(layer: LayerParams, glob: str) -> bool:
    return any(fnmatch.fnmatchcase(candidate, glob)
               for candidate in (layer.node, layer.label, layer.path) if candidate)


_COUNT = re.compile(r"^\s*(\d[\d_,]*)(?:\.(\d+))?\s*([kKmMgG]?)\s*$")
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_count(text: str | int) -> int:
    """``1576960``, ``1,576,960``, ``1_576_960``, ``1.5M``, ``200k`` -> int.

    Raises ValueError with a message fit for a one-line usage error.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"parameter count must not be negative, got {text}")
        return text
    match = _COUNT.match(str(text))
    if match is None:
        raise ValueError(f"not a parameter count: {text!r} (e.g. 1576960, 1_576_960 or 1.5M)")
    whole, fraction, suffix = match.groups()
    scale = _SCALE[suffix.lower()]
    digits = whole.replace("_", "").replace(",", "")
    value = int(digits) * scale
    if fraction:
        scaled = int(fraction) * scale
        if scaled % 10 ** len(fraction):
            raise ValueError(f"not a whole parameter count: {text!r}")
        value += scaled // 10 ** len(fraction)
    return value
