from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.patterns import state_origin
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import dynamic_symbols, state_batch_axis

_STATES = ("initial_h", "initial_c")


class BatchSymbolMismatch(LayerRule):
    """X and a state input declare the batch axis differently (dynamic axes on one input only).

    ## What it does
    For each LSTM, GRU or RNN whose X has a symbolic batch axis, follows initial_h and
    initial_c back to a model input and compares the batch axis declared there: another symbol
    (``N`` vs ``batch``) is a warning; a fixed number where X is dynamic is an error.

    ## Why is this bad?
    h0 ``(num_layers·D, batch, H)`` holds one row per sequence of X's batch, so its batch axis
    *is* X's batch axis. Exporting with ``dynamic_axes`` declared for ``x`` only leaves h0 with
    the example's batch (a number): any other batch size is rejected when the input is fed.
    Two different symbols run, but tell every consumer of the model (serving signatures,
    TensorRT optimisation profiles, shape inference) that the two sizes are independent,
    which they are not.

    ## Example
    X ``[seq, batch, 4]`` with h0 ``[1, N, 3]`` and c0 ``[1, 1, 3]``: declare both as
    ``[1, batch, 3]`` (torch: list h0 and c0 in ``dynamic_axes`` with the same name). See
    fixtures/AL309/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL309"
    name = "batch-symbol-mismatch"
    severity = Severity.WARNING
    summary = "state model input declares the batch axis differently from X"

    def check_layer(self, layer: RecurrentLayer, ctx: RuleContext) -> Iterator[Finding]:
        batch = layer.batch_dim
        symbols = dynamic_symbols(ctx)
        if not isinstance(batch, str) or batch not in symbols:
            return
        axis = state_batch_axis(layer)
        for slot in _STATES:
            ref = layer.inputs.get(slot)
            if ref is None:
                continue
            origin = state_origin(ctx.graph, ref.name, layer.node.graph)
            root = ctx.graph.tensor(origin.root, layer.node.graph)
            if root is None or not root.is_graph_input or root.is_initializer:
                continue  # constants are AL308's; computed states have no declaration
            # Slices along axis 0 keep the state's batch axis where the model input has it.
            if root.shape is None or len(root.shape) != 3:
                continue
            declared = root.shape[axis]
            if declared is None or batch in root.shape:
                continue  # the same symbol on another axis is a layout question: AL310
            fixed = isinstance(declared, int)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} comes from model input {origin.root!r}, which "
                f"declares its batch axis as {declared!r}, but X's batch axis is {batch!r} "
                f"(graph input {symbols[batch]!r})"
                + (": every other batch size is rejected" if fixed else
                   ": the two are declared independent"),
                input=slot, expected=repr(batch), actual=repr(declared),
                severity=Severity.ERROR if fixed else None,
                help=f"Declare axis {axis} of {origin.root!r} as {batch!r} (torch: give the "
                "state inputs the same dynamic_axes name as x).",
            )
