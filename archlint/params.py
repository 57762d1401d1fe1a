"""Per-layer parameter counts in the ONNX, PyTorch and Keras conventions, and budgets for CI.

Pure functions of the views (ModelGraph, RecurrentLayer): nothing here prints or reads weight
data. Element counts come from tensor shapes (initializer dims), so a model whose weights live
in a 2 GB external file is counted without opening that file.

Each parameterised node becomes a :class:`LayerParams` row made of :class:`SlotCount` entries,
one per weight tensor, each saying what that tensor counts for in every convention. Totals are
sums of entries, and a tensor read by several nodes counts once, at its first reader (in graph
order), the way PyTorch's ``parameters()`` yields a tied weight once.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from archlint.graph import ModelGraph, NodeInfo, TensorInfo
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.shapes import known_product

__all__ = [
    "CONVENTIONS_TEXT",
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


class Convention(enum.Enum):
    """Whose way of counting: what the ONNX file stores, or what a framework reports."""

    ONNX = "onnx"
    PYTORCH = "pytorch"
    KERAS = "keras"

    @property
    def title(self) -> str:
        return {"onnx": "ONNX", "pytorch": "PyTorch", "keras": "Keras"}[self.value]

    @classmethod
    def parse(cls, text: str) -> Convention:
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown convention {text!r} (expected one of: {choices})") from None


CONVENTIONS = tuple(Convention)

CONVENTIONS_TEXT = """\
How archlint counts parameters
==============================

Every count comes from tensor shapes (initializer dims), never from weight data, and the
sequence length never changes a count. Notation: D = num_directions (2 when bidirectional),
H = hidden_size, I = input size, g = gates (LSTM 4, GRU 3, RNN 1).

ONNX: what the file stores. W [D, g·H, I] + R [D, g·H, H] + B [D, 2·g·H] (+ P [D, 3·H] for
  LSTM peepholes). B holds two bias vectors per gate (Wb and Rb). A missing optional B means
  the layer has no biases (zero), and counts 0.
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
weight and its bias Add), Conv, embeddings (Gather from a constant table) and
Layer/Instance/Group normalisation count the same in all three conventions.

When a convention cannot represent a layer, the report says n/a and why instead of guessing:
  - LSTM peepholes (P) exist in ONNX only: PyTorch and Keras have no peephole LSTM;
  - PyTorch's nn.GRU always applies the reset gate after the recurrent product
    (linear_before_reset=1): a GRU with linear_before_reset=0 has no nn.GRU equivalent;
  - W, R and B whose shapes disagree on H (AL201 reports them): only the ONNX count is given.
A recurrent layer without B is counted as bias=False (PyTorch) and use_bias=False (Keras),
the modules that hold exactly those weights: 0 bias parameters in every convention.

A tensor read by several nodes (tied weights) is counted once, in the row of its first reader;
the report lists it. Constants that feed no parameterised node (shape vectors, Reshape
targets) are not parameters and are reported separately as uncounted initializers.
"""


@dataclass(frozen=True)
class SlotCount:
    """One weight tensor of a row and what it counts for in each convention.

    ``elements`` is the number of elements stored (None when its shape is unknown).
    ``pytorch``/``keras`` are what that framework counts for it (0 for a buffer such as a
    running mean in PyTorch). ``shared_with`` names the earlier node that already counted this
    tensor; such an entry adds nothing to totals.
    """

    slot: str
    tensor: str
    elements: int | None
    pytorch: int | None
    keras: int | None
    shared_with: str | None = None
    dtype: str | None = None  # element type as stored, where the row says it (int8 weights)

    def count(self, convention: Convention) -> int | None:
        if self.shared_with is not None:
            return 0
        if convention is Convention.ONNX:
            return self.elements
        return self.pytorch if convention is Convention.PYTORCH else self.keras


@dataclass(frozen=True)
class LayerParams:
    """One parameterised node: its geometry (recurrent layers) and its weight tensors."""

    graph: str
    node: str  # the node's name as written, possibly empty
    label: str  # the name, or ``<LSTM #3>`` when it has none
    node_index: int
    op_type: str
    kind: str  # recurrent, linear, conv, embedding, norm
    slots: tuple[SlotCount, ...]
    direction: str | None = None
    num_directions: int | None = None
    input_size: int | None = None
    hidden_size: int | None = None  # the attribute as declared
    implied_hidden_size: int | None = None  # what the weights imply
    linear_before_reset: int | None = None
    unsupported: Mapping[Convention, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def slot(self, name: str) -> SlotCount | None:
        return next((s for s in self.slots if s.slot == name), None)

    def total(self, convention: Convention) -> int | None:
        """This row's count in a convention; None when unknown or not representable."""
        if convention in self.unsupported:
            return None
        return _sum(s.count(convention) for s in self.slots)

    @property
    def path(self) -> str:
        """``main/label`` as findings print it; budget globs match this and the name."""
        return f"{self.graph}/{self.label}"


