from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.patterns import state_origin
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import StackInfo, rows_text

_STATES = ("initial_h", "initial_c")


class StateRowsOutOfOrder(Rule):
    """Layer k of a stack is not fed rows [k·D, (k+1)·D) of the (layers·D, batch, H) state.

    ## What it does
    PyTorch passes the initial state of a ``num_layers``-deep recurrent module as one tensor
    h0 ``(num_layers·D, batch, H)`` (and c0 for an LSTM); ONNX gives each node its own
    ``[D, batch, H]``. The exporter slices the model input per layer. This rule finds the layers
    of one stack (layer k+1's X is layer k's Y), follows each initial_h/initial_c back through
    Slice/Gather/Squeeze/Unsqueeze to a model input, and checks that layer k reads rows
    ``[k·D, (k+1)·D)``, in order.

    ## Why is this bad?
    Row block k of h0 is layer k's h_0: for a bidirectional stack, rows 2k and 2k+1 are its
    forward and backward directions. Any block fits any layer (all are ``[D, batch, H]``), so a
    swapped or shifted slice runs fine, and every layer starts its recurrence
    h_t = f(W·x_t + R·h_{t-1} + b) from another layer's state: the outputs differ from
    PyTorch's whenever h0 is not zero.

    ## Example
    A 2-layer GRU with ``h0 [2, batch, 3]`` where layer 0 gets ``Slice(h0, [1], [2])`` and
    layer 1 ``Slice(h0, [0], [1])``: swap the slices. See fixtures/AL305/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL305"
    name = "state-rows-out-of-order"
    severity = Severity.ERROR
    summary = "layer k of a stack is not fed rows [k·D, (k+1)·D) of the model-level state"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        stacks = StackInfo.of(ctx)
        # (root tensor, slot) -> [(layer, rows)]: a model input feeding states of several layers
        fed: dict[tuple[str, str], list[tuple[RecurrentLayer, tuple[int, int]]]] = {}
        for layer in ctx.layers:
            if layer.num_directions is None or layer.layout != 0:
                continue
            for slot in _STATES:
                ref = layer.inputs.get(slot)
                if ref is None:
                    continue
                origin = state_origin(ctx.graph, ref.name, layer.node.graph)
                info = ctx.graph.tensor(origin.root, layer.node.graph)
                if info is None or not info.is_graph_input or info.is_initializer:
                    continue  # zeros or weights: any order of equal rows is the same
                if info.shape is None or len(info.shape) != 3 or origin.rows is None:
                    continue
                fed.setdefault((origin.root, slot), []).append((layer, origin.rows))
        for (root, slot), users in fed.items():
            chains = {stacks.root[layer.node.id] for layer, _ in users}
            ks = sorted(stacks.index[layer.node.id] for layer, _ in users)
            if len(chains) != 1 or ks != list(range(len(users))):
                continue  # not one stack fed from this input: order cannot be proved
            for layer, rows in users:
                yield from self._check(ctx, layer, slot, root, rows, stacks.index[layer.node.id])

    def _check(
        self, ctx: RuleContext, layer: RecurrentLayer, slot: str, root: str,
        rows: tuple[int, int], k: int,
    ) -> Iterator[Finding]:
        d = layer.num_directions or 1
        wanted = (k * d, (k + 1) * d)
        if rows == wanted or rows[1] - rows[0] != d:
            return  # a block of the wrong size is AL301's finding
        yield ctx.finding(
            self, layer,
            f"{describe(layer)} is layer {k} of its stack but its {slot} is {rows_text(rows)} "
            f"of model input {root!r}; the (num_layers·D, batch, H) state keeps layer {k} in "
            f"{rows_text(wanted)}",
            input=slot, expected=rows_text(wanted), actual=rows_text(rows),
            help=f"Slice {root!r} with starts=[{wanted[0]}], ends=[{wanted[1]}] on axis 0 for "
            f"layer {k}.",
        )
