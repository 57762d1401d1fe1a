"""The parameter row of a native LSTM / GRU / RNN op: W, R, B and P as stored, and what
PyTorch and Keras count for them (the conventions: archlint.params.CONVENTIONS_TEXT).

archlint/params.py dispatches every recurrent layer (:func:`archlint.params.count_recurrent_layer`);
archlint/params_contrib.py builds a contrib op's row on this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.exporter import is_torch_exporter
from archlint.graph import ModelGraph
from archlint.params_types import Convention, LayerParams, SlotCount
from archlint.recurrent import GATES, RecurrentLayer, TensorRef
from archlint.shapes import known_product
from archlint.weight_sources import (
    BROADCAST_OPS,
    Basis,
    Source,
    Trace,
    all_zero,
    stored_externally,
    trace,
)

__all__ = [
    "GeometryMemo",
    "count_native_layer",
    "geometry_key",
    "resolve_recurrent_weights",
    "traced_note",
]

_RECURRENT_WEIGHT_SLOTS = ("W", "R", "B", "P")
# initial states: counted where stored and not zero (a learned initial state, an
# nn.Parameter expanded to the batch), as "S" in the table
_STATE_SLOTS = ("initial_h", "initial_c")


@dataclass(frozen=True)
class _Geometry:
    """What a layer's bound shapes say about its weights: the same for every layer with the
    same op, attributes and shapes (a model with thousands of recurrent nodes usually repeats
    one cell), so it is worked out once per distinct layer shape."""

    elements: Mapping[str, int | None]  # weight slot -> elements, from its shape
    implied: int | None  # H as the weights imply it
    inconsistent: tuple[str, ...]  # weight slots that disagree with the others on H
    input_size: int | None  # W's last dim


# One model's geometries, by layer shape (:func:`geometry_key`); see count_native_layer.
GeometryMemo = dict[Hashable, _Geometry]


def count_native_layer(
    layer: RecurrentLayer,
    traces: Mapping[str, Trace] | None = None,
    *,
    memo: GeometryMemo | None = None,
) -> LayerParams:
    """The row of a layer bound to ONNX op slots (a native op, or a contrib op's view): W, R,
    B and P as stored, and what each framework counts.

    Every weight slot counts, whether an initializer, a Constant or a typed graph input: the
    slot's role makes it a weight. Counts follow the weights (the H they imply), not the
    hidden_size attribute; when they disagree AL201 reports it and the row notes it.
    ``traces`` (slot -> what its tensor is made of, from :func:`archlint.params.count_model`)
    gives computed weights their stored sources and lets an all-zero B count as no bias in the
    frameworks. A recognised cell has no op slots: archlint/params_cells.py counts it.
    ``memo`` (one per model) shares the shape arithmetic between layers of the same shape.
    """
    if layer.cell is not None:
        raise ValueError(f"{layer.label} is a recognised cell, not an op: count_cell_layer")
    geometry = _geometry(layer, memo)
    op = layer.op_type
    lbr = layer.linear_before_reset or 0
    torch_export = is_torch_exporter(layer.producer_name)
    unsupported: dict[Convention, str] = {}
    notes: list[str] = []
    # Keras stores one bias vector per gate where ONNX stores Wb and Rb, except for a GRU with
    # reset_after=True (ONNX linear_before_reset=1), which keeps both.
    keras_bias_halved = not (op == "GRU" and lbr == 1)
    slots: list[SlotCount] = []
    for slot in _RECURRENT_WEIGHT_SLOTS:
        ref = layer.inputs.get(slot)
        if ref is None:
            continue
        found = traces.get(slot) if traces is not None else None
        elements = geometry.elements.get(slot)
        basis = _basis_of(ref.is_constant, ref.is_graph_input)
        sources: tuple[Source, ...] = ()
        if found is not None:
            basis, sources = found.basis, found.sources
            if found.basis is Basis.TRACED:
                elements = found.elements
                notes.append(traced_note(slot, ref.name, found))
        framework = elements  # what PyTorch and Keras hold of it (before Keras's one bias)
        if found is not None and found.copies:
            framework = found.distinct_elements
            notes.append(f"{slot}: {len(found.copies)} of those are stored copies holding the "
                         "values of another (one tensor stored again for each reader: "
                         "nvidia-modelopt): counted in ONNX only; the weight counts once in "
                         "PyTorch and Keras")
        keras = framework
        if slot == "B" and keras_bias_halved and framework is not None:
            keras = framework // 2 if framework % 2 == 0 else None
        pytorch = framework
        if slot == "B" and found is not None and all_zero(found) and torch_export:
            notes.append(
                f"B ({_count_text(elements)} elements) is stored and every element is 0: "
                "torch's exporters write no B for bias=False, so the module has biases, zero "
                "(frozen or set so): counted as biases in every convention")
        elif slot == "B" and found is not None and all_zero(found):
            pytorch = keras = 0
            notes.append(
                f"B ({_count_text(elements)} elements) is stored but every element is 0: "
                "what converters write for use_bias=False (tf2onnx) or bias=False; the ONNX "
                "count keeps it, PyTorch and Keras count 0 (no bias)")
        elif slot == "B" and found is not None and stored_externally(found):
            notes.append(
                f"B {ref.name!r} is stored in an external data file, which archlint does not "
                "read: whether it is all zeros (use_bias=False, bias=False: PyTorch and "
                "Keras would count 0) cannot be told; it is counted as a bias")
        if slot == "P":  # neither framework's LSTM has peepholes (unsupported, below)
            pytorch = keras = None
        slots.append(SlotCount(slot, ref.name, elements, pytorch, keras,
                               basis=basis, sources=sources))

    slots.extend(_stored_states(layer, traces, notes))
    if "P" in layer.inputs:
        reason = "peephole weights P exist in ONNX only"
        unsupported[Convention.PYTORCH] = reason + " (nn.LSTM has none)"
        unsupported[Convention.KERAS] = reason + " (keras.layers.LSTM has none)"
    for convention, reason in _no_framework_layer(layer).items():
        unsupported.setdefault(convention, reason)
    if op == "GRU" and lbr == 0 and torch_export:
        # torch's exporter wrote an nn.GRU without linear_before_reset=1 (the dynamo
        # exporter of torch 2.10 and 2.11 leaves the attribute out: onnxscript#2852): the
        # node computes another GRU (AL311), the parameters are still the module's
        notes.append("linear_before_reset=0 in a PyTorch export, which nn.GRU never computes "
                     "(AL311): PyTorch counts the nn.GRU it was exported from, which holds "
                     "these W, R and both biases")
    elif op == "GRU" and lbr == 0:
        unsupported[Convention.PYTORCH] = (
            "nn.GRU always applies the reset gate after the recurrent product "
            "(linear_before_reset=1); this GRU has linear_before_reset=0"
        )
    if "B" not in layer.inputs:
        notes.append("no B: zero biases; counted as bias=False (PyTorch) and "
                     "use_bias=False (Keras)")

    implied = geometry.implied
    if layer.hidden_size is not None and implied is not None and implied != layer.hidden_size:
        notes.append(f"hidden_size={layer.hidden_size} but the weights imply {implied} (AL201); "
                     "counts follow the weights")
    inconsistent = geometry.inconsistent
    if inconsistent:
        verb = "disagrees" if len(inconsistent) == 1 else "disagree"
        reason = (f"{', '.join(inconsistent)} {verb} with the other weights on H (AL201); "
                  "only the ONNX count is certain")
        for convention in (Convention.PYTORCH, Convention.KERAS):
            unsupported.setdefault(convention, reason)

    node = layer.node
    return LayerParams(
        graph=node.graph, node=node.name, label=node.label, node_index=node.index,
        op_type=op, kind="recurrent", slots=tuple(slots),
        direction=layer.direction, num_directions=layer.num_directions,
        input_size=geometry.input_size if geometry.input_size is not None
        else _input_size_from_count(layer, traces, implied or layer.hidden_size),
        hidden_size=layer.hidden_size, implied_hidden_size=implied,
        linear_before_reset=lbr if op == "GRU" else None,
        unsupported=MappingProxyType(unsupported), notes=tuple(notes),
        recognised_as=layer.recognised_as.value,
    )


# the gate activations each framework's layer computes, per direction (ONNX's f, g, h order)
_TORCH_ACTIVATIONS: dict[str, frozenset[tuple[str, ...]]] = {
    "LSTM": frozenset({("sigmoid", "tanh", "tanh")}), "GRU": frozenset({("sigmoid", "tanh")}),
    "RNN": frozenset({("tanh",), ("relu",)})}


def _no_framework_layer(layer: RecurrentLayer) -> dict[Convention, str]:
    """The conventions with no layer computing this node: an LSTM with input_forget=1 (the
    forget gate is 1 - i: nn.LSTM and keras.layers.LSTM have none such; its weights are
    stored and never used), activations nn.LSTM/GRU/RNN do not compute (fixed sigmoid and
    tanh; nn.RNN tanh or relu, one for both directions), an LSTM whose candidate and cell
    output activations differ (Keras applies one ``activation`` to both). Inference-engine
    test models hold them (glow's, MIGraphX's)."""
    op = layer.op_type
    gaps: dict[Convention, str] = {}
    if op == "LSTM" and layer.input_forget:
        coupled = "input_forget=1 couples the input and forget gates (f = 1 - i): "
        gaps[Convention.PYTORCH] = coupled + "nn.LSTM has no such gate"
        gaps[Convention.KERAS] = coupled + "keras.layers.LSTM has no such gate"
    per = {"LSTM": 3, "GRU": 2, "RNN": 1}.get(op)
    if per is None or layer.activations is None or len(layer.activations) % per:
        return gaps
    names = [name.lower() for name in layer.activations]
    groups = {tuple(names[k:k + per]) for k in range(0, len(names), per)}
    if len(groups) > 1 or not groups <= _TORCH_ACTIVATIONS[op]:
        gaps.setdefault(Convention.PYTORCH, (
            f"activations {list(layer.activations)}: nn.{op} computes "
            + " or ".join(str(list(g)) for g in sorted(_TORCH_ACTIVATIONS[op]))
            + " only" + (", one for both directions" if op == "RNN" else "")))
    if op == "LSTM" and any(g[1] != g[2] for g in groups):
        gaps.setdefault(Convention.KERAS, (
            f"activations {list(layer.activations)}: keras.layers.LSTM applies one "
            "activation to the candidate and the cell output (ONNX's g and h)"))
    return gaps


def _input_size_from_count(
    layer: RecurrentLayer, traces: Mapping[str, Trace] | None, hidden: int | None
) -> int | None:
    """I from the elements W is computed from, ``D · gates · H · I``, where neither W's shape
    nor X's says it (dynamo's optimize=False slices the stored weight at computed bounds
    and concatenates the directions' outputs, which inference leaves without a last dim);
    H as the weights imply it, else the hidden_size attribute."""
    found = None if traces is None else traces.get("W")
    gates = GATES.get(layer.op_type)
    stored = None if found is None else found.distinct_elements
    if stored is None or gates is None or not hidden or not layer.num_directions:
        return None
    per_input = layer.num_directions * gates * hidden
    return stored // per_input if stored % per_input == 0 and stored else None


def _stored_states(
    layer: RecurrentLayer, traces: Mapping[str, Trace] | None, notes: list[str]
) -> list[SlotCount]:
    """The initial states expanded to the batch from stored tensors that are not all zeros (a
    learned initial state: PyTorch counts an nn.Parameter, paddle its own), noted where
    counted. A stored state of the full batch (onnx's backend tests' constant initial_h,
    AL308's fixed-batch zeros) is a constant input, not a parameter."""
    found_slots = []
    for slot in _STATE_SLOTS:
        ref = layer.inputs.get(slot)
        found = traces.get(slot) if traces is not None else None
        if ref is None or found is None or not found.sources or found.elements is None \
                or found.basis is not Basis.TRACED or not BROADCAST_OPS.intersection(found.via) \
                or all_zero(dataclasses.replace(found, via=()), defaults=True):
            continue  # stored zeros stay zeros through a quantize / dequantize pair too; a
            # default of zeros (an initializer listed as an input too) is no learned state
        names = ", ".join(repr(s.name) for s in found.sources)
        how = f" ({', '.join(found.via)})" if found.via else ""
        notes.append(f"S: {slot} is made of stored {names}{how}, not all zeros: a learned "
                     f"initial state ({found.elements:,} elements), counted in every "
                     "convention (PyTorch: an nn.Parameter; ONNX: what the file stores)")
        found_slots.append(SlotCount(slot, ref.name, found.elements, found.elements,
                                     found.elements, basis=found.basis, sources=found.sources))
    return found_slots


def _basis_of(is_constant: bool, is_graph_input: bool) -> Basis:
    if is_graph_input:
        return Basis.GRAPH_INPUT
    return Basis.INITIALIZER if is_constant else Basis.UNKNOWN


def _count_text(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def traced_note(slot: str, tensor: str, found: Trace) -> str:
    names = ", ".join(repr(s.name) for s in found.sources)
    inputs = all(s.basis is Basis.GRAPH_INPUT for s in found.sources)
    what = "graph inputs, by their declared shapes (no stored values)" if inputs \
        else "stored tensors"
    return (f"{slot} {tensor!r} is computed ({', '.join(found.via)}) from {names}: "
            f"counted as those {what} ({_count_text(found.elements)} elements), "
            "each once per model")


def geometry_key(layer: RecurrentLayer) -> Hashable:
    """Everything the spec's shapes of an op-bound layer (``RecurrentLayer.expected_shape``,
    implied H, I) are a function of: the op (gates), the attributes they read (direction,
    hidden_size, layout) and the shapes of the bound inputs. Not for recognised cells."""
    inputs = layer.inputs
    return (layer.op_type, layer.direction, layer.hidden_size, layer.layout, tuple(inputs),
            tuple([ref.shape for ref in inputs.values()]))


def _geometry(layer: RecurrentLayer, memo: GeometryMemo | None) -> _Geometry:
    if memo is None:
        return _measure(layer)
    key = geometry_key(layer)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _measure(layer)
    return found


def _measure(layer: RecurrentLayer) -> _Geometry:
    elements = {slot: layer.slot_elements(slot) for slot in _RECURRENT_WEIGHT_SLOTS
                if slot in layer.inputs}
    implied = layer.implied_hidden_size
    input_size = layer.dim("W", 2)
    if not isinstance(input_size, int):
        # W computed where inference loses its shape (dynamo's optimize=False slices the
        # stored weight at computed bounds): X's features are I, in either layout
        input_size = layer.dim("X", 2)
    return _Geometry(
        elements=MappingProxyType(elements), implied=implied,
        inconsistent=_inconsistent_slots(layer, implied, elements),
        input_size=input_size if isinstance(input_size, int) else None,
    )


def _inconsistent_slots(
    layer: RecurrentLayer, implied: int | None, elements: Mapping[str, int | None]
) -> tuple[str, ...]:
    """Weight slots whose element count differs from the spec's for the implied H.

    Unknown counts cannot be proved wrong and are left out.
    """
    if implied is None:
        return ()
    wrong = []
    for slot, actual in elements.items():
        if actual is None:
            continue
        shape = layer.expected_shape(slot, hidden_size=implied)
        expected = None if shape is None else known_product(shape)
        if expected is not None and actual != expected:
            wrong.append(slot)
    return tuple(wrong)


def resolve_recurrent_weights(
    graph: ModelGraph, layer: RecurrentLayer, shapes: Mapping[str, tuple[object, ...]] | None = None
) -> tuple[RecurrentLayer, dict[str, Trace]]:
    """The layer with its weight shapes filled in from their sources (a Constant's attribute
    dims, the shape inferred for a computed weight), and each weight slot's trace."""
    traces: dict[str, Trace] = {}
    inputs = layer.inputs
    filled: dict[str, TensorRef] = {}
    for slot in _RECURRENT_WEIGHT_SLOTS:
        ref = inputs.get(slot)
        if ref is None:
            continue
        found = trace(graph, ref.name, layer.node.graph)
        traces[slot] = found
        if ref.shape is not None:
            continue
        shape = None
        if found.basis in (Basis.CONSTANT, Basis.INITIALIZER) and found.sources:
            shape = found.sources[0].shape
        elif shapes is not None and ref.name in shapes:
            shape = tuple(shapes[ref.name])  # type: ignore[arg-type]
        if shape is not None:
            filled[slot] = dataclasses.replace(ref, shape=shape)
    for slot in _STATE_SLOTS:
        ref = inputs.get(slot)
        if ref is not None:
            traces[slot] = trace(graph, ref.name, layer.node.graph, inputs_are_weights=False,
                                 broadcasts=True)
    if filled:  # a filled-in shape was None before: the view changes
        layer = dataclasses.replace(layer, inputs=MappingProxyType({**inputs, **filled}))
    return layer, traces