@dataclass(frozen=True)
class SharedTensor:
    """A weight tensor read by several parameterised nodes, counted once."""

    tensor: str
    elements: int | None
    nodes: tuple[str, ...]  # labels, first reader first


@dataclass(frozen=True)
class ModelParams:
    """Every parameterised node of one model, or the one-line reason it could not be read."""

    path: str
    layers: tuple[LayerParams, ...] = ()
    shared: tuple[SharedTensor, ...] = ()
    uncounted_tensors: int = 0
    uncounted_elements: int = 0
    error: str | None = None

    def total(self, convention: Convention) -> int | None:
        """The model's count; None when any row is unknown or not representable."""
        return _sum(layer.total(convention) for layer in self.layers)

    def known_total(self, convention: Convention) -> int:
        """The sum of the rows that are known (for messages about partial counts)."""
        return sum(t for layer in self.layers if (t := layer.total(convention)) is not None)

    def missing(self, convention: Convention) -> tuple[LayerParams, ...]:
        return tuple(layer for layer in self.layers if layer.total(convention) is None)


def _sum(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


@dataclass(frozen=True)
class ParamsReport:
    """What `archlint params` shows: the models, the budget convention and what failed."""

    models: tuple[ModelParams, ...]
    convention: Convention = Convention.ONNX
    budgets: Mapping[str, object] = field(default_factory=dict)  # the limits that were set
    failures: tuple[BudgetFailure, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[ModelParams, ...]:
        return tuple(m for m in self.models if m.error is not None)

    @property
    def readable(self) -> tuple[ModelParams, ...]:
        return tuple(m for m in self.models if m.error is None)

    def total(self, convention: Convention) -> int | None:
        return _sum(m.total(convention) for m in self.readable)


# --- counting ---------------------------------------------------------------------------------

_KINDS: Mapping[str, str] = MappingProxyType({
    "Gemm": "linear", "MatMul": "linear", "Conv": "conv", "ConvTranspose": "conv",
    "Gather": "embedding", "BatchNormalization": "norm", "LayerNormalization": "norm",
    "InstanceNormalization": "norm", "GroupNormalization": "norm",
})
_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16
# Slot names for the inputs of non-recurrent ops, by position (input 0 of Gather is the table).
_SLOT_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Gemm": ("weight", "weight", "bias"),  # A or B: whichever operand is constant
    "MatMul": ("weight", "weight"),
    "Conv": ("X", "weight", "bias"),
    "ConvTranspose": ("X", "weight", "bias"),
    "Gather": ("table", "indices"),
    "BatchNormalization": ("X", "scale", "bias", "mean", "var"),
    "LayerNormalization": ("X", "scale", "bias"),
    "InstanceNormalization": ("X", "scale", "bias"),
    "GroupNormalization": ("X", "scale", "bias"),
})
_RECURRENT_WEIGHT_SLOTS = ("W", "R", "B", "P")


