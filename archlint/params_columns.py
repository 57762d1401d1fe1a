"""The columns of the parameter report beyond the counts: output shape, dtype and bytes of the
parameters, multiply-accumulates, and the framework module a row came from.

Pure functions of the counted rows (archlint/params.py) and the views they were counted from;
nothing here counts parameters. The formulas (also in ``MACS_TEXT`` and docs/params.md):

* LSTM ``4·H·(I+H)``, GRU ``3·H·(I+H)``, RNN ``H·(I+H)`` MACs per time step per direction per
  sample (the W and R products; bias adds, gate nonlinearities, peepholes and the elementwise
  state update are not multiply-accumulates of a matrix product and are not counted); an LSTM
  with projection ``4·H·(I+P) + H·P`` (h is P wide, and W_hr projects it);
* Linear (Gemm, MatMul with a constant weight): ``K·N`` (the weight's elements) per row of its
  input, so per time step for a sequence;
* Conv: the weight's elements per output position; known only for given sizes;
* Embedding (Gather of a table): 0, a lookup; normalisation: 0 (elementwise, not counted).

"MACs per step" is for one sample and one time step; with ``--dim seq=100 --dim batch=8`` the
report also gives the MACs of one forward pass at those sizes.

A module is the node-name scope an exporter wrote: torch.onnx names nodes after the module path
(``/encoder/rnn/LSTM``, ``/encoder/rnn/LSTM_1`` for a 2-layer ``nn.LSTM``), tf2onnx after the
Keras name scope. Rows whose names share a scope fold into one module row, as torchinfo shows
one ``nn.LSTM`` with its layers.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onnx import TensorProto, helper

from archlint.graph import ModelGraph, NodeInfo, dtype_name
from archlint.params import LayerParams, ModelParams
from archlint.params_native import geometry_key
from archlint.params_types import replaced
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.shapes import Dim, Shape, is_invented_symbol, known_product

if TYPE_CHECKING:
    from archlint.cells import CellFacts

__all__ = [
    "MACS_TEXT",
    "TRAINABLE_NOTE",
    "ModuleGroup",
    "annotate_model",
    "format_bytes",
    "module_groups",
    "module_of",
]

MACS_TEXT = """\
MACs (multiply-accumulates of the matrix products), per time step, per sample:
  LSTM 4·H·(I+H) per direction   GRU 3·H·(I+H) per direction   RNN H·(I+H) per direction
  LSTM with projection P: 4·H·(I+P) + H·P per direction
  Linear (Gemm/MatMul) K·N per input row    Conv: weight elements per output position
  Embedding 0 (a lookup)    normalisation 0 (elementwise ops are not counted)
