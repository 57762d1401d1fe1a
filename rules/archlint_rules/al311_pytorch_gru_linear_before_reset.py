from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe


class PytorchGruLinearBeforeReset(LayerRule):
    """A GRU in a PyTorch export has linear_before_reset=0, which PyTorch's GRU never computes.

    ## What it does
    Reports a GRU node with ``linear_before_reset`` 0 or absent (the default is 0) in a model
    whose ``producer_name`` is ``pytorch``, or that onnxruntime's quantizer made of a torch
    export (``onnx.quantize``, the graph named by torch: archlint/exporter.py).

    ## Why is this bad?
    The GRU candidate state has two forms. With ``linear_before_reset=0`` (the ONNX default)
    ĥ_t = tanh(W_h·x_t + R_h·(r_t ⊙ h_{t-1}) + Rb_h + Wb_h): the reset gate scales h before the
    recurrent matrix. PyTorch's ``nn.GRU`` computes
    n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t-1} + b_hn)): the reset gate scales the
    product, which is ``linear_before_reset=1``, and torch's exporter always writes 1. With 0
    the same weights give a different h_t at every step (once R_h or its bias is non-zero);
    nothing fails, the numbers are just not the ones the PyTorch model produced.

    ## Example
    ``GRU <hidden_size: int = 3> (X, W, R, B)`` in a model with ``producer_name: "pytorch"``:
    add ``linear_before_reset: int = 1``. See fixtures/AL311/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL311"
    name = "pytorch-gru-linear-before-reset"
    severity = Severity.ERROR
    layer_only = True
    summary = "GRU from a PyTorch export with linear_before_reset=0 (PyTorch's GRU is 1)"
    ops = frozenset({"GRU"})

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        if not ctx.model.exporter.strip().lower().startswith("pytorch"):
            return
        if layer.linear_before_reset not in (None, 0):
            return
        written = "absent (default 0)" if layer.linear_before_reset is None else "0"
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} has linear_before_reset={written} in a model produced by "
            f"{ctx.model.producer_label}; PyTorch's nn.GRU applies the reset gate after the "
            "recurrent matrix (linear_before_reset=1)",
            attribute="linear_before_reset", expected=1,
            actual=0,
            help="Set linear_before_reset=1 (torch's exporter always does); with 0 every h_t "
            "differs from the one PyTorch computes with the same weights.",
        )
