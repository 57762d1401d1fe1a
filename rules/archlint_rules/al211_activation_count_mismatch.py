from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import ACTIVATIONS_PER_DIRECTION, DEFAULT_ACTIVATIONS, RecurrentLayer
from archlint_rules._dims import describe


class ActivationCountMismatch(LayerRule):
    """The activations list does not hold one function per gate role and direction.

    ## What it does
    ``activations`` lists the functions for every direction: D × 3 for an LSTM (f, g, h),
    D × 2 for a GRU (f, g) and D × 1 for an RNN (f). This rule reports a list of another
    length. (An RNN with D = 1 and exactly 2 names is accepted: the schema's own default is
    ``[Tanh, Tanh]`` and runtimes use the first.)

    ## Why is this bad?
    In an LSTM, f squashes the gates i_t, o_t, f_t (Sigmoid), g the candidate
    c̃_t (Tanh) and h the output h_t = o_t ⊙ h(c_t) (Tanh); a bidirectional layer repeats the
    three for the reverse direction. With a short or long list it is undefined which function
    plays which role. onnxruntime refuses the node at session creation
    (``activation_func_names.size() == static_cast<size_t>(num_directions_) * 3 was
    false.``). A bidirectional node that lists only one direction's functions is the usual
    case.

    ## Example
    ``LSTM <direction: string = "bidirectional", activations: strings = ["Sigmoid", "Tanh",
    "Tanh"]>``: repeat the list for the reverse direction (6 names). See
    fixtures/AL211/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL211"
    name = "activation-count-mismatch"
    severity = Severity.ERROR
    layer_only = True
    summary = "activations does not hold D × (3 LSTM, 2 GRU, 1 RNN) names"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        d, names = layer.num_directions, layer.activations
        if d is None or names is None:
            return
        per = ACTIVATIONS_PER_DIRECTION[layer.op_type]
        wanted = d * per
        if len(names) == wanted or (layer.op_type == "RNN" and d == 1 and len(names) == 2):
            return
        roles = {"LSTM": "f, g, h", "GRU": "f, g", "RNN": "f"}[layer.op_type]
        example = list(DEFAULT_ACTIVATIONS[layer.op_type]) * d
        help_text = f"Give {wanted} names ({roles} per direction), e.g. {example}."
        if d == 2 and len(names) == per:
            help_text = (f"The list holds one direction's functions: repeat it for the reverse "
                         f"direction ({list(names) * 2}).")
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has {len(names)} activations; direction={layer.direction!r} "
            f"(D={d}) needs {d} × {per} = {wanted}",
            attribute="activations", expected=f"{wanted} names", actual=list(names),
            help=help_text,
        )
