from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import attr_ints
from archlint.shapes import format_shape
from archlint_rules._layout import downstream_of_recurrent, dynamic_symbols, node_text


class SqueezeWithoutAxes(Rule):
    """A Squeeze with no axes after a recurrent node also removes a dynamic axis that is 1.

    ## What it does
    Looks at every Squeeze that reads, directly or not, an output of an LSTM, GRU or RNN and
    names no axes (no ``axes`` attribute before opset 13, no ``axes`` input after). Such a
    Squeeze removes every axis of size 1 at run time. When its input has an axis that is a
    dynamic dim of a graph input (``seq``, ``batch``), that axis goes too whenever the caller
    gives it 1, and the output loses a rank.

    ## Why is this bad?
    Y is ``[seq, D, batch, H]``: ``Squeeze(Y)`` written to drop D gives ``[seq, batch, H]``
    for every length but 1, and ``[batch, H]`` for a single step, the very size a streaming
    caller feeds frame by frame (a model that takes and returns its states runs one step at a
    time). The declared output shape no longer holds and the caller's indexing breaks; nothing
    fails at the lengths the model was tried at. madmom's published beat trackers end in
    ``Squeeze(sigmoid)`` of ``[frames, 1]``: at one frame the output is a scalar.

    ## Example
    ``[drop_dir] out = Squeeze (Y)`` after a one-directional LSTM over ``[seq, batch, I]``:
    name the axis, ``Squeeze (Y, axes)`` with ``axes = [1]``. See
    fixtures/AL320/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL320"
    name = "squeeze-without-axes"
    severity = Severity.WARNING
    summary = "Squeeze with no axes after a recurrent node: a dynamic axis of size 1 goes too"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx) if ctx.layers else {}
        if not symbols:
            return
        # a Squeeze with an axes input names them (opset 13 on): only those with one input
        for node in ctx.graph.with_few_inputs("Squeeze", 1):
            if not node.inputs or attr_ints(node, "axes") is not None:  # before opset 13
                continue
            data = ctx.graph.tensor(node.inputs[0], node.graph)
            shape = None if data is None else data.shape
            dynamic = [(axis, dim) for axis, dim in enumerate(shape or ())
                       if isinstance(dim, str) and dim in symbols]
            if not dynamic or not downstream_of_recurrent(ctx, node.id):
                continue
            yield self._finding(ctx, node, shape or (), dynamic, symbols)

    def _finding(
        self, ctx: RuleContext, node: NodeInfo, shape: tuple[int | str | None, ...],
        dynamic: list[tuple[int, str]], symbols: dict[str, str],
    ) -> Finding:
        ones = [axis for axis, dim in enumerate(shape) if dim == 1]
        dim = dynamic[0][1]
        names = ", ".join(f"axis {a} ({d!r}, dynamic in graph input {symbols[d]!r})"
                          for a, d in dynamic)
        expected = f"axes {ones}" if ones else "axes naming the size-1 axes it is meant to drop"
        return ctx.finding(
            self, node,
            f"{node_text(node)} names no axes on {format_shape(shape)}: it removes every axis "
            f"of size 1 at run time, so {names} {'goes' if len(dynamic) == 1 else 'go'} too "
            f"when it is 1 (at {dim}=1 the output "
            f"has rank {len(shape) - len(ones) - 1}, not {len(shape) - len(ones)})",
            input="axes", expected=expected, actual="no axes",
            help=(f"Give the axes to drop: Squeeze(x, axes={ones}) " if ones else
                  "Give the axes to drop ") + "(torch: x.squeeze(1), not x.squeeze(); Keras: "
            "a Reshape or keras.ops.squeeze(x, axis=...)), so a single step keeps its axis.",
        )

