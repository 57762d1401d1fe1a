"""Small helpers the rules' fixes share (the fixes themselves live in each rule's module)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from archlint.api import Finding

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from onnx import NodeProto

    from archlint.fixes import ModelEditor

_INTS = re.compile(r"^\[(-?\d+(?:, -?\d+)*)\]")


def node_of(finding: Finding, editor: ModelEditor) -> NodeProto | None:
    """The copy's node the finding is located at."""
    return editor.node(finding.location)


def leading_ints(text: str | None) -> tuple[int, ...] | None:
    """``[0, -1, 6]`` (and anything after it) -> (0, -1, 6); None for anything else."""
    match = _INTS.match(text or "")
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split(", "))


def input_index(node: NodeProto, tensor: str | None) -> int | None:
    """Where ``tensor`` enters ``node`` (its first position), or None."""
    if not tensor:
        return None
    return next((k for k, name in enumerate(node.input) if name == tensor), None)