def count_recurrent_layer(layer: RecurrentLayer) -> LayerParams:
    """A recurrent layer's row: W, R, B and P as stored, and what each framework counts.

    Every weight slot counts, whether an initializer, a Constant or a typed graph input: the
    slot's role makes it a weight. Counts follow the weights (the H they imply), not the
    hidden_size attribute; when they disagree AL201 reports it and the row notes it.
    """
    op = layer.op_type
    lbr = layer.linear_before_reset or 0
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
        elements = layer.slot_elements(slot)
        keras = elements
        if slot == "B" and keras_bias_halved and elements is not None:
            keras = elements // 2 if elements % 2 == 0 else None
        slots.append(SlotCount(slot, ref.name, elements, elements, keras))

    if "P" in layer.inputs:
        reason = "peephole weights P exist in ONNX only"
        unsupported[Convention.PYTORCH] = reason + " (nn.LSTM has none)"
        unsupported[Convention.KERAS] = reason + " (keras.layers.LSTM has none)"
    if op == "GRU" and lbr == 0:
        unsupported[Convention.PYTORCH] = (
            "nn.GRU always applies the reset gate after the recurrent product "
            "(linear_before_reset=1); this GRU has linear_before_reset=0"
        )
    if "B" not in layer.inputs:
        notes.append("no B: zero biases; counted as bias=False (PyTorch) and "
                     "use_bias=False (Keras)")

    implied = layer.implied_hidden_size
    if layer.hidden_size is not None and implied is not None and implied != layer.hidden_size:
        notes.append(f"hidden_size={layer.hidden_size} but the weights imply {implied} (AL201); "
                     "counts follow the weights")
    inconsistent = _inconsistent_slots(layer, implied)
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
        input_size=input_size if isinstance(input_size := layer.dim("W", 2), int) else None,
        hidden_size=layer.hidden_size, implied_hidden_size=implied,
        linear_before_reset=lbr if op == "GRU" else None,
        unsupported=MappingProxyType(unsupported), notes=tuple(notes),
    )


def _inconsistent_slots(layer: RecurrentLayer, implied: int | None) -> list[str]:
    """Weight slots whose element count differs from the spec's for the implied H.

    Unknown counts cannot be proved wrong and are left out.
    """
    if implied is None:
        return []
    wrong = []
    for slot in _RECURRENT_WEIGHT_SLOTS:
        actual = layer.slot_elements(slot)
        shape = layer.expected_shape(slot, hidden_size=implied)
        expected = None if shape is None else known_product(shape)
        if actual is not None and expected is not None and actual != expected:
            wrong.append(slot)
    return wrong


def count_model(path: str, graph: ModelGraph, layers: Iterable[RecurrentLayer]) -> ModelParams:
    """Rows for every parameterised node, in graph order, with shared tensors counted once."""
    recurrent = {layer.node.id: layer for layer in layers}
    bias_adds = _bias_adds(graph)
    rows: list[LayerParams] = []
    owners: dict[tuple[str, str], tuple[str, str]] = {}  # tensor -> (node id, label) counting it
    readers: dict[tuple[str, str], list[str]] = {}
    sizes: dict[tuple[str, str], int | None] = {}
    for node in graph.iter_nodes():
        if node.id in recurrent:
            row: LayerParams | None = _count_layer(recurrent[node.id])
        else:
            row = _count_other(graph, node, bias_adds.get(node.id))
        if row is None:
            continue
        slots = []
        counted_here: set[tuple[str, str]] = set()
        for entry in row.slots:
            key = _tensor_key(graph, entry.tensor, node.graph)
            readers.setdefault(key, []).append(row.label)
            sizes[key] = entry.elements
            owner_id, owner_label = owners.setdefault(key, (node.id, row.label))
            if owner_id != node.id or key in counted_here:
                entry = dataclasses.replace(entry, shared_with=owner_label)
            counted_here.add(key)
            slots.append(entry)
        rows.append(dataclasses.replace(row, slots=tuple(slots)))
    shared = tuple(
        SharedTensor(key[1], sizes[key], tuple(dict.fromkeys(names)))
        for key, names in readers.items() if len(names) > 1
    )
    uncounted_tensors, uncounted_elements = _uncounted(graph, set(readers))
    return ModelParams(path, tuple(rows), shared, uncounted_tensors, uncounted_elements)


