"""Numeric comparison of two arrays, numpy.allclose semantics, with the numbers a user needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Difference", "compare_arrays", "non_finite"]


@dataclass(frozen=True)
class Difference:
    """How ``actual`` differs from ``reference``: ok under ``|a - r| <= atol + rtol * |r|``."""

    ok: bool
    max_abs: float
    max_rel: float
    mismatched: int
    total: int
    shape_problem: str | None = None

    def summary(self) -> str:
        """The largest differences only: what a finding says (counts vary more across CPUs)."""
        if self.shape_problem is not None:
            return self.shape_problem
        return f"max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g}"

    def describe(self) -> str:
        if self.shape_problem is not None:
            return self.shape_problem
        return (f"{self.summary()}, {self.mismatched} of {self.total} elements outside "
                "tolerance")


def compare_arrays(
    actual: np.ndarray[Any, Any], reference: np.ndarray[Any, Any], rtol: float, atol: float
) -> Difference:
    if actual.shape != reference.shape:
        return Difference(False, float("inf"), float("inf"), actual.size, reference.size,
                          f"shape {list(actual.shape)} vs {list(reference.shape)}")
    if actual.size == 0:
        return Difference(True, 0.0, 0.0, 0, 0)
    if actual.dtype.kind not in "fc" and reference.dtype.kind not in "fc":
        unequal = int(np.count_nonzero(actual != reference))
        return Difference(unequal == 0, float(unequal > 0), float(unequal > 0), unequal,
                          actual.size)
    a = actual.astype(np.float64)
    r = reference.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(r)
    diff = np.where(both_nan, 0.0, np.abs(a - r))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.abs(r)
    rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), np.where(diff > 0, np.inf, 0))
    bad = diff > atol + rtol * scale
    return Difference(
        ok=not bool(bad.any()),
        max_abs=float(diff.max()),
        max_rel=float(rel.max()),
        mismatched=int(np.count_nonzero(bad)),
        total=int(a.size),
    )


def non_finite(value: np.ndarray[Any, Any]) -> tuple[int, int] | None:
    """(NaN count, Inf count) for a float array with any; None when all finite or not float."""
    if value.dtype.kind not in "fc":
        return None
    nans = int(np.count_nonzero(np.isnan(value)))
    infs = int(np.count_nonzero(np.isinf(value)))
    return (nans, infs) if nans or infs else None
