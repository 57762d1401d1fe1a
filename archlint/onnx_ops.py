"""Which operators the ONNX domain defines, and from which opset: onnx.defs' answer.

A node in the ONNX domain ("" or "ai.onnx") whose op type onnx defines at no opset, or only
from a later opset than the model imports, makes the model unloadable (onnxruntime: ``No Op
registered for ReverseV2 with domain_version of 9``). onnx fills its schema table on first
use (about 17 ms, every op of every opset), so the first opset of each op is also kept in
archlint/onnx_ops_table.py, written by scripts/gen_schema_table.py from one onnx release and
used only under that very release; under any other, onnx.defs is read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from archlint import onnx_ops_table
from archlint.onnx_protos import onnx_version

__all__ = ["KEPT_BY_ONNXRUNTIME", "attribute_versions", "attributes_at", "attributes_from_onnx",
           "checkable_opset", "first_opset",
           "loadable_from", "newest_known_opset", "required_from_onnx", "required_inputs",
           "slot_names", "slots_from_onnx"]

# Ops onnxruntime loads in the ONNX domain at any opset, beyond what onnx defines there: onnx's
# experimental ops, removed from its spec in onnx 1.5, that onnxruntime still registers from
# opset 1 on (onnxruntime/core/graph/contrib_ops/onnx_deprecated_opset.h: Windows ML took them
# as production ops; models of old converters use them), and two of its own.
KEPT_BY_ONNXRUNTIME = frozenset({
    "Affine", "Crop", "DynamicSlice", "GivenTensorFill", "GRUUnit", "ImageScaler",
    "MeanVarianceNormalization", "ParametricSoftplus", "Scale", "ScaledTanh", "ThresholdedRelu",
    # onnxruntime's own schemas in the ONNX domain from opset 1 (contrib_ops/contrib_defs.cc),
    # which its optimizer writes (LayerNormFusion, SimplifiedLayerNormFusion) into a model it
    # saves with optimized_model_filepath at the extended level, whatever the model's opset:
    # its CPU kernels run them (LayerNormalization 1-16 is its contrib kernel)
    "LayerNormalization", "SimplifiedLayerNormalization",
})


def first_opset(op_type: str) -> int | None:
    """The first opset of the ONNX domain that defines ``op_type``; None when none does (up to
    :func:`newest_known_opset`)."""
    if onnx_version() == onnx_ops_table.ONNX_VERSION:
        return onnx_ops_table.FIRST_OPSET.get(op_type)
    return from_onnx().get(op_type)


def loadable_from(op_type: str) -> int | None:
    """The first opset at which onnxruntime loads a node of ``op_type`` in the ONNX domain:
    :func:`first_opset`, or 1 for the ops it keeps from onnx's removed experimental ones."""
    return 1 if op_type in KEPT_BY_ONNXRUNTIME else first_opset(op_type)


def checkable_opset(opset: int | None) -> int | None:
    """The model's ONNX opset when the installed onnx knows it (1 to
    :func:`newest_known_opset`); None when none is imported, or one newer than onnx here
    knows: what it defines cannot be told."""
    if opset is None or opset < 1 or opset > newest_known_opset():
        return None
    return opset


def newest_known_opset() -> int:
    """The newest opset of the ONNX domain the installed onnx knows: an op of a later one is
    not known to be undefined."""
    if onnx_version() == onnx_ops_table.ONNX_VERSION:
        return onnx_ops_table.NEWEST_OPSET
    from onnx import defs

    return int(defs.onnx_opset_version())


@lru_cache(maxsize=1)
def from_onnx() -> dict[str, int]:
    """op type -> its first since_version in the ONNX domain, from onnx.defs."""
    from onnx import defs

    first: dict[str, int] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            since = first.get(schema.name)
            first[schema.name] = schema.since_version if since is None \
                else min(since, schema.since_version)
    return first


