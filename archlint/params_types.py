"""The data of the parameter report: conventions, rows, models, the report and its budget
failures.

Plain frozen records with no counting in them, so the modules that build rows
(archlint/params_native.py, params_cells.py, params_contrib.py) and archlint/params.py, which
assembles them, all depend on this module and not on each other. archlint/params.py re-exports
every name here: ``from archlint.params import LayerParams`` is the public spelling.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from archlint.weight_sources import Basis, Source

__all__ = [
    "CONVENTIONS",
    "LAYOUT_OPS",
    "Basis",
    "BudgetFailure",
    "Convention",
    "LayerParams",
    "ModelParams",
    "ParamsReport",
    "SharedTensor",
    "SlotCount",
    "replaced",
]

# Ops that only re-arrange a layer's output: a bias Add after them still belongs to the layer
# (tf2onnx's Dense on a 3-D input is Reshape -> MatMul -> Reshape -> Add, its Conv1D Conv ->
# Squeeze -> Add).
LAYOUT_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Transpose", "Flatten"})

_Record = TypeVar("_Record")


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


@dataclass(frozen=True)
class SlotCount:
    """One weight tensor of a row and what it counts for in each convention.

    ``elements`` is the number of elements stored (None when its shape is unknown).
    ``pytorch``/``keras`` are what that framework counts for it (0 for a buffer such as a
    running mean in PyTorch, or for an all-zero bias a converter wrote for use_bias=False).
    ``shared_with`` names the earlier node that already counted this tensor (or every stored
    tensor it is computed from); such an entry adds nothing to totals. ``basis`` says where
    the count comes from; ``sources`` are the stored tensors it counts (for a computed weight,
    the initializers it was traced to).
    """

    slot: str
    tensor: str
    elements: int | None
    pytorch: int | None
    keras: int | None
    shared_with: str | None = None
    basis: Basis = Basis.INITIALIZER
    sources: tuple[Source, ...] = ()
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
    kind: str  # recurrent, linear, conv, embedding, norm, activation
    slots: tuple[SlotCount, ...]
    direction: str | None = None
    num_directions: int | None = None
    input_size: int | None = None
    hidden_size: int | None = None  # the attribute as declared
    implied_hidden_size: int | None = None  # what the weights imply
    projection_size: int | None = None  # P of an LSTM with projection (h is P wide)
    linear_before_reset: int | None = None
    unsupported: Mapping[Convention, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # How a recurrent layer was found (archlint.recurrent.Recognition's value); None otherwise.
    recognised_as: str | None = None
    # Report columns filled by archlint/params_columns.py (None: unknown or not computed).
    output_shape: tuple[int | str | None, ...] | None = None
    param_dtype: str | None = None  # element type(s) of the weights as stored, "+"-joined
    param_bytes: int | None = None  # bytes this row adds (a tensor counted elsewhere adds 0)
    macs_per_step: int | None = None  # one time step, one sample
    macs: int | None = None  # one pass at the sizes given with --dim
    module: str | None = None  # the node-name scope (``rnn`` for ``/rnn/LSTM``)

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
    # recurrent-looking nodes no layer was recognised in (layers.unseen_recurrent): their
    # products are plain rows, and weights applied elementwise may be among the uncounted
    unseen: tuple[str, ...] = ()
    # (name, elements) of graph inputs with no stored value that plain rows read as weights
    # (a model saved without its weights): not counted
    weight_inputs: tuple[tuple[str, int | None], ...] = ()

    def total(self, convention: Convention) -> int | None:
        """The model's count; None when any row is unknown or not representable."""
        return _sum(layer.total(convention) for layer in self.layers)

    def known_total(self, convention: Convention) -> int:
        """The sum of the rows that are known (for messages about partial counts)."""
        return sum(t for layer in self.layers if (t := layer.total(convention)) is not None)

    def missing(self, convention: Convention) -> tuple[LayerParams, ...]:
        return tuple(layer for layer in self.layers if layer.total(convention) is None)

    def column_total(self, column: str) -> int | None:
        """Sum of ``param_bytes``, ``macs_per_step`` or ``macs`` over the rows; None when a row
        that has parameters leaves it unknown."""
        return _sum(getattr(layer, column) for layer in self.layers)


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
    dims: Mapping[str, int] = field(default_factory=dict)  # --dim sizes the MACs column used

    @property
    def errors(self) -> tuple[ModelParams, ...]:
        return tuple(m for m in self.models if m.error is not None)

    @property
    def readable(self) -> tuple[ModelParams, ...]:
        return tuple(m for m in self.models if m.error is None)

    def total(self, convention: Convention) -> int | None:
        return _sum(m.total(convention) for m in self.readable)


@dataclass(frozen=True)
class BudgetFailure:
    """One budget that a model breaks. ``node`` is None for whole-model checks."""

    check: str  # max-params, max-layer-params, layer-limits, expect-params
    model: str
    message: str
    limit: int
    actual: int | None
    node: str | None = None


def replaced(record: _Record, **changes: Any) -> _Record:
    """``dataclasses.replace`` for the plain frozen records above, at a third of its cost.

    The report copies every row once or twice (a 100k-node model has 20,000 recurrent rows) and
    ``replace`` runs ``__init__``, one frozen ``__setattr__`` per field. A record with no
    ``__post_init__`` and a ``__dict__`` is the same record when its fields are copied: that is
    done here; any other goes through ``replace``.
    """
    cls: type = type(record)
    names = _plain_fields(cls)
    if names is None:
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    copy: _Record = object.__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy


@functools.cache
def _plain_fields(cls: type) -> frozenset[str] | None:
    """The field names of a dataclass whose fields can be copied; None for any other class."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") \
            or "__slots__" in cls.__dict__:
        return None
    return frozenset(f.name for f in dataclasses.fields(cls))
