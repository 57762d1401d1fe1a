"""Prove a fix: run the original and the fixed model in onnxruntime on the same inputs.

Used by ``archlint fix`` (archlint/app.py). Both sessions run in this process on the CPU
provider with the feeds ``archlint run`` would draw (archlint/runtime/inputs.py): one seed, the
default sequence length and batch. Sessions load from a path when the model has external
data (so onnxruntime reads it from beside the file), else from serialized bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnx import ModelProto

from archlint.graph import ModelGraph
from archlint.recurrent import RecurrentLayer
from archlint.runtime.compare import Difference, compare_arrays
from archlint.runtime.inputs import bind_dims, make_inputs

__all__ = ["FixComparison", "OutputChange", "compare_fixed", "runtime_available"]


@dataclass(frozen=True)
class OutputChange:
    """One graph output, original vs fixed."""

    name: str
    difference: Difference

    @property
    def changed(self) -> bool:
        return not self.difference.ok

    def describe(self) -> str:
        if self.difference.ok:
            return f"{self.name}: identical"
        return f"{self.name}: changed ({self.difference.describe()})"


@dataclass(frozen=True)
class FixComparison:
    """Both runs: None errors mean the session ran."""

    dims: Mapping[str, int]
    original_error: str | None
    fixed_error: str | None
    outputs: tuple[OutputChange, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs if o.changed)

    def lines(self) -> list[str]:
        dims = ", ".join(f"{k}={v}" for k, v in self.dims.items()) or "static shapes"
        lines = [f"onnxruntime (CPU), {dims}:"]
        if self.original_error is not None:
            lines.append(f"  original did not run: {self.original_error}")
        if self.fixed_error is not None:
            lines.append(f"  fixed model did not run: {self.fixed_error}")
        elif self.original_error is not None:
            lines.append("  fixed model runs")
        lines.extend(f"  {o.describe()}" for o in self.outputs)
        return lines


def runtime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _run(model: ModelProto | Path, feeds: Mapping[str, np.ndarray[Any, Any]]
         ) -> tuple[dict[str, np.ndarray[Any, Any]] | None, str | None]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, dict(feeds))
    except Exception as exc:  # onnxruntime's refusal is the result, stated in one line
        return None, str(exc).strip().splitlines()[0][:300]
    return dict(zip(names, values, strict=True)), None


def compare_fixed(
    original: ModelProto | Path,
    fixed: ModelProto | Path,
    graph: ModelGraph,
    layers: tuple[RecurrentLayer, ...],
    dims: Mapping[str, int] | None = None,
    seed: int = 0,
) -> FixComparison:
    """Run both on the feeds drawn from the original's inputs; compare output by output,
    exactly (a safe fix must not move a bit; an unsafe one says by how much it moved)."""
    binding = bind_dims(graph, layers, dims or {})
    feeds, _ = make_inputs(graph, layers, binding, seed)
    before, before_error = _run(original, feeds)
    after, after_error = _run(fixed, feeds)
    outputs: list[OutputChange] = []
    if before is not None and after is not None:
        for name, value in before.items():
            if name in after:
                outputs.append(OutputChange(name, compare_arrays(after[name], value, 0.0, 0.0)))
    return FixComparison(dict(binding.values), before_error, after_error, tuple(outputs))
