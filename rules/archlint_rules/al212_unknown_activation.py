from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._attrs import SPEC_ACTIVATIONS
from archlint_rules._dims import describe

_BY_LOWER = {name.lower(): name for name in SPEC_ACTIVATIONS}


class UnknownActivation(LayerRule):
    """An activations entry is not a function the spec knows, or is spelled in another case.

    ## What it does
    Checks every name in ``activations`` against the spec's list: Relu, Tanh, Sigmoid,
    Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus.
    An unknown name is an error. A known name in another case (``tanh``) is an error on RNN
    (onnxruntime's RNN compares case-sensitively) and a warning on LSTM and GRU
    (onnxruntime lower-cases them, TensorRT's parser does not).

    ## Why is this bad?
    The activations are the f, g, h of the cell equations (i_t = f(W_i x_t + R_i h_{t-1} + b_i),
    c̃_t = g(...), h_t = o_t ⊙ h(c_t)). A runtime that does not know a name cannot build the
    cell: onnxruntime refuses it at session creation (``Expecting activation to be one of
    Affine, Relu, ... Got Foo``; for RNN ``RNN op: Invalid activation attribute - tanh``).

    ## Example
    ``RNN <activations: strings = ["tanh"]>``: write ``"Tanh"``. See
    fixtures/AL212/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL212"
    name = "unknown-activation"
    severity = Severity.ERROR
    layer_only = True
    summary = "activations holds a name the spec does not list (or in another case)"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        for index, name in enumerate(layer.activations or ()):
            if name in SPEC_ACTIVATIONS:
                continue
            spelled = _BY_LOWER.get(name.lower())
            if spelled is None:
                yield ctx.finding(
                    self, layer,
                    f"{describe(layer)} activations[{index}] is {name!r}, not an activation "
                    "the spec lists",
                    attribute="activations", expected=f"one of {', '.join(SPEC_ACTIVATIONS)}",
                    actual=name,
                    help="Use one of the spec's activation names (Sigmoid for gates, Tanh for "
                    "the cell and output are the defaults).",
                )
                continue
            rnn = layer.op_type == "RNN"
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} activations[{index}] is {name!r}; the spec spells it "
                f"{spelled!r}" + ("" if rnn else " (onnxruntime accepts it, TensorRT does not)"),
                attribute="activations", expected=spelled, actual=name,
                help=f"Write {spelled!r}.",
                severity=None if rnn else Severity.WARNING,
            )
