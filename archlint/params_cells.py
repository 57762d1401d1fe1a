"""Parameter rows for recurrent layers recognised as a Loop cell, an unrolled chain or a step.

Their weights are Keras-shaped tensors (kernel ``[I, g·H]``, recurrent kernel ``[H, g·H]``,
bias ``[g·H]`` or ``[2, g·H]``) or a traced cell's (``[g·H, I]``, ``[g·H, H]``, b_ih and b_hh),
found by archlint/cells/. Each stored tensor is one entry (slot W, R or B), so a tensor that
another node reads too is counted once (archlint/params.py deduplicates by tensor).

Conventions, with stored bias elements b:
  ONNX     what the file stores.
  Keras    the Keras layer that computes this cell: kernel + recurrent kernel + its biases,
           SimpleRNN and LSTM one bias per gate (g·H), GRU reset_after=False 3·H,
           GRU reset_after=True 6·H (input and recurrent bias); no stored bias: use_bias=False.
  PyTorch  nn.RNN / nn.LSTM / nn.GRU (bias=True: b_ih and b_hh, 2·g·H); no stored bias:
           bias=False. A GRU with reset_after=False has no nn.GRU equivalent (nn.GRU applies the
           reset gate after the recurrent product). A PyTorch export's one stored bias (g·H: a
           hand-written cell's one Linear over cat([x, h]), torchaudio's _CustomLSTM) is what
           its module holds, and torch's sum(p.numel()) counts it once.
A two-gate cell (MGU: speechbrain's LiGRU, flax's MGUCell) is no Keras or PyTorch layer: both
count what is stored, as the module that computes it does.
"""

from __future__ import annotations

from types import MappingProxyType

from archlint.cells import CellFacts, WeightSource
from archlint.exporter import is_torch_exporter
from archlint.onnx_protos import TensorProto
from archlint.params_types import Convention, LayerParams, SlotCount
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.weight_sources import Basis, Source

__all__ = ["count_cell_layer"]

_HOW = {Recognition.UNROLLED: "an unrolled chain of per-step MatMuls",
        Recognition.STEP: "one step per call, its state read from the model's inputs and "
                          "returned through its outputs"}
_KERAS_NAMES = {"RNN": "SimpleRNN", "GRU": "GRU", "LSTM": "LSTM", "MGU": "two-gate (MGU)"}
_TORCH_NAMES = {"RNN": "nn.RNN", "GRU": "nn.GRU", "LSTM": "nn.LSTM"}


def count_cell_layer(layer: RecurrentLayer) -> LayerParams:
    """The row of a recognised cell: one entry per stored weight tensor."""
    cell = layer.cell
    if cell is None:
        raise ValueError(f"{layer.label} is not a recognised cell")
    unsupported: dict[Convention, str] = {}
    gh = cell.gates * cell.hidden_size
    stored_bias = cell.bias_elements
    keras_bias: int | None
    torch_bias: int | None
    if stored_bias == 0:
        keras_bias = torch_bias = 0
    elif cell.cell == "MGU":
        keras_bias = torch_bias = stored_bias  # no framework layer: its module's own count
    elif cell.bias_layout in ("one", "two"):
        keras_bias = 2 * gh if cell.cell == "GRU" and cell.reset_after else gh
        torch_bias = stored_bias if _module_bias(layer) else 2 * gh
    else:
        keras_bias = torch_bias = None
        reason = (f"the stored bias ({stored_bias} elements) is neither g·H={gh} nor 2·g·H="
                  f"{2 * gh}: no framework layer holds it")
        unsupported[Convention.KERAS] = reason
        unsupported[Convention.PYTORCH] = reason
    if cell.cell == "GRU" and cell.reset_after is False:
        unsupported[Convention.PYTORCH] = (
            "a GRU with reset_after=False (the reset gate applied before the recurrent "
            "product) has no PyTorch equivalent: nn.GRU applies it after")
    if cell.peephole:
        unsupported[Convention.PYTORCH] = ("a peephole LSTM has no PyTorch equivalent: nn.LSTM "
                                           "has no peephole weights")
    if cell.projection:
        unsupported[Convention.KERAS] = ("an LSTM with projection has no Keras equivalent: "
                                         "keras.layers.LSTM has no projection weights")

    slots: list[SlotCount] = []
    # the projection W_hr is a recurrent weight: nn.LSTM(proj_size) counts it as weight_hr
    for slot, sources in (("W", cell.kernel), ("R", cell.recurrent_kernel),
                          ("R", cell.projection)):
        slots.extend(SlotCount(slot, s.tensor, s.elements, s.elements, s.elements,
                               sources=_stored(s)) for s in sources)
    slots.extend(_bias_entries(cell.bias, stored_bias, torch_bias, keras_bias))
    # one bias stored again per step (quantized with each step's scale): ONNX only
    slots.extend(SlotCount("B", s.tensor, s.elements, 0, 0, sources=_stored(s))
                 for s in cell.bias_copies)
    # a weight stored again per step (a folded per-step Transpose of it): ONNX only
    recurrent = {s.shape for s in (*cell.recurrent_kernel, *cell.projection)}
    slots.extend(SlotCount("R" if s.shape in recurrent or _recurrent_slice(cell, s) else "W",
                           s.tensor, s.elements, 0, 0, sources=_stored(s))
                 for s in cell.weight_copies)
    # the diagonal weights are a Keras 2 PeepholeLSTMCell's too (TF1's LSTMCell counts them)
    slots.extend(SlotCount("P", s.tensor, s.elements, s.elements, s.elements,
                           sources=_stored(s)) for s in cell.peephole)

    return LayerParams(
        graph=layer.node.graph, node=layer.node.name, label=layer.node.label,
        node_index=layer.node.index, op_type=cell.cell, kind="recurrent", slots=tuple(slots),
        direction=cell.direction, num_directions=layer.num_directions,
        input_size=cell.input_size, hidden_size=None, implied_hidden_size=cell.hidden_size,
        projection_size=cell.projection_size,
        linear_before_reset=layer.linear_before_reset,
        unsupported=MappingProxyType(unsupported), notes=_notes(layer, cell),
        recognised_as=layer.recognised_as.value,
    )


