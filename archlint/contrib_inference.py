"""onnxruntime's contrib recurrent ops as onnx's shape inference reads them.

onnx has no schema for a ``com.microsoft`` op and its inference stops at one: nothing after a
DynamicQuantizeLSTM gets a shape. onnxruntime infers its two recurrent contrib ops with ONNX's
own ``RNNShapeInference`` (quantization_defs.cc, attn_lstm_schema_defs.cc), so the copy of a
model sent to inference (archlint/loader.py) holds each as the ONNX op it computes. Proto
level only: archlint/contrib_ops.py, which builds their views, reads the op table here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from archlint.onnx_protos import AttributeProto, GraphProto, ModelProto, NodeProto

__all__ = ["CONTRIB_CELLS", "CONTRIB_DOMAIN", "as_read", "holds_contrib_recurrent_ops",
           "read_as_onnx_ops"]

CONTRIB_DOMAIN = "com.microsoft"
# contrib recurrent op -> the ONNX op it computes
CONTRIB_CELLS: Mapping[str, str] = MappingProxyType({
    "DynamicQuantizeLSTM": "LSTM", "AttnLSTM": "LSTM"})
_LSTM_INPUTS = 8


def holds_contrib_recurrent_ops(model: ModelProto) -> bool:
    """Whether a node of ``model`` (its main graph or a subgraph) is a contrib recurrent op.
    Only a model that imports onnxruntime's domain is searched: onnxruntime resolves a node's
    schema through that import."""
    return any(entry.domain == CONTRIB_DOMAIN for entry in model.opset_import) \
        and next(_contrib_recurrent_nodes(model), None) is not None


def read_as_onnx_ops(model: ModelProto) -> None:
    """Make each contrib recurrent node of ``model`` (a copy made for shape inference: this
    changes it in place) the ONNX op it computes.

    onnx's shape inference has no schema for ``com.microsoft`` ops and stops at them: nothing
    after a DynamicQuantizeLSTM gets a shape, so a later layer's input, or a Reshape baked
    after it (AL302), cannot be checked. onnxruntime infers these ops' outputs with ONNX's own
    ``RNNShapeInference`` (quantization_defs.cc, attn_lstm_schema_defs.cc), which reads X,
    ``direction``, ``hidden_size`` and ``layout`` alone: an LSTM node with the same inputs and
    attributes infers the same Y, Y_h and Y_c. Inputs past the LSTM's eight (scales, zero
    points, attention weights) are dropped; W and R keep their stored names and dims, which
    that inference does not read (types are not checked: ``check_type`` is off)."""
    for node in list(_contrib_recurrent_nodes(model)):
        node.op_type = CONTRIB_CELLS[node.op_type]
        node.domain = ""
        del node.input[_LSTM_INPUTS:]


def as_read(error: str | None, model: ModelProto) -> str | None:
    """An inference error (of a model :func:`read_as_onnx_ops` changed) that names a contrib
    node by the op inference read it as (``op_type:LSTM, node name: n``), naming its own op."""
    if error is None or "op_type:LSTM, node name: " not in error \
            or not holds_contrib_recurrent_ops(model):
        return error
    for node in _contrib_recurrent_nodes(model):
        error = error.replace(f"op_type:LSTM, node name: {node.name})",
                              f"op_type:{node.op_type}, node name: {node.name})")
    return error


def _contrib_recurrent_nodes(model: ModelProto) -> Iterator[NodeProto]:
    graphs: list[GraphProto] = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.domain == CONTRIB_DOMAIN and node.op_type in CONTRIB_CELLS:
                yield node
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    graphs.append(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    graphs.extend(attr.graphs)
