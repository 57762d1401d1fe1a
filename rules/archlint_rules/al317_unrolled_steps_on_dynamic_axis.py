from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.patterns import attr_int, attr_ints, const_ints
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

    Any other loop over the steps traced the same way (a CRF's forward algorithm, an
    exponentially gated sLSTM, a cell archlint does not recognise) shows as the steps read one
    by one at constant indices: ``Gather`` of step 0 (or 1), 1, 2 ... N-1 of a dynamic axis, at
    least three of them. Where nothing else reads that tensor, the steps after N are never
    read: an error; where something else reads it whole, a warning. So is a Split of a
    dynamic axis into three steps of one or more (``x.unbind(1)`` traced): it runs at that
    length only.

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
    traced at 6 steps); fixtures/AL317/torch_crf_loop.onnx is a BiLSTM-CRF (pytorch-crf's
    forward algorithm, a loop over the emissions) traced at 7 steps.
    """

    code = "AL317"
    name = "unrolled-steps-on-dynamic-axis"
    severity = Severity.ERROR
    summary = "a recurrent layer is unrolled to a fixed number of steps over a dynamic time axis"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        if not symbols:
            return
        chains: set[tuple[str, str]] = set()
        for layer in ctx.recognised:
            if layer.cell is not None and layer.cell.stepped is not None:
                chains.add((layer.node.graph, layer.cell.stepped[0]))
        yield from self._chains(ctx, symbols)
        yield from self._step_reads(ctx, symbols, chains)

    def _step_reads(self, ctx: RuleContext, symbols: dict[str, str],
                    chains: set[tuple[str, str]]) -> Iterator[Finding]:
        """Steps 0 (or 1) to N-1 of a dynamic axis read one by one at constant indices, by
        Gathers that no recognised chain owns: a loop traced at N steps."""
        reads: dict[tuple[str, str, int, str], dict[int, NodeInfo]] = {}
        for node in ctx.graph.iter_nodes(frozenset({"Gather"})):
            if node.domain not in ("", "ai.onnx") or len(node.inputs) != 2 \
                    or not node.inputs[0] or (node.graph, node.inputs[0]) in chains:
                continue
            index = const_ints(ctx.graph, node.inputs[1], node.graph)
            if index is None or len(index) != 1 or index[0] < 0:
                continue  # a step from the end (x[:, -1]) is the last at any length
            cut = _dynamic_axis(ctx, node, symbols)
            if cut is not None:
                reads.setdefault((node.graph, node.inputs[0], *cut), {}).setdefault(
                    index[0], node)
        loops: set[tuple[str, str, int]] = set()  # one finding per traced loop
        yield from self._step_splits(ctx, symbols, chains, loops)
        for (scope, tensor, axis, dim), found in reads.items():
            indices = sorted(found)
            first, last = indices[0], indices[-1]
            if first > 1 or len(indices) < _MIN_STEPS or indices != list(range(first, last + 1)):
                continue
            steps = last + 1
            if (scope, dim, steps) in loops:
                continue  # another tensor the same loop steps through (a CRF's mask)
            loops.add((scope, dim, steps))
            readers = {node.id for node in found.values()}
            whole = [c for c in ctx.graph.consumers_of(tensor, scope)
                     if c.id not in readers and c.op_type != "Shape"]
            node = found[last]
            yield ctx.finding(
                self, node,
                f"{len(indices)} Gathers read steps {first} to {last} of axis {axis} of "
                f"{tensor!r}, which is {dim!r}, a dynamic axis of graph input "
                f"{symbols[dim]!r}, one at a time at constant indices: a loop traced at "
                f"{steps} steps; at {dim} < {steps} onnxruntime fails, and "
                + (f"at {dim} > {steps} the steps after {last} are never read" if not whole
                   else f"the steps after {last} are read only by "
                   f"{whole[0].op_type} {whole[0].label!r}"),
                expected=f"a loop over {dim!r}, or {dim!r} fixed at {steps}",
                actual=f"steps {first}..{last} read at constant indices",
                tensor=tensor, severity=Severity.WARNING if whole else None,
                help=_traced_help(dim, steps))

    def _step_splits(self, ctx: RuleContext, symbols: dict[str, str],
                     chains: set[tuple[str, str]],
                     loops: set[tuple[str, str, int]]) -> Iterator[Finding]:
        """A Split of a dynamic axis into N steps of one (torch's ``x.unbind`` or
        ``x.split(1)`` traced at N): it runs at that length only. ``loops`` gathers the
        (scope, dim, steps) reported, one finding per traced loop."""
        for node in ctx.graph.iter_nodes(frozenset({"Split"})):
            if node.domain not in ("", "ai.onnx") or not node.inputs or not node.inputs[0] \
                    or (node.graph, node.inputs[0]) in chains or len(node.outputs) < _MIN_STEPS:
                continue
            sizes = const_ints(ctx.graph, node.inputs[1], node.graph) \
                if len(node.inputs) > 1 and node.inputs[1] else attr_ints(node, "split")
            if sizes is None or set(sizes) != {1}:
                continue
            cut = _dynamic_axis(ctx, node, symbols)
            if cut is None:
                continue
            axis, dim = cut
            steps = len(sizes)
            if (node.graph, dim, steps) in loops:
                continue  # another tensor the same loop steps through
            loops.add((node.graph, dim, steps))
            yield ctx.finding(
                self, node,
                f"Split {node.label!r} cuts axis {axis} of {node.inputs[0]!r}, which is "
                f"{dim!r}, a dynamic axis of graph input {symbols[dim]!r}, into {steps} steps "
                f"of one: a loop traced at {steps} steps; at any other {dim} onnxruntime fails",
                expected=f"a loop over {dim!r}, or {dim!r} fixed at {steps}",
                actual=f"split into {steps} steps of one", tensor=node.inputs[0],
                help=_traced_help(dim, steps))

    def _chains(self, ctx: RuleContext, symbols: dict[str, str]) -> Iterator[Finding]:
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
                      "else export a layer that loops: "
                      f"{_native(cell.cell, cell.projection_size is not None)}a scripted loop "
                      "(torch.jit.script: a Loop), or Keras with the TensorFlow backend "
                      "(tf2onnx keeps a while loop)."),
            )


def _dynamic_axis(ctx: RuleContext, node: NodeInfo,
                  symbols: dict[str, str]) -> tuple[int, str] | None:
    """The axis a Gather or Split cuts (its ``axis``) and its dim, where the dim is a dynamic
    symbol of a graph input."""
    info = ctx.graph.tensor(node.inputs[0], node.graph)
    shape = None if info is None else info.shape
    axis = attr_int(node, "axis") or 0
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    dim = shape[axis % len(shape)]
    return (axis % len(shape), dim) if isinstance(dim, str) and dim in symbols else None


def _traced_help(dim: str, steps: int) -> str:
    return (f"The exporter traced a Python loop over the steps at the example's length "
            f"({steps}). If only that length is used, declare {dim!r} as {steps}; else script "
            "the loop (torch.jit.script: an ONNX Loop) or export the recurrence as a layer "
            "that loops.")


# the fewest steps read one by one that make a traced loop (x[:, 0] and x[:, 1] may be meant)
_MIN_STEPS = 3


def _native(cell: str, projected: bool = False) -> str:
    """The framework layer that exports as an ONNX node; ONNX has no two-gate (MGU) op and
    no LSTM with projection."""
    if cell not in RECURRENT_OPS or projected:
        return ""
    return f"nn.{cell} (an ONNX {cell} node) rather than a cell in a Python loop, "
