"""onnxruntime's contrib ops as onnx's shape inference reads them.

onnx has no schema for a ``com.microsoft`` op and its inference stops at one: nothing after a
DynamicQuantizeLSTM gets a shape, nor anything after the FusedConv or FusedGemm that
onnxruntime's saved graph optimizations (level EXTENDED) write. onnxruntime infers these ops
with ONNX's own inference functions, so the copy of a model sent to inference
(archlint/loader.py) holds each as the ONNX op it computes:

* DynamicQuantizeLSTM and AttnLSTM (quantization_defs.cc, attn_lstm_schema_defs.cc):
  ``RNNShapeInference``, which reads X, ``direction``, ``hidden_size`` and ``layout`` alone;
  as an LSTM of their first eight inputs (W and R keep their stored names and dims, which
  that inference does not read, and types are not checked: ``check_type`` is off);
* FusedConv and FusedGemm (fused_conv.cc, fused_gemm.cc: a Conv or a Gemm followed by its
  activation): ``convPoolShapeInference`` and Gemm's; as a Conv of inputs X, W, B (FusedConv's
  fourth input Z is added to the result: its shape) or a Gemm of A, B, C, without the
  ``activation*`` attributes.

Proto level only: archlint/contrib_ops.py, which builds the recurrent ops' views, reads the
op table here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.onnx_protos import AttributeProto, GraphProto, ModelProto, NodeProto

__all__ = ["CONTRIB_CELLS", "CONTRIB_DOMAIN", "ONNX_OP_OF", "as_read",
           "holds_ops_read_as_onnx", "read_as_onnx_ops"]

CONTRIB_DOMAIN = "com.microsoft"
# contrib recurrent op -> the ONNX op it computes
CONTRIB_CELLS: Mapping[str, str] = MappingProxyType({
    "DynamicQuantizeLSTM": "LSTM", "AttnLSTM": "LSTM"})


@dataclass(frozen=True)
class _AsOnnx:
    """How inference reads a contrib op: as ``op`` of its first ``inputs`` inputs, without the
    attributes ``dropped``."""

    op: str
    inputs: int
    dropped: frozenset[str] = frozenset()


_ACTIVATION = frozenset({"activation", "activation_params", "activation_alpha",
                         "activation_beta", "activation_gamma"})
_READ_AS: Mapping[str, _AsOnnx] = MappingProxyType({
    **{name: _AsOnnx(cell, 8) for name, cell in CONTRIB_CELLS.items()},
    "FusedConv": _AsOnnx("Conv", 3, _ACTIVATION),
    "FusedGemm": _AsOnnx("Gemm", 3, _ACTIVATION),
})
# contrib op -> the ONNX op it is read as, its inputs at the same positions (params reads a
# FusedConv's or FusedGemm's weights as the Conv's or Gemm's)
ONNX_OP_OF: Mapping[str, str] = MappingProxyType({
    name: read.op for name, read in _READ_AS.items()})


def holds_ops_read_as_onnx(model: ModelProto) -> bool:
    """Whether a node of ``model`` (its main graph or a subgraph) is a contrib op inference
    reads as an ONNX op. Only a model that imports onnxruntime's domain is searched:
    onnxruntime resolves a node's schema through that import."""
    return any(entry.domain == CONTRIB_DOMAIN for entry in model.opset_import) \
        and next(_contrib_nodes(model), None) is not None


def read_as_onnx_ops(model: ModelProto) -> None:
    """Make each contrib op of ``model`` that :data:`_READ_AS` knows the ONNX op it computes
    (``model`` is a copy made for shape inference: this changes it in place)."""
    for node in list(_contrib_nodes(model)):
        read = _READ_AS[node.op_type]
        node.op_type = read.op
        node.domain = ""
        del node.input[read.inputs:]
        kept = [attr for attr in node.attribute if attr.name not in read.dropped]
        if len(kept) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(kept)


def as_read(error: str | None, model: ModelProto) -> str | None:
    """An inference error (of a model :func:`read_as_onnx_ops` changed) that names a contrib
    node by the op inference read it as (``op_type:LSTM, node name: n``), naming its own op."""
    if error is None or "op_type:" not in error or not holds_ops_read_as_onnx(model):
        return error
    for node in _contrib_nodes(model):
        error = error.replace(f"op_type:{_READ_AS[node.op_type].op}, node name: {node.name})",
                              f"op_type:{node.op_type}, node name: {node.name})")
    return error


def _contrib_nodes(model: ModelProto) -> Iterator[NodeProto]:
    graphs: list[GraphProto] = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.domain == CONTRIB_DOMAIN and node.op_type in _READ_AS:
                yield node
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    graphs.append(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    graphs.extend(attr.graphs)
