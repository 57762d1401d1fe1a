"""The recurrent nodes against onnx.reference.ReferenceEvaluator: which nodes it can represent,
and findings from what the worker's reference job brought back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archlint.api import RuleContext
from archlint.graph import ModelGraph, NodeInfo
from archlint.recurrent import DEFAULT_ACTIVATIONS, RecurrentLayer
from archlint.runtime.collector import trim
from archlint.runtime.compare import compare_arrays
from archlint.runtime.result import ReferenceDiff
from archlint.runtime.settings import RuntimeSettings

__all__ = ["reference_cannot", "reference_diffs", "reference_nodes"]


def reference_nodes(graph: ModelGraph, layers: tuple[RecurrentLayer, ...], notes: list[str],
                    ) -> tuple[list[NodeInfo], list[dict[str, Any]]]:
    """The main-graph nodes to compare, and the nodes of If branches and Loop bodies (their
    owner in the main graph) as the worker's ``sub`` entries."""
    nodes: list[NodeInfo] = []
    subs: list[dict[str, Any]] = []
    for layer in layers:
        reason = reference_cannot(layer) or _subgraph_cannot(graph, layer)
        if reason is not None:
            notes.append(f"reference: {layer.op_type} {layer.label!r} not checked: {reason}")
        elif layer.node.graph == "main":
            nodes.append(layer.node)
        else:
            owner = graph.nodes[str(graph.subgraph_owner(layer.node.graph))]
            subs.append({"id": layer.node.id, "owner": owner.index,
                         "attr": layer.node.graph.rpartition(".")[2], "index": layer.node.index})
    return nodes, subs


def _subgraph_cannot(graph: ModelGraph, layer: RecurrentLayer) -> str | None:
    if layer.node.graph == "main":
        return None
    owner_id = graph.subgraph_owner(layer.node.graph)
    owner = graph.nodes.get(owner_id) if owner_id is not None else None
    if owner is None or owner.graph != "main":
        return "it is inside a nested subgraph (only bodies of main-graph nodes are re-run)"
    if owner.op_type not in ("If", "Loop"):
        return f"it is inside a {owner.op_type} body (If branches and Loop bodies are re-run)"
    return None


def reference_cannot(layer: RecurrentLayer) -> str | None:
    """Why onnx.reference cannot represent this node, or None when it can."""
    ignored = [attr for attr, present in (
        ("clip", layer.clip is not None),
        ("input_forget", bool(layer.input_forget)),
        ("activation_alpha", layer.activation_alpha is not None),
        ("activation_beta", layer.activation_beta is not None),
    ) if present]
    if ignored:
        return f"the reference evaluator ignores {', '.join(ignored)}"
    acts = layer.activations
    if acts is not None:
        default = [a.lower() for a in DEFAULT_ACTIVATIONS[layer.op_type]]
        lowered = [a.lower() for a in acts]
        if layer.op_type == "RNN" and any(a != "tanh" for a in lowered):
            return "the reference evaluator's RNN applies only Tanh (or Affine) for every direction"
        if layer.op_type != "RNN" and any(a != default[i % len(default)]
                                          for i, a in enumerate(lowered)):
            return (f"the reference evaluator ignores activations {list(acts)} and always uses "
                    f"{list(DEFAULT_ACTIVATIONS[layer.op_type])}")
    return None


def reference_diffs(result: Mapping[str, Any] | None, arrays: Mapping[str, Any],
                    ctx: RuleContext, settings: RuntimeSettings,
                    notes: list[str]) -> tuple[ReferenceDiff, ...]:
    """The recurrent outputs that differ from onnx.reference (agreements become notes)."""
    if result is None:
        return ()
    if result.get("status") != "ok":
        notes.append(f"reference: not compared, {result.get('status')}: "
                     f"{trim(str(result.get('error', '')))}")
        return ()
    layers = {layer.node.index: layer for layer in ctx.layers if layer.node.graph == "main"}
    by_id = {layer.node.id: layer for layer in ctx.layers}
    diffs: list[ReferenceDiff] = []
    for entry in result.get("nodes", []):
        layer = by_id.get(entry["id"]) if "id" in entry else layers.get(entry["index"])
        if layer is None:
            continue
        label = f"{layer.op_type} {layer.label!r}"
        if layer.node.graph != "main":
            label += f" (in {layer.node.graph})"
        if "skipped" in entry:
            notes.append(f"reference: {label} not checked: {entry['skipped']}")
            continue
        if "error" in entry:
            notes.append(f"reference: {label} not checked, the evaluator raised: "
                         f"{trim(entry['error'])}")
            continue
        seq_key = entry["inputs"].get("sequence_lens")
        x_shape = entry.get("x_shape")
        if seq_key is not None and x_shape:
            seq = x_shape[1 if layer.layout == 1 else 0]
            lens = arrays[seq_key]
            if np.any(lens != seq):
                notes.append(f"reference: {label} not checked: sequence_lens "
                             f"{lens.tolist()} is shorter than seq={seq} and the reference "
                             "evaluator ignores sequence_lens")
                continue
        worst: list[str] = []
        for slot, (name, (ort_key, ref_key)) in enumerate(entry["outputs"].items()):
            rtol, atol = _tolerances(arrays[ort_key], settings.rtol, settings.atol)
            diff = compare_arrays(arrays[ort_key], arrays[ref_key], rtol, atol)
            slot_name = _output_slot(layer, name, slot)
            if diff.ok:
                worst.append(f"{slot_name} max abs diff {diff.max_abs:.3g}")
                continue
            diffs.append(ReferenceDiff(layer, slot_name, diff))
        if worst:
            upcast = " (computed in float32 from its float16 inputs)" \
                if entry.get("upcast") else ""
            notes.append(f"reference: {label} agrees with onnx.reference{upcast} "
                         f"({'; '.join(worst)})")
    return tuple(diffs)


# A float16 result is rounded to 11 significant bits: half a unit in the last place is 2^-11
# of the value, so it cannot agree with a float32 reference more closely than about 2^-10.
_FLOAT16_TOLERANCE = 2.0 ** -10


def _tolerances(
    actual: np.ndarray[Any, Any], rtol: float, atol: float
) -> tuple[float, float]:
    """The comparison's tolerances for an output of ``actual``'s dtype: the settings', but no
    tighter than float16 can hold."""
    if actual.dtype == np.float16:
        return max(rtol, _FLOAT16_TOLERANCE), max(atol, _FLOAT16_TOLERANCE)
    return rtol, atol


def _output_slot(layer: RecurrentLayer, tensor: str, position: int) -> str:
    for slot, ref in layer.outputs.items():
        if ref.name == tensor:
            return slot
    return str(position)