def _recurrent_slice(cell: CellFacts, source: WeightSource) -> bool:
    """A gate slice of the recurrent kernel (``[H, k·H]``, Keras's layout), where H is not
    also the input size."""
    shape = source.shape or ()
    return cell.sliced_copies and cell.input_size != cell.hidden_size \
        and len(shape) > 0 and shape[0] == cell.hidden_size


def _module_bias(layer: RecurrentLayer) -> bool:
    """Whether the PyTorch column counts the one stored bias as stored: a PyTorch export's
    cell holds one where its module has one (sum(p.numel()) counts what the module has); for
    any other exporter the column is the nn.RNN / nn.LSTM / nn.GRU the layer stands for. An
    LSTM with projection is always nn.LSTM(proj_size=P): torch exports it only converted
    (icefall's LSTMP sums b_ih + b_hh into one tensor for the export), and what was trained,
    and what torch counts, is the nn.LSTM with both biases."""
    cell = layer.cell
    return cell is not None and cell.bias_layout == "one" and not cell.projection \
        and is_torch_exporter(layer.producer_name)


def _bias_entries(
    sources: tuple[WeightSource, ...], stored: int | None, torch: int | None,
    keras: int | None,
) -> list[SlotCount]:
    """Spread the framework's bias count over the stored tensors in proportion (rounded so
    that the shares add up to the count: Keras's one [H] bias over torch's b_ih and b_hh)."""
    torch_shares, keras_shares = _shares(sources, stored, torch), _shares(sources, stored, keras)
    return [SlotCount("B", source.tensor, source.elements, torch_share, keras_share,
                      sources=_stored(source))
            for source, torch_share, keras_share in zip(sources, torch_shares, keras_shares,
                                                        strict=True)]


def _stored(source: WeightSource) -> tuple[Source]:
    """The tensor as the report lists it: where it is defined (a Loop body's own initializer
    is not the main graph's), so its type and bytes are found and it is counted once."""
    return (Source(source.graph, source.tensor, source.elements,
                   Basis.CONSTANT if source.constant else Basis.INITIALIZER, source.dtype,
                   source.shape),)


def _shares(
    sources: tuple[WeightSource, ...], stored: int | None, total: int | None
) -> list[int | None]:
    if stored is None or total is None or stored == 0 \
            or any(source.elements is None for source in sources):
        return [None] * len(sources)
    shares: list[int | None] = []
    done = given = 0
    for source in sources:
        done += source.elements or 0
        share = done * total // stored - given
        shares.append(share)
        given += share
    return shares


