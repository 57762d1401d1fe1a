"""Parameter rows for the quantized Conv, MatMul and Gemm ops onnxruntime's quantizer writes.

``quantize_dynamic`` turns a Conv into ``ConvInteger`` and a MatMul (a Gemm's too) into
``MatMulInteger`` (or com.microsoft ``DynamicQuantizeMatMul`` / ``MatMulIntegerToFloat``),
whose float bias is added after the product is scaled back: ``Cast``, ``Mul`` by the input's
and the weight's scale, then ``Add``. Its first releases (producer "onnx.quantize") added the
bias in int32 instead, quantized at run time (``Div`` by the scale, ``Floor``, ``Cast``,
``Reshape``). ``quantize_static`` in the QOperator format writes ``QLinearConv``,
``QLinearMatMul`` and com.microsoft ``QGemm``, with an int32 bias input. (Its QDQ format keeps
Conv, MatMul and Gemm, whose weights are traced through DequantizeLinear: archlint/params.py.)

Each row counts the quantized weight and the bias as the float layer's parameters, in every
convention (a weight is one parameter per element whatever its type); the weight's scale and
zero point are quantization parameters, counted in ONNX only, as for DynamicQuantizeLSTM
(archlint/params_contrib.py). The input's and output's scales and zero points describe
activations, not the layer: not counted. Sources: onnxruntime/python/tools/quantization/
operators/conv.py, matmul.py, gemm.py; onnxruntime's contrib op docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from archlint.graph import ModelGraph, NodeInfo, TensorInfo, dtype_name
from archlint.params_native import traced_note
from archlint.params_types import LAYOUT_OPS, LayerParams, SlotCount, replaced
from archlint.patterns import attr_int
from archlint.shapes import format_shape
from archlint.weight_sources import Basis, Trace

__all__ = ["QUANTIZED_OPS", "QuantizedOp", "count_quantized", "quantized_bias", "quantized_op"]


@dataclass(frozen=True)
class QuantizedOp:
    """Where a quantized op reads its weight, the weight's scale and zero point, and its bias.

    ``operands``: (data, scale, zero point) input positions of each operand that may be the
    stored weight (a MatMul's either side), None where the op has no such input.
    """

    kind: str
    operands: tuple[tuple[int, int | None, int | None], ...]
    bias: int | None = None


_MS = "com.microsoft"
QUANTIZED_OPS: Mapping[tuple[str, str], QuantizedOp] = MappingProxyType({
    ("", "ConvInteger"): QuantizedOp("conv", ((1, None, 3),)),
    ("", "MatMulInteger"): QuantizedOp("linear", ((1, None, 3), (0, None, 2))),
    ("", "QLinearConv"): QuantizedOp("conv", ((3, 4, 5),), bias=8),
    ("", "QLinearMatMul"): QuantizedOp("linear", ((3, 4, 5), (0, 1, 2))),
    (_MS, "QLinearConv"): QuantizedOp("conv", ((3, 4, 5),), bias=8),
    (_MS, "QGemm"): QuantizedOp("linear", ((3, 4, 5), (0, 1, 2)), bias=6),
    (_MS, "DynamicQuantizeMatMul"): QuantizedOp("linear", ((1, 2, 3),), bias=4),
    (_MS, "MatMulIntegerToFloat"): QuantizedOp("linear", ((1, 3, 5), (0, 2, 4)), bias=6),
    # weight-only quantization (MatMulNBitsQuantizer): A, B packed, scales, zero points, g_idx,
    # bias; B's logical shape [N, K] is in attributes (see _packed)
    (_MS, "MatMulNBits"): QuantizedOp("linear", ((1, 2, 3),), bias=5),
})
# Ops between an integer product and the Add of its float bias (scaled back: Cast, Mul).
_RESCALE_OPS = frozenset({"Cast", "Mul"})
# Ops between a float bias and an int32 Add (quantized at run time: Div, Floor, Cast, Reshape).
_RUNTIME_QUANTIZE_OPS = frozenset({"Div", "Floor", "Round", "Cast", "Reshape", "Unsqueeze"})
_HOPS = 4
# From a product to its bias Add: Cast and Mul scale it back, layout ops move it (tf2onnx's
# Conv1D is Conv -> Squeeze -> Add; quantize_dynamic puts its Cast and Mul before the Squeeze).
_BIAS_HOPS = 8


def op_key(node: NodeInfo) -> tuple[str, str]:
    """(domain, op type), the ONNX domain as ""."""
    return ("" if node.domain == "ai.onnx" else node.domain), node.op_type


def quantized_op(node: NodeInfo) -> QuantizedOp | None:
    return QUANTIZED_OPS.get(op_key(node))


def count_quantized(
    graph: ModelGraph, node: NodeInfo, op: QuantizedOp,
    weight_of: Callable[[TensorInfo | None], Trace | None], added: tuple[SlotCount, ...] = (),
) -> LayerParams | None:
    """The row of ``node``, the quantized op ``op`` (:func:`quantized_op`), or None when it
    reads no stored weight (a product of two activations). ``added``: the slots of the bias
    added after it, for the ops without a bias input (:func:`quantized_bias`)."""
    weight = next((read for operand in op.operands
                   if (read := _operand(graph, node, operand, _WEIGHT, weight_of))), None)
    if weight is None:
        return None  # no stored operand: a product of two activations
    _, info, found = weight[0]
    notes = [f"quantized ({node.op_type}): "
             + "; ".join(f"{name} {_type(tensor)}" for name, tensor, _ in weight)]
    if found.basis is Basis.TRACED:
        notes.append(traced_note("weight", info.name, found))
    bias = _operand(graph, node, (op.bias, None, None), _BIAS, weight_of)
    slots = [_slot(name, tensor, trace, framework=name in ("weight", "bias"))
             for name, tensor, trace in (*weight, *(bias or ()))]
    if node.op_type == "MatMulNBits":
        slots, note = _packed(node, slots)
        notes.append(note)
    slots.extend(() if bias else added)
    quantization = [s.slot for s in slots if s.slot in _QUANTIZATION_SLOTS]
    if quantization:
        verb = "is a quantization parameter" if len(quantization) == 1 \
            else "are quantization parameters"
        notes.append(f"{', '.join(quantization)} {verb}: counted in ONNX only (the float "
                     "layer has none)")
    return LayerParams(
        graph=node.graph, node=node.name, label=node.label, node_index=node.index,
        op_type=node.op_type, kind=op.kind, slots=tuple(slots), notes=tuple(notes),
    )


_WEIGHT = ("weight", "w_scale", "w_zero_point")
_BIAS = ("bias", "b_scale", "b_zero_point")
_QUANTIZATION_SLOTS = (*_WEIGHT[1:], *_BIAS[1:])
# com.microsoft QLinearAdd: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zp
_QLINEAR_ADD_OPERANDS = ((0, 1, 2), (3, 4, 5))


def _operand(
    graph: ModelGraph, node: NodeInfo, positions: tuple[int | None, int | None, int | None],
    names: tuple[str, str, str], weight_of: Callable[[TensorInfo | None], Trace | None],
) -> list[tuple[str, TensorInfo, Trace]] | None:
    """A stored operand at ``positions`` (data, scale, zero point) with whichever of its scale
    and zero point are stored, named ``names``; None when the data is not stored."""
    data = _stored_input(graph, node, positions[0], weight_of)
    if data is None:
        return None
    found = [(names[0], *data)]
    for name, position in zip(names[1:], positions[1:], strict=True):
        parameter = _stored_input(graph, node, position, weight_of)
        if parameter is not None:
            found.append((name, *parameter))
    return found


# onnxruntime's fused ops that add the bias of the product they read, and its position
_FUSED_BIAS: Mapping[tuple[str, str], int] = MappingProxyType({
    (_MS, "FastGelu"): 1, (_MS, "BiasGelu"): 1, (_MS, "SkipLayerNormalization"): 4,
    (_MS, "SkipSimplifiedLayerNormalization"): 3,
})


def fused_bias_operand(node: NodeInfo) -> str | None:
    """The input of ``node`` that is the bias of the product it reads, where ``node`` is an
    onnxruntime fused op that adds one (FastGelu(x @ W, b), SkipLayerNormalization(x @ W,
    skip, gamma, beta, b)): its name, "" when the node has none; None for any other op."""
    position = _FUSED_BIAS.get(op_key(node))
    if position is None:
        return None
    return node.inputs[position] if position < len(node.inputs) else ""


def quantized_bias(
    graph: ModelGraph, node: NodeInfo, weight_of: Callable[[TensorInfo | None], Trace | None],
) -> tuple[SlotCount, ...]:
    """The slots of the bias added to the output of ``node``, a quantized product without a
    bias input: after an integer product is scaled back (ConvInteger, MatMulInteger: Cast,
    Mul, Add of the float bias), in int32 right after it (the first quantizer releases), by
    a com.microsoft QLinearAdd of an int8 bias after a QLinearMatMul (with its scale and zero
    point), or right after a MatMulNBits (whose output is float already). Layout ops may
    come between (Squeeze, Reshape...: ``LAYOUT_OPS``), as they may before a float bias."""
    if len(node.outputs) != 1 or node.op_type not in (
            "ConvInteger", "MatMulInteger", "QLinearMatMul", "MatMulNBits"):
        return ()
    if node.op_type == "MatMulNBits" and len(node.inputs) > 5 and node.inputs[5]:
        return ()  # its own bias input
    tensor = node.outputs[0]
    for _ in range(_BIAS_HOPS):
        consumers = graph.consumers_of(tensor, node.graph) if tensor else []
        if len(consumers) != 1 or consumers[0].graph != node.graph \
                or tensor in graph.graph_outputs.get(node.graph, ()):
            return ()
        consumer = consumers[0]
        if consumer.op_type == "QLinearAdd" and consumer.domain == _MS:
            return _qlinear_bias(graph, consumer, tensor, weight_of)
        if consumer.op_type == "Add" and node.op_type != "QLinearMatMul":
            others = [name for name in consumer.inputs if name != tensor]
            found = _stored_bias(graph, others[0], node.graph, weight_of) \
                if len(others) == 1 else None
            return () if found is None else (_slot("bias", *found, framework=True),)
        operand = fused_bias_operand(consumer)
        if operand is not None and node.op_type != "QLinearMatMul":
            found = _stored_bias(graph, operand, node.graph, weight_of) if operand else None
            return () if found is None else (_slot("bias", *found, framework=True),)
        moves = consumer.op_type in LAYOUT_OPS and consumer.domain in ("", "ai.onnx") \
            and consumer.inputs[:1] == (tensor,)
        if not (moves or consumer.op_type in _RESCALE_OPS) or not consumer.outputs \
                or node.op_type == "QLinearMatMul":
            return ()
        tensor = consumer.outputs[0]
    return ()


def _qlinear_bias(
    graph: ModelGraph, add: NodeInfo, tensor: str,
    weight_of: Callable[[TensorInfo | None], Trace | None],
) -> tuple[SlotCount, ...]:
    for positions in _QLINEAR_ADD_OPERANDS:
        if positions[0] >= len(add.inputs) or add.inputs[positions[0]] == tensor:
            continue
        bias = _operand(graph, add, positions, _BIAS, weight_of)
        return () if bias is None else tuple(
            _slot(name, info, found, framework=name == "bias") for name, info, found in bias)
    return ()


def _stored_input(
    graph: ModelGraph, node: NodeInfo, position: int | None,
    weight_of: Callable[[TensorInfo | None], Trace | None],
) -> tuple[TensorInfo, Trace] | None:
    if position is None or position >= len(node.inputs) or not node.inputs[position]:
        return None
    info = graph.tensor(node.inputs[position], node.graph)
    found = weight_of(info)
    return None if found is None or info is None else (info, found)


def _stored_bias(
    graph: ModelGraph, name: str, scope: str,
    weight_of: Callable[[TensorInfo | None], Trace | None],
) -> tuple[TensorInfo, Trace] | None:
    """The float bias ``name`` is, or is quantized from at run time (Div by its scale, Floor,
    Cast, Reshape)."""
    for _ in range(_HOPS + 1):
        info = graph.tensor(name, scope) if name else None
        found = weight_of(info)
        if found is not None and info is not None:
            return info, found
        producer = graph.producer(name, scope) if name else None
        if producer is None or producer.op_type not in _RUNTIME_QUANTIZE_OPS \
                or not producer.inputs:
            return None
        name = producer.inputs[0]  # Div: the float bias, not the scale it is divided by
    return None


def _slot(slot: str, info: TensorInfo, found: Trace, *, framework: bool) -> SlotCount:
    elements = found.elements
    counted = elements if framework else 0
    return SlotCount(slot, info.name, elements, counted, counted, basis=found.basis,
                     sources=found.sources, dtype=_dtype(info))


def _packed(node: NodeInfo, slots: list[SlotCount]) -> tuple[list[SlotCount], str]:
    """A MatMulNBits row counted in values, not bytes: B holds ``bits``-bit values packed into
    bytes (``[N, ceil(K / block_size), block_size · bits / 8]``), one scale and zero point per
    block (zero points packed too below 8 bits); attributes K and N are the float weight's
    shape. Unknown when an attribute is missing."""
    k, n = attr_int(node, "K"), attr_int(node, "N")
    bits, block = attr_int(node, "bits") or 4, attr_int(node, "block_size")
    if not k or not n or not block or min(k, n, block) < 1:
        counted = [replaced(s, elements=None, pytorch=None, keras=None)
                   if s.slot in ("weight", "w_zero_point") else s for s in slots]
        return counted, (f"quantized ({bits}-bit MatMulNBits): K, N or block_size missing: "
                         "the packed weight's values cannot be counted")
    values = {"weight": k * n, "w_zero_point": n * -(-k // block)}
    counted = []
    for slot in slots:
        elements = values.get(slot.slot)
        if elements is not None:
            framework = elements if slot.slot == "weight" else 0
            slot = replaced(slot, elements=elements, pytorch=framework, keras=framework)
        counted.append(slot)
    return counted, (f"{bits}-bit weight packed by MatMulNBits (block {block}): counted as "
                     f"its K·N = {k}·{n} values, the float weight's")


def _dtype(info: TensorInfo) -> str | None:
    return None if info.dtype is None else dtype_name(info.dtype)


def _type(info: TensorInfo) -> str:
    return f"{dtype_name(info.dtype)} {format_shape(info.shape)}"
