"""AL020 dynamic-quantize-lstm-parameters"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.graph import dtype_name
from archlint.recurrent import RecurrentLayer, TensorRef
from archlint.shapes import Shape, format_shape
from archlint_rules._dims import describe

if TYPE_CHECKING:
    import numpy as np

_INT8, _UINT8, _FLOAT = 3, 2, 1
_QUANTIZED = {_INT8, _UINT8}
_WEIGHTS = ("W", "R")
_SCALES = ("W_scale", "R_scale")
_ZERO_POINTS = ("W_zero_point", "R_zero_point")


class DynamicQuantizeLstmParameters(LayerRule):
    """A DynamicQuantizeLSTM's quantized weights, scales or zero points break its kernel's rules.

    ## What it does
    Checks the inputs that make a ``com.microsoft`` DynamicQuantizeLSTM (what
    ``onnxruntime.quantization.quantize_dynamic`` writes for an LSTM) quantized, against its
    schema and its CPU kernel (onnxruntime/contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc).
    With D = num_directions and H = hidden_size:

    * W ``[D, I, 4·H]``, R ``[D, H, 4·H]``, W_zero_point and R_zero_point share one type T2,
      int8 or uint8; W_scale and R_scale are float. All four quantization inputs are required.
    * Each scale and zero point is ``[D]`` (one per direction) or ``[D, 4·H]`` (per channel).
    * Per channel, int8 zero points must all be 0 and uint8 zero points all equal (checked when
      they are constants).

    The weights' own shapes are read as the LSTM's by AL101, AL102 and AL201, which quote the
    stored layout.

    ## Why is this bad?
    The kernel computes each gate from ``(W_q - zero_point) · scale`` with one scale per
    direction or per gate row; the int8 GEMM it uses supports a zero point per row only where
    the zero point is the same everywhere. onnxruntime refuses a type mix at session creation
    (``Type parameter (T2) of Optype (DynamicQuantizeLSTM) bound to different types``) and the
    rest at the first Run (``Input W_scale must have shape {1} for per-tensor/layer quantization
    or shape {1, 4*3} for per-channel quantization``, ``InputWeight zero point must be zero``).
    A hand-edited or re-quantized model (int8 weights with uint8 zero points, a scale saved per
    gate row without the direction axis) is the usual cause.

    ## Example
    ``com.microsoft.DynamicQuantizeLSTM <hidden_size: int = 3>`` with int8 W and a uint8
    W_zero_point: store the zero point as int8 (0 for symmetric int8 weights). See
    fixtures/AL020/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL020"
    name = "dynamic-quantize-lstm-parameters"
    severity = Severity.ERROR
    summary = "DynamicQuantizeLSTM weights, scales or zero points its kernel refuses"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if layer.node_op != "com.microsoft.DynamicQuantizeLSTM":
            return
        yield from self._types(layer, ctx)
        yield from self._shapes(layer, ctx)
        yield from self._zero_points(layer, ctx)

    def _types(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        missing = [s for s in (*_SCALES, *_ZERO_POINTS) if s not in layer.extra_inputs]
        if missing:
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} lacks {', '.join(missing)}: the op requires W_scale, "
                "W_zero_point, R_scale and R_zero_point (inputs 8-11)",
                expected="12 inputs", actual=f"{len(layer.node.inputs)} inputs",
                help="Quantize the LSTM with onnxruntime.quantization.quantize_dynamic, which "
                "writes all four, or pass them after the eight LSTM inputs.",
            )
        typed = {slot: ref.dtype for slot, ref in self._slots(layer, (*_WEIGHTS, *_ZERO_POINTS))
                 if ref.dtype is not None}
        for slot, dtype in typed.items():
            if dtype not in _QUANTIZED:
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} input {slot} is {dtype_name(dtype)}; type T2 of "
                    "DynamicQuantizeLSTM is int8 or uint8",
                    input=slot, tensor=self._name(layer, slot),
                    expected="int8 or uint8", actual=dtype_name(dtype),
                    help="Keep a float LSTM as an ONNX LSTM; DynamicQuantizeLSTM takes the "
                    "quantized weights quantize_dynamic writes.",
                )
        usable = {s: d for s, d in typed.items() if d in _QUANTIZED}
        reference = usable.get("W")
        if reference is not None:
            for slot, dtype in usable.items():
                if dtype != reference:
                    yield ctx.finding(
                        self, layer,
                        f"{describe(layer)} input {slot} is {dtype_name(dtype)} but W is "
                        f"{dtype_name(reference)}; W, R, W_zero_point and R_zero_point share "
                        "one type T2",
                        input=slot, tensor=self._name(layer, slot), expected=dtype_name(reference),
                        actual=dtype_name(dtype),
                        help=f"Store {slot} as {dtype_name(reference)} (re-quantize W and R "
                        "together to change the type).",
                    )
        for slot, ref in self._slots(layer, _SCALES):
            if ref.dtype is not None and ref.dtype != _FLOAT:
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} input {slot} is {dtype_name(ref.dtype)}; the scales "
                    "are float (type T)",
                    input=slot, tensor=ref.name, expected="float", actual=dtype_name(ref.dtype),
                    help=f"Store {slot} as float32.",
                )

    def _shapes(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        d, h = layer.num_directions, layer.effective_hidden_size
        if d is None or h is None:
            return
        allowed: tuple[Shape, Shape] = ((d,), (d, 4 * h))
        for slot, ref in self._slots(layer, (*_SCALES, *_ZERO_POINTS)):
            shape = ref.shape
            if shape is None or any(not isinstance(x, int) for x in shape) or shape in allowed:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} input {slot} has shape {format_shape(shape)}; it must be "
                f"[{d}] (per direction) or [{d}, {4 * h}] (per channel, D x 4·H)",
                input=slot, tensor=ref.name, expected=f"[{d}] or [{d}, {4 * h}]",
                actual=format_shape(shape),
                help="Give every scale and zero point its leading direction axis D "
                f"({slot} of a per-channel quantization is [D, 4·H]).",
            )

    def _zero_points(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        for slot, ref in self._slots(layer, _ZERO_POINTS):
            value = ref.value
            if value is None or value.ndim != 2 or value.size == 0:
                continue  # per tensor, or not a known constant: nothing to check
            if ref.dtype == _INT8 and (value != 0).any():
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} has per-channel int8 {slot} with non-zero values; the "
                    "kernel requires int8 per-channel zero points to be 0",
                    input=slot, tensor=ref.name, expected="all 0", actual=_values(value),
                    help="Quantize int8 weights symmetrically (quantize_dynamic does: "
                    "WeightSymmetric), or use one zero point per direction.",
                )
            elif ref.dtype == _UINT8 and (value != value.flat[0]).any():
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} has per-channel uint8 {slot} that differ; the kernel "
                    "requires one value throughout",
                    input=slot, tensor=ref.name, expected=f"all {int(value.flat[0])}",
                    actual=_values(value),
                    help="Use one zero point for all channels (only the scales vary per "
                    "channel), or one zero point per direction.",
                )

    @staticmethod
    def _slots(layer: RecurrentLayer, slots: tuple[str, ...]) -> Iterator[tuple[str, TensorRef]]:
        for slot in slots:
            ref = layer.inputs.get(slot) or layer.extra_inputs.get(slot)
            if ref is not None:
                yield slot, ref

    @staticmethod
    def _name(layer: RecurrentLayer, slot: str) -> str | None:
        ref = layer.inputs.get(slot) or layer.extra_inputs.get(slot)
        return None if ref is None else ref.name


def _values(value: np.ndarray[Any, Any]) -> str:
    flat = [int(v) for v in value.reshape(-1)[:8]]
    more = ", ..." if value.size > 8 else ""
    return "[" + ", ".join(map(str, flat)) + more + "]"
