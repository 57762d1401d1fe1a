from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.recurrent import RECURRENT_OPS, Recognition
from archlint_rules._layout import dynamic_symbols


class UnrolledStepsOnDynamicAxis(Rule):
    """A recurrent layer unrolled to a fixed number of steps over a dynamic time axis.

    ## What it does
    Looks at each recurrent layer archlint recognises as an unrolled chain (one MatMul of the
    same recurrent weights per step) and at the tensor its steps cut x_t from: the input
    sequence, or an input projection computed over the whole sequence first. It reports a
    chain of N steps cut on an axis the model's inputs declare dynamic (a ``dim_param`` such
    as ``time``): the graph computes exactly N steps, whatever length it is given. Only a
    chain over the head of the axis, x_0 ... x_{N-1}, is reported: a window of the last
    steps (``x[:, -3:]``) may be what the model means.

    ## Why is this bad?
    An exporter that traces a Python loop over the time steps writes one step per iteration
    of the example it ran: a custom ``nn.LSTMCell`` loop under ``torch.onnx.export`` with
    ``dynamic_axes`` on time, Keras 3 with the torch backend, jax2onnx with ``unroll=True``.
    Declaring the time axis dynamic does not make the loop dynamic. A shorter sequence fails
    in onnxruntime (a Gather or Split of a step that is not there), a longer one is cut to
    its first N steps without an error, and shape inference sees nothing wrong. onnxruntime
    fails or passes depending on the length tried, so only a run at another length shows it.

    ## Example
    ``x0 = Gather <axis = 1> (x, i0)``, ``x1 = Gather <axis = 1> (x, i1)``,
    ``x2 = Gather <axis = 1> (x, i2)``, each multiplied by W and added to the previous
    state's product with R, with ``float[batch, seq, 2] x``: three steps of a dynamic
    ``seq``. Declare ``seq`` as 3 if only that length is used; else export a layer that loops
    (``nn.LSTM``/``nn.GRU``/``nn.RNN``, which export as ONNX nodes; a scripted loop, which
    stays a Loop). See fixtures/AL317/bad.onnx.txt and good.onnx.txt, and
    fixtures/AL317/torch_lstm_cell_loop.onnx (Keras 3, torch backend, time declared dynamic,
    traced at 6 steps).
    """

    code = "AL317"
    name = "unrolled-steps-on-dynamic-axis"
    severity = Severity.ERROR
    summary = "a recurrent layer is unrolled to a fixed number of steps over a dynamic time axis"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        if not symbols:
            return
        for layer in ctx.recognised:
            cell = layer.cell
            if layer.recognised_as is not Recognition.UNROLLED or cell is None \
                    or cell.stepped is None or not cell.steps:
                continue
            tensor, axis = cell.stepped
            info = ctx.graph.tensor(tensor, layer.node.graph)
            shape = None if info is None else info.shape
            if shape is None or not -len(shape) <= axis < len(shape):
                continue
            dim = shape[axis]
            if not isinstance(dim, str) or dim not in symbols:
                continue
            steps = cell.steps
            yield ctx.finding(
                self, layer,
                f"unrolled {cell.cell} chain from {layer.node.op_type} {layer.label!r} computes "
                f"{steps} steps, cut from axis {axis % len(shape)} of {tensor!r}, which is "
                f"{dim!r}, a dynamic axis of graph input {symbols[dim]!r}: at any other "
                f"length onnxruntime fails or the layer reads only the first {steps} steps",
                expected=f"a layer that loops over {dim!r}, or {dim!r} fixed at {steps}",
                actual=f"{steps} steps unrolled over dynamic {dim!r}",
                tensor=tensor,
                help=(f"The exporter traced a loop over the time steps at the example's length "
                      f"({steps}). If only that length is used, declare {dim!r} as {steps}; "
                      f"else export a layer that loops: {_native(cell.cell)}a scripted loop "
                      "(torch.jit.script: a Loop), or Keras with the TensorFlow backend "
                      "(tf2onnx keeps a while loop)."),
            )


def _native(cell: str) -> str:
    """The framework layer that exports as an ONNX node; ONNX has no two-gate (MGU) op."""
    if cell not in RECURRENT_OPS:
        return ""
    return f"nn.{cell} (an ONNX {cell} node) rather than a cell in a Python loop, "
