"""The pictures and tables a rich report (HTML, Markdown) shows for one model.

A model with many recurrent layers is not drawn whole in a report: a wall of 100 LSTMs helps
no one. Up to ``MAX_DRAWN_LAYERS`` layers the whole recurrent part is drawn; beyond, only the
nodes with findings and their neighbours are, and the report says how to draw the rest
(``archlint graph MODEL -o stack.svg``, ``--around NODE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archlint.api import Finding
from archlint.drawing.stack import Drawing, around, recurrent_stack
from archlint.graph import ModelGraph
from archlint.params import ModelParams
from archlint.recurrent import RecurrentLayer

__all__ = ["MAX_DRAWN_LAYERS", "ModelPictures", "focus", "model_pictures"]

MAX_DRAWN_LAYERS = 12


@dataclass(frozen=True)
class ModelPictures:
    params: ModelParams | None
    stack: Drawing | None  # the whole recurrent part; None when it has too many layers
    focus: Drawing | None  # the nodes with findings and their neighbours; None without any
    recurrent_layers: int = 0


def focus(
    graph: ModelGraph, layers: Sequence[RecurrentLayer], findings: Iterable[Finding],
    radius: int = 1,
) -> Drawing | None:
    """The union of the neighbourhoods (``radius`` data edges) of the nodes with findings."""
    found = list(findings)
    nodes: dict[str, None] = {}
    for finding in found:
        loc = finding.location
        if loc.node_index is None and not loc.node:
            continue
        name = f"{loc.graph}/{loc.node_index}" if loc.node_index is not None else loc.node or ""
        try:
            part = around(graph, layers, name, radius)
        except KeyError:
            continue
        nodes.update(dict.fromkeys(n.id for n in part.nodes))
    if not nodes:
        return None
    return recurrent_stack(graph, layers, found, "nodes with findings", only=list(nodes))


def model_pictures(
    graph: ModelGraph, layers: Sequence[RecurrentLayer], params: ModelParams | None,
    findings: Sequence[Finding],
) -> ModelPictures:
    stack = (recurrent_stack(graph, layers, findings, "recurrent layers")
             if layers and len(layers) <= MAX_DRAWN_LAYERS else None)
    return ModelPictures(params, stack, focus(graph, layers, findings), len(layers))
