"""Random inputs for a model, from its static description.

Symbolic dimensions are bound from the user's ``--dim`` values or defaults the report states
(a recurrent layer's batch symbol 2, its sequence symbol 5, any other symbol 3, an unnamed
dimension 1). Integer inputs are kept in valid ranges: indices into a Gather below the
gathered axis of the data tensor (a vocabulary from an embedding initializer's shape), and
``sequence_lens`` in ``[1, seq]``. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from archlint.graph import ModelGraph
from archlint.recurrent import RecurrentLayer
from archlint.shapes import Dim, Shape

__all__ = ["Binding", "InputSpec", "InputsError", "bind_dims", "make_inputs", "resolve_shape"]

DEFAULT_BATCH, DEFAULT_SEQ, DEFAULT_OTHER, DEFAULT_UNNAMED = 2, 5, 3, 1
GENERIC_INT_RANGE = (0, 4)  # [low, high): small non-negative ints
# Inputs are drawn in archlint's own process: a declared shape of 2^40 elements must be
# refused before numpy is asked for the memory.
MAX_INPUT_BYTES = 1 << 30


class InputsError(Exception):
    """Inputs that cannot be drawn (a negative or huge declared shape, a string tensor):
    ``str()`` says which input and why; the model is then not run."""


@dataclass(frozen=True)
class Binding:
    """Symbol -> value, and where each value came from ("--dim" or "default")."""

    values: Mapping[str, int]
    origin: Mapping[str, str]
    unused: tuple[str, ...] = ()  # --dim names this model does not have

    def describe(self) -> str:
        if not self.values:
            return "none (all input dims are fixed)"
        return ", ".join(f"{k}={v} ({self.origin[k]})" for k, v in self.values.items())


@dataclass(frozen=True)
class InputSpec:
    """One fed input: dtype, concrete shape, and how its values were drawn."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    values: str

    def describe(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(map(str, self.shape))}] {self.values}"


def _roles(layers: tuple[RecurrentLayer, ...]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for layer in layers:
        if isinstance(layer.batch_dim, str):
            roles.setdefault(layer.batch_dim, "batch")
        if isinstance(layer.seq_dim, str):
            roles.setdefault(layer.seq_dim, "seq")
    return roles


def _role_by_name(symbol: str) -> str | None:
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


def bind_dims(
    graph: ModelGraph, layers: tuple[RecurrentLayer, ...], requested: Mapping[str, int]
) -> Binding:
    roles = _roles(layers)
    symbols: list[str] = []
    unnamed: list[str] = []
    for name in fed_inputs(graph):
        info = graph.tensor(name)
        for axis, dim in enumerate((info.shape or ()) if info is not None else ()):
            if isinstance(dim, str) and dim not in symbols:
                symbols.append(dim)
            elif dim is None:
                unnamed.append(f"{name}[{axis}]")
    values: dict[str, int] = {}
    origin: dict[str, str] = {}
    used: set[str] = set()
    for symbol in symbols:
        role = roles.get(symbol) or _role_by_name(symbol)
        if symbol in requested:
            values[symbol], origin[symbol] = requested[symbol], "--dim"
            used.add(symbol)
        elif role is not None and role in requested:
            values[symbol], origin[symbol] = requested[role], f"--dim {role}"
            used.add(role)
        else:
            default = {"batch": DEFAULT_BATCH, "seq": DEFAULT_SEQ}.get(role or "", DEFAULT_OTHER)
            values[symbol], origin[symbol] = default, "default"
    for key in unnamed:  # stated so a user sees it; "x[1]" can never clash with a symbol
        values[key], origin[key] = DEFAULT_UNNAMED, "default, unnamed dim"
    unused = tuple(sorted(set(requested) - used))
    return Binding(values, origin, unused)


def resolve_shape(shape: Shape, binding: Binding) -> tuple[int, ...]:
    return tuple(_resolve(dim, binding) for dim in shape)


def _resolve(dim: Dim, binding: Binding) -> int:
    if isinstance(dim, int):
        return dim
    if isinstance(dim, str):
        return binding.values.get(dim, DEFAULT_OTHER)
    return DEFAULT_UNNAMED


def _int_range(
    name: str, graph: ModelGraph, layers: tuple[RecurrentLayer, ...], binding: Binding
) -> tuple[int, int, str]:
    """[low, high) for an integer input, and the reason, from the nodes that read it."""
    for layer in layers:
        ref = layer.inputs.get("sequence_lens")
        if ref is not None and ref.name == name:
            seq = layer.seq_dim
            if seq is not None:
                high = _resolve(seq, binding)
                return min(1, high), high + 1, f"sequence_lens of {layer.label}, <= seq={high}"
    bounds: list[tuple[int, str]] = []
    for node in graph.consumers_of(name):
        if node.op_type != "Gather" or len(node.inputs) < 2 or node.inputs[1] != name:
            continue
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
    return low, high, "no consumer bounds it"


def _check_drawable(name: str, label: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
    if dtype.kind in "OSU":  # bfloat16, float8 (ml_dtypes) are fed as zeros; text is not
        raise InputsError(f"input {name!r} is a {label} tensor: random inputs are drawn only "
                          "for numbers and booleans")
    if any(d < 0 for d in shape):
        raise InputsError(f"input {name!r} declares a negative dimension {list(shape)}")
    elements = 1
    for dim in shape:
        elements *= dim
    if elements * dtype.itemsize > MAX_INPUT_BYTES:
        raise InputsError(f"input {name!r} would take {elements * dtype.itemsize:,} bytes "
                          f"({label}{list(shape)}; at most {MAX_INPUT_BYTES:,}): bind smaller "
                          "dims with --dim")


def make_inputs(
    graph: ModelGraph,
    layers: tuple[RecurrentLayer, ...],
    binding: Binding,
    seed: int,
) -> tuple[dict[str, np.ndarray[Any, Any]], tuple[InputSpec, ...]]:
    """Feeds for every input the caller must give, and how each was drawn."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    specs: list[InputSpec] = []
    for name in fed_inputs(graph):
        info = graph.tensor(name)
        if info is None:
            continue  # fed_inputs only returns known tensors
        shape = resolve_shape(info.shape or (), binding)
        try:
            np_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(info.dtype or 1))
        except Exception:  # bfloat16, float8...: not something numpy draws
            np_dtype = np.dtype(np.float32)
        dtype_label = onnx.TensorProto.DataType.Name(info.dtype or 1).lower()
        _check_drawable(name, dtype_label, np_dtype, shape)
        if np_dtype.kind == "f":
            value = rng.uniform(-1.0, 1.0, size=shape).astype(np_dtype)
            how = "uniform in [-1, 1)"
        elif np_dtype.kind in "iu":
            low, high, why = _int_range(name, graph, layers, binding)
            value = rng.integers(low, max(high, low + 1), size=shape).astype(np_dtype)
            how = f"ints in [{low}, {high - 1}] ({why})"
        elif np_dtype.kind == "b":
            value = rng.integers(0, 2, size=shape).astype(bool)
            how = "random booleans"
        else:
            value = np.zeros(shape, dtype=np_dtype)
            how = "zeros"
        feeds[name] = value
        specs.append(InputSpec(name, dtype_label, shape, how))
    return feeds, tuple(specs)
