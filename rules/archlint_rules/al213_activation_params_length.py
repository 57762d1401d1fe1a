from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._attrs import TAKES_ALPHA, TAKES_BETA
from archlint_rules._dims import describe


class ActivationParamsLength(LayerRule):
    """activation_alpha or activation_beta has a different length than its activations use.

    ## What it does
    Values of ``activation_alpha`` and ``activation_beta`` are consumed in the order of the
    activations, one per function that takes the parameter (alpha: Affine, LeakyRelu,
    ThresholdedRelu, ScaledTanh, HardSigmoid, Elu; beta: Affine, ScaledTanh, HardSigmoid).
    For LSTM and GRU this rule reports a list of another length. onnxruntime's RNN reads one
    value per direction whatever the function, so for RNN the list must hold D values.

    ## Why is this bad?
    alpha and beta shape the f, g, h of the cell (LeakyRelu's slope, HardSigmoid's
    α·x + β). Extra values are silently ignored and missing ones silently take defaults, so
    the layer computes something else than the author wrote; runtimes disagree on how they
    are matched (onnxruntime skips functions without parameters, the onnx reference RNN
    wants one per direction), and onnxruntime's bidirectional RNN with one alpha reads past
    the end of the list.

    ## Example
    ``GRU <activations: strings = ["HardSigmoid", "Tanh"], activation_alpha: floats = [0.2,
    1.0]>``: only HardSigmoid takes an alpha, so the list holds one value. See
    fixtures/AL213/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL213"
    name = "activation-params-length"
    severity = Severity.WARNING
    layer_only = True
    summary = "activation_alpha/beta length differs from the activations that consume them"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        names = layer.effective_activations
        if names is None:
            return
        for attribute, values, takes in (("activation_alpha", layer.activation_alpha, TAKES_ALPHA),
                                         ("activation_beta", layer.activation_beta, TAKES_BETA)):
            if values is None:
                continue
            if layer.op_type == "RNN":
                wanted = layer.num_directions or len(names)
                why = f"one per direction (D={wanted})"
            else:
                users = [n for n in names if n.lower() in takes]
                wanted = len(users)
                why = (f"one per activation that takes it ({', '.join(users)})" if users
                       else "none: no activation takes it")
            if len(values) == wanted:
                continue
            read = "" if layer.op_type == "RNN" else _as_read(users, values)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {attribute} has {len(values)} value(s); activations "
                f"{list(names)} use {wanted}: {why}{read}",
                attribute=attribute, expected=f"{wanted} value(s)",
                actual="[" + ", ".join(f"{v:g}" for v in values) + "]",
                help=f"Give {attribute} exactly {wanted} value(s) in the order of the "
                "activations" + (", or drop it." if wanted == 0 else "."),
            )


def _as_read(users: list[str], values: tuple[float, ...] | list[float]) -> str:
    """How the values are read in order of the functions that take them: ``; read as
    HardSigmoid 0.5, Affine (its default), Affine (its default)``, extra values ignored."""
    parts = [f"{name} {value:g}" for name, value in zip(users, values, strict=False)]
    parts += [f"{name} (its default)" for name in users[len(values):]]
    parts += [f"{value:g} (ignored)" for value in values[len(users):]]
    return "; read as " + ", ".join(parts) if parts else ""