def slot_names(domain: str, op_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The input and output names of the newest schema of ``op_type`` in ``domain`` (as
    ``onnx.defs.get_schema(op_type, domain=domain)`` gives them); ``((), ())`` for an op onnx
    does not define there. The ONNX domain's come from the table: no onnx package imported
    for a finding that names a slot (archlint/onnx_protos.py)."""
    if domain == "" and onnx_version() == onnx_ops_table.ONNX_VERSION:
        return onnx_ops_table.SLOT_NAMES.get(op_type, ((), ()))
    from onnx import defs

    try:
        schema = defs.get_schema(op_type, domain=domain)
    except Exception:  # unknown op or domain: slots are positional only
        return ((), ())
    return tuple(p.name for p in schema.inputs), tuple(p.name for p in schema.outputs)


def required_inputs(op_type: str) -> tuple[int, ...]:
    """The input positions every version of ``op_type`` (ONNX domain) requires (single, not
    optional nor variadic): an empty name there is no omitted optional input, and onnxruntime
    refuses the node."""
    if onnx_version() == onnx_ops_table.ONNX_VERSION:
        return onnx_ops_table.REQUIRED_INPUTS.get(op_type, ())
    return required_from_onnx().get(op_type, ())


@lru_cache(maxsize=1)
def required_from_onnx() -> dict[str, tuple[int, ...]]:
    """op type -> the input positions that are single (required) in all of its schemas in the
    ONNX domain, from onnx.defs."""
    from onnx import defs

    required: dict[str, set[int]] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain not in ("", "ai.onnx"):
            continue
        single = {k for k, formal in enumerate(schema.inputs)
                  if formal.option == defs.OpSchema.FormalParameterOption.Single}
        required[schema.name] = required[schema.name] & single \
            if schema.name in required else single
    return {name: tuple(sorted(positions)) for name, positions in required.items()}


def slots_from_onnx() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """op type -> its newest schema's input and output names, ONNX domain, from onnx.defs."""
    from onnx import defs

    newest: dict[str, Any] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain == "" and (schema.name not in newest
                                    or schema.since_version > newest[schema.name].since_version):
            newest[schema.name] = schema
    return {name: (tuple(p.name for p in schema.inputs), tuple(p.name for p in schema.outputs))
            for name, schema in newest.items()}


def attributes_at(op_type: str, opset: int) -> frozenset[str] | None:
    """The attributes the ONNX domain's ``op_type`` has at ``opset``, where another of its
    versions from opset 7 on has one this one has not (what an exporter or a converter may
    have left from a later or an earlier version); None for an op whose versions from 7 on
    all name the same attributes, or that ONNX does not define at ``opset``."""
    versions = attribute_versions(op_type)
    if not versions:
        return None
    older = [since for since, _ in versions if since <= opset]
    if not older:
        return None
    now = frozenset(dict(versions)[max(older)])
    others = frozenset(name for since, names in versions if since >= _OLDEST_COMPARED
                       for name in names) - now
    return now if others else None


def attribute_versions(op_type: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """(since_version, attribute names) of each version of the ONNX domain's ``op_type``,
    for an op whose versions do not all name the same attributes; () for any other."""
    if onnx_version() == onnx_ops_table.ONNX_VERSION:
        return onnx_ops_table.ATTRIBUTES.get(op_type, ())
    return attributes_from_onnx().get(op_type, ())


# attribute sets of versions before opset 7 (Add's broadcast and axis, the first LSTM's
# output_sequence) are not compared: onnxruntime loads nothing older than opset 7
_OLDEST_COMPARED = 7


@lru_cache(maxsize=1)
def attributes_from_onnx() -> dict[str, tuple[tuple[int, tuple[str, ...]], ...]]:
    """op type -> (since_version, its attribute names) for each version, ONNX domain, for the
    ops whose versions do not all name the same attributes; from onnx.defs."""
    from onnx import defs

    versions: dict[str, dict[int, tuple[str, ...]]] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            versions.setdefault(schema.name, {})[schema.since_version] = \
                tuple(sorted(schema.attributes))
    return {op: tuple(sorted(found.items())) for op, found in sorted(versions.items())
            if len(set(found.values())) > 1}