def _notes(layer: RecurrentLayer, cell: CellFacts) -> tuple[str, ...]:
    what = _KERAS_NAMES[cell.cell]
    if cell.cell == "GRU" and cell.reset_after is not None:
        what += f" (reset_after={cell.reset_after})"
    shape = f"I={cell.input_size}, H={cell.hidden_size}"
    if cell.projection_size is not None:
        what, shape = f"{what} with projection", f"{shape}, P={cell.projection_size}"
    steps = f", {cell.steps} steps" if cell.how == "unrolled" and cell.steps is not None \
        else ""
    article = "an" if what.startswith("LSTM") else "a"
    if layer.in_stack:
        how = f"one of the cells a {layer.loop_op} body computes (a stacked cell)"
    elif layer.recognised_as is Recognition.LOOP_CELL:
        how = f"a {layer.loop_op} whose body computes the cell"
    elif layer.recognised_as is Recognition.STEP and layer.in_loop_body:
        how = "one step per iteration of the enclosing Loop, its state carried by the loop"
    elif cell.fed_back:
        how = (f"{_HOW[layer.recognised_as]}, each step's input computed from the state "
               "before (an autoregressive decoder)")
    else:
        how = _HOW[layer.recognised_as]
    notes = [f"recognised as {layer.recognised_as.value}: {how}, {article} "
             f"{what} step ({shape}, {cell.direction}{steps}); bias layout {cell.bias_layout}"]
    if cell.joint_kernel:
        state = "P" if cell.projection_size is not None else "H"
        notes.append(f"W is one [I+{state}, g·H] kernel over [x_t, h] (TF1's rnn_cell layout, "
                     "or one Linear over torch.cat([x, h])): "
                     f"{cell.input_size * cell.gates * cell.hidden_size} input and "
                     f"{cell.output_size * cell.gates * cell.hidden_size} recurrent weights")
    if cell.projection_size is not None and cell.bias_layout == "one" \
            and is_torch_exporter(layer.producer_name):
        notes.append(f"B: one bias of 4·H={cell.bias_elements}, b_ih + b_hh summed (icefall's "
                     "LSTMP stores them so for the export): PyTorch counts the two of the "
                     f"nn.LSTM(proj_size=P) it was converted from ({2 * (cell.bias_elements or 0)}"
                     "), as torch's sum(p.numel()) does")
    if cell.projection_size is not None:
        kernel = "" if cell.joint_kernel else "the recurrent kernel [P, 4·H] and "
        notes.append(f"R: {kernel}the projection [H, P] "
                     f"({cell.hidden_size * cell.projection_size}): h_t = (o ⊙ tanh c_t) W_hr "
                     f"is P={cell.projection_size} wide and c_t H={cell.hidden_size}, as "
                     "nn.LSTM(proj_size=P) and TF1's LSTMCell(num_proj=P) compute (torch "
                     "exports it only as written out by hand: icefall's LSTMP)")
    if cell.peephole:
        notes.append(f"P: {len(cell.peephole)} peephole weights of [H] each (a peephole LSTM, "
                     "TF1's LSTMCell(use_peepholes=True) or a cell written with them), counted "
                     "in every convention but PyTorch's")
    if cell.cell == "MGU":
        notes.append("a two-gate cell (a minimal gated unit: speechbrain's LiGRU, flax's "
                     "MGUCell): ONNX, Keras and PyTorch have no such layer; every convention "
                     "counts what is stored, as the module that computes it does")
    elif cell.bias_elements == 0:
        notes.append("no stored bias: counted as use_bias=False (Keras) and bias=False "
                     f"({_TORCH_NAMES[cell.cell]})")
    elif _module_bias(layer) and cell.bias_elements is not None:
        notes.append(f"B: one bias of g·H={cell.bias_elements}, as the exported PyTorch module "
                     "holds it (one Linear over cat([x, h]), or one of its two products "
                     "biased): PyTorch counts it once, as torch's sum(p.numel()) does; "
                     f"{_TORCH_NAMES.get(cell.cell, 'the framework layer')} would hold two "
                     f"({2 * cell.bias_elements})")
    if cell.sliced_copies:
        pieces = len(cell.weight_copies) + len(cell.bias_copies)
        notes.append(f"W/R/B: {pieces} gate slice{'s' if pieces > 1 else ''} of the weights and "
                     "biases, stored apart by TensorFlow's constant folding for the step Keras "
                     "computes outside a masked Loop (a GRU with reset_after=False, "
                     "recurrent_dropout): counted in ONNX only; each weight counts once in "
                     "PyTorch and Keras, and the step's products are the cell's (no rows, no "
                     "MACs of their own)")
    elif cell.weight_copies:
        copies = len(cell.weight_copies)
        notes.append(f"W/R: {copies} more stored cop{'ies' if copies > 1 else 'y'} of the "
                     "weights, holding their very values, one per step (constant folding of a "
                     "per-step Transpose or Identity: paddle2onnx, polygraphy): counted in "
                     "ONNX only; each weight counts once in PyTorch and Keras")
    if cell.bias_copies and not cell.sliced_copies:
        copies = len(cell.bias_copies)
        why = ("stored apart by the constant folding that copied the weights"
               if cell.weight_copies else
               "quantized in int32 with each step's input scale (onnxruntime's QDQ format)"
               if any(s.dtype == TensorProto.INT32 for s in cell.bias_copies) else
               "holding their very values (an exporter that stores each step's bias apart: "
               "jax2onnx folds each step's broadcast of it, tflite2onnx gives each step's "
               "Gemm its own C)")
        notes.append(f"B: {copies} more stored cop{'ies' if copies > 1 else 'y'} of the "
                     f"biases, one per step, {why}: counted in ONNX only; each bias counts "
                     "once in PyTorch and Keras")
    return tuple(notes)
