from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Fix, Rule, RuleContext, Safety, Severity
from archlint.patterns import is_model_input, state_origin
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._fixes import input_index, node_of
from archlint_rules._layout import (
    WANTED_OUTPUT,
    StackInfo,
    node_text,
    rows_text,
    state_concats,
)

if TYPE_CHECKING:  # fixes are imported by `archlint fix`, not by a lint
    from archlint.fixes import ModelEditor

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

    One input that feeds both initial_h and initial_c is a packed (h, c) state (shipped
    voice-activity detectors stream ``state [2, batch, H]``: row 0 is h, row 1 is c of one
    layer). Its rows are not layers: they are checked against the Concat of Y_h / Y_c that
    returns the state (initial_h must read the rows where the output keeps Y_h), and left
    alone when the model returns no such Concat.

    ## Why is this bad?
    Row block k of h0 is layer k's h_0: for a bidirectional stack, rows 2k and 2k+1 are its
    forward and backward directions. Any block fits any layer (all are ``[D, batch, H]``), so a
    swapped or shifted slice runs fine, and every layer starts its recurrence
    h_t = f(W·x_t + R·h_{t-1} + b) from another layer's state: the outputs differ from
    PyTorch's whenever h0 is not zero. In a packed state read in another order than it is
    returned, h and c trade places at every streamed chunk.

    ## Example
    A 2-layer GRU with ``h0 [2, batch, 3]`` where layer 0 gets ``Slice(h0, [1], [2])`` and
    layer 1 ``Slice(h0, [0], [1])``: swap the slices. See fixtures/AL305/bad.onnx.txt and
    good.onnx.txt.
    """

    code = "AL305"
    name = "state-rows-out-of-order"
    severity = Severity.ERROR
    summary = "layer k of a stack is not fed rows [k·D, (k+1)·D) of the model-level state"
    fix_safety = Safety.UNSAFE

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        # model input -> [(layer, slot, rows)]: a model input feeding states of several layers
        fed: dict[str, list[tuple[RecurrentLayer, str, tuple[int, int]]]] = {}
        for layer in ctx.layers:
            if layer.num_directions is None or layer.layout != 0:
                continue
            for slot in _STATES:
                ref = layer.inputs.get(slot)
                if ref is None:
                    continue
                origin = state_origin(ctx.graph, ref.name, layer.node.graph)
                info = ctx.graph.tensor(origin.root, layer.node.graph)
                if info is None or not is_model_input(info):
                    continue  # zeros, weights or a Loop-carried value: no row convention
                if info.shape is None or len(info.shape) != 3 or origin.rows is None:
                    continue
                fed.setdefault(origin.root, []).append((layer, slot, origin.rows))
        if not fed:
            return  # no layer reads its state from a model input: no stack walk
        stacks = StackInfo.of(ctx)
        for root, users in fed.items():
            if len({slot for _, slot, _ in users}) == 2:
                # One input feeds both initial_h and initial_c: a packed (h, c) state. Its row
                # convention is the one the model returns its state in, not layer order.
                yield from self._packed(ctx, root, users)
                continue
            slot = users[0][1]
            chains = {stacks.root[layer.node.id] for layer, _, _ in users}
            ks = sorted(stacks.index[layer.node.id] for layer, _, _ in users)
            if len(chains) != 1 or ks != list(range(len(users))):
                continue  # not one stack fed from this input: order cannot be proved
            for layer, _, rows in users:
                yield from self._check(ctx, layer, slot, root, rows, stacks.index[layer.node.id])

    def _packed(
        self, ctx: RuleContext, root: str,
        users: list[tuple[RecurrentLayer, str, tuple[int, int]]],
    ) -> Iterator[Finding]:
        readers = {layer.node.id for layer, _, _ in users}
        # Output states made of these layers' (Y_h, Y_c) pairs only: one per If branch, say.
        concats = [c for c in state_concats(ctx)
                   if c.is_packed and {node_id for node_id, _ in c.rows} <= readers]
        for layer, slot, rows in users:
            out_slot = WANTED_OUTPUT[slot]
            found = [c for c in concats if (layer.node.id, out_slot) in c.rows]
            if len(found) != 1:
                continue  # no (or no single) output state to read the convention from
            output = found[0]
            out_name = output.node.outputs[0] if output.node.outputs else "?"
            expected = output.rows[(layer.node.id, out_slot)]
            if rows == expected:
                continue
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} reads its {slot} from {rows_text(rows)} of the packed "
                f"(h, c) state input {root!r}, but {node_text(output.node)} returns its "
                f"{out_slot} in {rows_text(expected)} of {out_name!r}: fed back for the next "
                "chunk, each state starts from the other one",
                input=slot, expected=rows_text(expected), actual=rows_text(rows),
                help=f"Slice {root!r} with starts=[{expected[0]}], ends=[{expected[1]}] on axis "
                f"0 for {slot}, the rows where the output state keeps {out_slot}.",
            )

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

    def fix(self, finding: Finding, editor: ModelEditor) -> Fix | None:
        """Feed the state from the rows the finding names: a new Slice of the state input on
        axis 0 (the old path stays for any other reader)."""
        node = node_of(finding, editor)
        loc = finding.location
        index = input_index(node, loc.tensor) if node is not None else None
        rows = _ROWS.match(finding.expected or "")
        if node is None or index is None or rows is None or loc.tensor is None:
            return None
        graph = editor.context.graph
        root = state_origin(graph, loc.tensor, loc.graph).root
        root_info, state_info = graph.tensor(root, loc.graph), graph.tensor(loc.tensor, loc.graph)
        if root_info is None or state_info is None or root_info.dtype != state_info.dtype:
            return None  # a Cast on the way: the new Slice would change the dtype
        start, stop = int(rows.group(1)), int(rows.group(2))

        def apply() -> None:
            import numpy as np  # `archlint fix` only

            bounds = [editor.add_constant(node, np.array([v], dtype=np.int64), f"{root}_{what}")
                      for v, what in ((start, "start"), (stop, "stop"), (0, "axis"))]
            node.input[index] = editor.add_node_before(
                node, "Slice", [root, *bounds], {}, f"{loc.input}_rows_{start}_{stop}")

        return Fix(f"{loc.input} of {loc.node_label()} from rows [{start}, {stop}) of {root!r} "
                   f"(was {finding.actual})", Safety.UNSAFE, apply)


_ROWS = re.compile(r"^rows \[(\d+), (\d+)\)$")