def _count_layer(layer: RecurrentLayer) -> LayerParams:
    if layer.recognised_as is Recognition.CONTRIB:
        from archlint.params_contrib import count_contrib_layer  # it builds on this module

        return count_contrib_layer(layer)
    return count_recurrent_layer(layer)


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


def _elements(info: TensorInfo) -> int | None:
    return None if info.shape is None else known_product(info.shape)


def _count_other(graph: ModelGraph, node: NodeInfo, bias: TensorInfo | None) -> LayerParams | None:
    """Rows for Gemm, MatMul (+ bias Add), Conv, Gather-from-a-table and normalisation nodes.

    Only constant inputs (initializers, Constant outputs) count: a MatMul of two activations
    (attention scores) holds no parameters.
    """
    kind = _KINDS.get(node.op_type)
    if kind is None or node.domain not in ("", "ai.onnx"):
        return None
    names = _SLOT_NAMES[node.op_type]
    slots: list[SlotCount] = []
    for position, tensor in enumerate(node.inputs[: len(names)]):
        slot = names[position]
        info = graph.tensor(tensor, node.graph) if tensor else None
        if slot in ("X", "indices") or info is None or not _is_constant(info, graph):
            continue
        if kind == "embedding" and info.dtype not in _FLOAT_TYPES:
            continue  # a Gather from a constant shape or index vector is not an embedding
        elements = _elements(info)
        # PyTorch keeps BatchNorm's running statistics as buffers, outside parameters().
        buffer = node.op_type == "BatchNormalization" and slot in ("mean", "var")
        slots.append(SlotCount(slot, tensor, elements, 0 if buffer else elements, elements))
    if kind == "embedding" and len(node.inputs) > 1 and _is_constant(
        graph.tensor(node.inputs[1], node.graph), graph
    ):
        return None  # a constant table at constant indices: folding left over, not a lookup
    if bias is not None and slots:
        elements = _elements(bias)
        slots.append(SlotCount("bias", bias.name, elements, elements, elements))
    if not slots:
        return None
    notes: tuple[str, ...] = ()
    if node.op_type == "BatchNormalization":
        notes = ("running mean and variance are PyTorch buffers (not parameters); "
                 "Keras counts them (non-trainable weights)",)
    return LayerParams(
        graph=node.graph, node=node.name, label=node.label, node_index=node.index,
        op_type=node.op_type, kind=kind, slots=tuple(slots), notes=notes,
    )


def _bias_adds(graph: ModelGraph) -> dict[str, TensorInfo]:
    """MatMul node id -> the constant of the Add that is its only consumer (a Linear's bias).

    PyTorch exports nn.Linear on a 3-D input as MatMul + Add; without this the bias would be
    missing from the total.
    """
    found: dict[str, TensorInfo] = {}
    for node in graph.iter_nodes(frozenset({"MatMul"})):
        if len(node.outputs) != 1:
            continue
        consumers = graph.consumers_of(node.outputs[0], node.graph)
        if len(consumers) != 1 or consumers[0].op_type != "Add":
            continue
        others = [t for t in consumers[0].inputs if t != node.outputs[0]]
        if len(others) != 1:
            continue
        info = graph.tensor(others[0], consumers[0].graph)
        if info is not None and _is_constant(info, graph) and any(
            _is_constant(graph.tensor(t, node.graph), graph) for t in node.inputs
        ):
            found[node.id] = info
    return found


def _uncounted(graph: ModelGraph, counted: set[tuple[str, str]]) -> tuple[int, int]:
    """Initializers that no parameterised node reads: constants, not parameters."""
    tensors = elements = 0
    for scope in graph.graphs():
        for name, info in graph.tensors(scope).items():
            if info.is_initializer and (scope, name) not in counted:
                tensors += 1
                elements += _elements(info) or 0
    return tensors, elements


# --- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetFailure:
    """One budget that a model breaks. ``node`` is None for whole-model checks."""

    check: str  # max-params, max-layer-params, layer-limits, expect-params
    model: str
    message: str
    limit: int
    actual: int | None
    node: str | None = None


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
