"""The recurrent nodes against onnx.reference.ReferenceEvaluator: which nodes it can represent,
and findings from what the worker's reference job brought back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archlint.api import RuleContext
from archlint.graph import NodeInfo
from archlint.recurrent import DEFAULT_ACTIVATIONS, RecurrentLayer
from archlint.runtime.collector import trim
from archlint.runtime.compare import compare_arrays
from archlint.runtime.result import ReferenceDiff
from archlint.runtime.settings import RuntimeSettings

__all__ = ["reference_cannot", "reference_diffs", "reference_nodes"]


def reference_nodes(layers: tuple[RecurrentLayer, ...], notes: list[str]) -> list[NodeInfo]:
    nodes = []
    for layer in layers:
        reason = reference_cannot(layer)
        if reason is None:
            nodes.append(layer.node)
        else:
            notes.append(f"reference: {layer.op_type} {layer.label!r} not checked: {reason}")
    return nodes


def reference_cannot(layer: RecurrentLayer) -> str | None:
    """Why onnx.reference cannot represent this node, or None when it can."""
    if layer.node.graph != "main":
        return "it is inside a subgraph"
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
    diffs: list[ReferenceDiff] = []
    for entry in result.get("nodes", []):
        layer = layers.get(entry["index"])
        if layer is None:
            continue
        label = f"{layer.op_type} {layer.label!r}"
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
            diff = compare_arrays(arrays[ort_key], arrays[ref_key], settings.rtol, settings.atol)
            slot_name = _output_slot(layer, name, slot)
            if diff.ok:
                worst.append(f"{slot_name} max abs diff {diff.max_abs:.3g}")
                continue
            diffs.append(ReferenceDiff(layer, slot_name, diff))
        if worst:
            notes.append(f"reference: {label} agrees with onnx.reference "
                         f"({'; '.join(worst)})")
    return tuple(diffs)


def _output_slot(layer: RecurrentLayer, tensor: str, position: int) -> str:
    for slot, ref in layer.outputs.items():
        if ref.name == tensor:
            return slot
    return str(position)