With --dim NAME=N, MACs of one pass at those sizes: per-step MACs times the output's leading
dimensions (seq and batch for a recurrent layer; --dim seq=.. and batch=.. also bind a
recurrent layer's own sequence and batch symbols, as in `archlint run`).
"""

TRAINABLE_NOTE = (
    "ONNX has no trainable flag: every stored weight is counted; frozen layers and "
    "non-trainable buffers cannot be told apart from the file"
)

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "MGU": 2}


@dataclass(frozen=True)
class ModuleGroup:
    """Consecutive rows whose node names share a scope (``rnn`` for ``/rnn/LSTM``...)."""

    name: str | None  # None: a row outside any scope, or alone in its scope
    rows: tuple[LayerParams, ...]

    @property
    def folded(self) -> bool:
        """Shown as one module row with its layers below (two rows or more)."""
        return self.name is not None and len(self.rows) > 1


def module_of(node_name: str) -> str | None:
    """``/encoder/rnn/LSTM_1`` -> ``encoder/rnn``; None for a name without a scope."""
    scope, sep, _ = node_name.strip("/").rpartition("/")
    return scope if sep and scope else None


def module_groups(model: ModelParams) -> tuple[ModuleGroup, ...]:
    groups: list[ModuleGroup] = []
    for row in model.layers:
        if groups and row.module is not None and groups[-1].name == row.module:
            groups[-1] = ModuleGroup(row.module, (*groups[-1].rows, row))
        else:
            groups.append(ModuleGroup(row.module, (row,)))
    return tuple(groups)


def format_bytes(count: int | None) -> str:
    """``6,307,840`` -> ``6.02 MiB`` (units of 1024, as Keras's summary computes them)."""
    if count is None:
        return "?"
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GiB"


def annotate_model(
    model: ModelParams,
    graph: ModelGraph,
    layers: Sequence[RecurrentLayer],
    dims: Mapping[str, int] | None = None,
) -> ModelParams:
    """The rows of ``model`` with output shape, dtype, bytes, MACs and module filled in."""
    by_node = {layer.node.id: layer for layer in layers}
    spec_shapes: dict[Hashable, Shape | None] = {}  # Y's spec shape, once per layer shape
    rows = [_annotate(row, graph, by_node.get(f"{row.graph}/{row.node_index}"), dims or {},
                      spec_shapes)
            for row in model.layers]
    return replaced(model, layers=tuple(rows))


def _annotate(
    row: LayerParams, graph: ModelGraph, layer: RecurrentLayer | None, dims: Mapping[str, int],
    spec_shapes: dict[Hashable, Shape | None],
) -> LayerParams:
    shape = _output_shape(row, graph, layer, spec_shapes)
    dtype, size = _dtype_and_bytes(row, graph)
    per_step = _macs_per_step(row)
    layout = 0 if layer is None else layer.layout
    return replaced(
        row, output_shape=shape, param_dtype=dtype, param_bytes=size, macs_per_step=per_step,
        macs=_macs_for(row, shape, per_step, layout, dims) if dims else None,
        module=module_of(row.node),
    )


def _output_shape(
    row: LayerParams, graph: ModelGraph, layer: RecurrentLayer | None,
    spec_shapes: dict[Hashable, Shape | None],
) -> Shape | None:
    """The first output's shape as declared or inferred; for a recurrent node, Y's shape from
    the spec (X's seq and batch symbols kept) where that says more."""
    node = graph.node(f"{row.graph}/{row.node_index}")
    if layer is not None and layer.cell is not None \
            and layer.recognised_as is Recognition.LOOP_CELL:
        return _loop_cell_output(graph, node, layer.cell)
    if layer is not None and layer.cell is not None:
        return _step_output(graph, layer.cell)
    first = next((name for name in node.outputs if name), None)
    info = graph.tensor(first, node.graph) if first else None
    found = None if info is None else info.shape
    if layer is not None and layer.cell is None and "Y" in layer.outputs:
        key = geometry_key(layer)
        if key in spec_shapes:
            spec = spec_shapes[key]
        else:
            spec = spec_shapes[key] = layer.expected_shape("Y")
        if spec is not None and (found is None or _known(spec) > _known(found)):
            return spec
    return found


def _loop_cell_output(graph: ModelGraph, node: NodeInfo, cell: CellFacts) -> Shape | None:
    """A Loop or Scan cell's output: the scan output of its h over the steps when it returns
    the sequence, else its final h (an output H wide); unknown for one cell of several in a
    body, whose node is its first MatMul."""
    shapes = [info.shape for name in node.outputs if name
              and (info := graph.tensor(name, node.graph)) is not None
              and info.shape and info.shape[-1] == cell.output_size]
    rank = 3 if cell.returns_sequence else 2
    shape = next((shape for shape in shapes if len(shape) == rank), None)
    if shape is None and rank == 2 and node.op_type == "Loop":
        # the last step taken from the scan output (a Loop stacks its steps on axis 0),
        # its final h not among the Loop's outputs: tf2onnx's Keras GRU without
        # return_sequences
        shape = next((shape[1:] for shape in shapes if len(shape) == 3), None)
    # a loop's trip count is a symbol onnx's inference made up (unk__N): unknown, shown "?"
    return None if shape is None else tuple(None if is_invented_symbol(d) else d for d in shape)


def _step_output(graph: ModelGraph, cell: CellFacts) -> Shape | None:
    """A single step's or an unrolled chain's output: h of one step, ``[batch, H]``, from the
    shape of its last product (``[batch, g·H]``, the gates of the last step: the first may
    project the whole sequence at once). Unknown for a chain that returns the sequence, whose
    layout the steps' stacking decides."""
    if cell.returns_sequence or not cell.nodes:
        return None
    last = graph.node(max(cell.nodes, key=lambda node_id: graph.node(node_id).index))
    info = graph.tensor(last.outputs[0], last.graph) if last.outputs else None
    if info is None or info.shape is None or len(info.shape) != 2:
        return None
    batch = info.shape[0]
    return (None if is_invented_symbol(batch) else batch, cell.output_size)


def _known(shape: Shape) -> int:
    return sum(d is not None for d in shape)


@functools.cache
def _itemsize(dtype: int | None) -> int | None:
    if dtype is None or dtype == TensorProto.UNDEFINED:
        return None
    try:
        return int(helper.tensor_dtype_to_np_dtype(dtype).itemsize)
    except (KeyError, TypeError, ValueError):
        return None


@functools.cache
def _dtype_label(dtype: int) -> str:
    """``float32``, ``int8`` (numpy's names, as Keras and torchinfo print them)."""
    try:
        return str(helper.tensor_dtype_to_np_dtype(dtype).name)
    except (KeyError, TypeError, ValueError):
        return dtype_name(dtype)


def _dtype_and_bytes(row: LayerParams, graph: ModelGraph) -> tuple[str | None, int | None]:
    """Element type(s) of the row's weights as stored, and the bytes it adds (ONNX convention:
    a tensor another row already counted adds 0)."""
    names: list[str] = []
    total: int | None = 0
    for slot in row.slots:
        stored = [(s.name, s.graph, s.elements) for s in slot.sources] or [
            (slot.tensor, row.graph, slot.elements)]
        for name, scope, elements in stored:
            info = graph.tensor(name, scope)
            dtype = None if info is None else info.dtype
            label = _dtype_label(dtype) if dtype is not None else slot.dtype
            if label is not None and label not in names:
                names.append(label)
            if slot.shared_with is not None or slot.elements == 0:
                continue
            size = _itemsize(dtype)
            if info is not None and info.shape is not None:
                # what the tensor stores: more than its values when they are packed
                # (MatMulNBits's 4-bit B counts K·N values held in fewer, padded bytes)
                elements = known_product(info.shape) if slot.sources else elements
            if total is not None and size is not None and elements is not None:
                total += size * elements
            else:
                total = None
    return ("+".join(names) if names else None), total


def _macs_per_step(row: LayerParams) -> int | None:
    if row.kind == "recurrent":
        hidden = row.hidden_size if row.hidden_size is not None else row.implied_hidden_size
        # DynamicQuantizeLSTM, AttnLSTM: an LSTM's gates
        gates = next((g for op, g in _GATES.items() if row.op_type.endswith(op)), None)
        if gates is None or hidden is None or row.input_size is None or row.num_directions is None:
            return None
        width = hidden if row.projection_size is None else row.projection_size
        # with a projection: the gates read x and h [P], then W_hr [P, H] projects o ⊙ tanh c
        projecting = 0 if row.projection_size is None else hidden * row.projection_size
        return row.num_directions * (gates * hidden * (row.input_size + width) + projecting)
    if row.kind == "linear":
        weight = next((s for s in row.slots if s.slot in ("W", "weight")), None)
        return None if weight is None else weight.elements
    return 0 if row.kind in ("embedding", "norm", "activation") else None


def _resolve(dim: Dim, dims: Mapping[str, int]) -> int | None:
    if isinstance(dim, int):
        return dim
    return dims.get(dim) if isinstance(dim, str) else None


def _macs_for(
    row: LayerParams, shape: Shape | None, per_step: int | None, layout: int,
    dims: Mapping[str, int],
) -> int | None:
    """MACs of one pass with the symbols in ``dims`` bound: per-step MACs times the output's
    positions (all axes but the features: seq·batch for Y ``[seq, D, batch, H]``)."""
    if shape is None:
        return None
    if row.kind == "recurrent":
        if per_step is None or len(shape) != 4:
            return None
        # Y is [seq, D, batch, H] (layout 0) or [batch, seq, D, H] (layout 1): D and H are
        # already in the per-step count
        seq, batch = (shape[1], shape[0]) if layout == 1 else (shape[0], shape[2])
        # as in `archlint run`: seq and batch also bind the layer's own symbols
        bound = {**dims}
        for dim, name in ((seq, "seq"), (batch, "batch")):
            if isinstance(dim, str) and dim not in dims and name in dims:
                bound[dim] = dims[name]
        return _times(per_step, (seq, batch), bound)
    if row.kind == "linear" and per_step is not None:
        return _times(per_step, shape[:-1], dims)
    if row.kind == "conv" and len(shape) > 2:
        weight = next((s for s in row.slots if s.slot in ("W", "weight")), None)
        if weight is None or weight.elements is None:
            return None
        return _times(weight.elements, (shape[0], *shape[2:]), dims)
    return 0 if row.kind in ("embedding", "norm", "activation") else None


def _times(value: int, axes: Iterable[Dim], dims: Mapping[str, int]) -> int | None:
    for dim in axes:
        size = _resolve(dim, dims)
        if size is None:
            return None
        value *= size
    return value
