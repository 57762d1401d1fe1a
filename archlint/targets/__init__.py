"""Deployment targets: per-runtime profiles (data) and the placement they predict.

``archlint lint --target onnxruntime-cuda`` (or ``targets = [...]`` in the configuration) puts
the target names into the lint options under ``targets``; rules AL601-AL603 read them and report
what each target's profile says about each LSTM/GRU/RNN node. See docs/targets.md.
"""

from __future__ import annotations

from archlint.targets.placement import Placement, predict_placement
from archlint.targets.profile import (
    KINDS,
    Entry,
    EntryMatch,
    Profile,
    ProfileError,
    UnknownTargetError,
    known_targets,
    load_profiles,
    resolve_targets,
)

__all__ = [
    "KINDS",
    "TARGETS_OPTION",
    "Entry",
    "EntryMatch",
    "Placement",
    "Profile",
    "ProfileError",
    "UnknownTargetError",
    "known_targets",
    "load_profiles",
    "predict_placement",
    "resolve_targets",
    "targets_from_options",
]

TARGETS_OPTION = "targets"


def targets_from_options(options: object) -> tuple[str, ...]:
    """The target names in lint options (``{"targets": [...]}``); () when none are selected."""
    if not isinstance(options, dict):
        return ()
    value = options.get(TARGETS_OPTION)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()
