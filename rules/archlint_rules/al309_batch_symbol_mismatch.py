from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.patterns import is_model_input, state_source
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import (
    DeclaredBatch,
    batch_fix,
    declared_state_batch,
    dynamic_symbols,
    upstream_of_recurrent,
)

_STATES = ("initial_h", "initial_c")


class BatchSymbolMismatch(Rule):
    """X and a state input declare the batch axis differently (dynamic axes on one input only).

    ## What it does
    For each LSTM, GRU or RNN whose X has a symbolic batch axis, follows the batch axis of
    initial_h and initial_c back to a model input (through Slice, Gather, Squeeze, Unsqueeze
    and Reshapes that only add unit axes, so a ``[batch, H]`` state input that tf2onnx
    unsqueezes is followed too) and compares the batch axis declared there: another symbol
    (``N`` vs ``batch``) is a warning; a fixed number where X is dynamic is an error. Names
    that tools invent for unnamed dims declare nothing and are not compared: ``unk__7``
    (tf2onnx gives every Keras ``None`` one) and ``DynamicDimension.3`` (paddle2onnx gives
    every ``None`` of an ``InputSpec`` one; Paddle has no way to name a dim). A Loop-carried
    state is followed to the model input it starts from. A model input sliced for several
    layers is reported once, at the first layer that reads it. A model input that declares
    X's batch symbol on another axis, which the state's walk does not follow, is a
    batch-major state sliced as if it held the layers (``nn.GRU(batch_first=True)`` called
    with an h0 shaped like x, ``[batch, num_layers, H]``); where the state still carries the
    symbol on the other layout's axis, AL310 reports it. Where X's batch symbol does not
    follow back to an input's axis and graph outputs the graph reads again carry it, shape
    inference may have taken it from their declarations (where it knows nothing of a dim,
    after a Pad at computed pads): a fixed state batch is then a warning that says so, not
    an error (livekit-plugins-hush's DeepFilterNet encoder declares ``e1 [S, 16, S, 16]``
    and computes ``[1, 16, S, 16]``).

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
    fixtures/AL309/bad.onnx.txt and good.onnx.txt, and
    fixtures/AL309/torch_gru_h0_batch_major.onnx (the batch-major h0, as torch exports it).
    """

    code = "AL309"
    name = "batch-symbol-mismatch"
    severity = Severity.WARNING
    summary = "state model input declares the batch axis differently from X"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        symbols = dynamic_symbols(ctx)
        # model input -> (first layer, slot, declared dim, X's batch symbol, layers reading it)
        seen: dict[str, tuple[RecurrentLayer, str, DeclaredBatch, str, list[str]]] = {}
        for layer in ctx.layers:
            if not any(slot in layer.inputs for slot in _STATES):
                continue  # no state input to declare a batch
            batch = layer.batch_dim
            if not isinstance(batch, str) or batch not in symbols:
                continue
            for slot in _STATES:
                found = declared_state_batch(ctx, layer, slot, batch)
                if found is None:
                    continue
                if found.root in seen:
                    seen[found.root][4].append(layer.label)
                else:
                    seen[found.root] = (layer, slot, found, batch, [layer.label])
        for root, (layer, slot, found, batch, readers) in seen.items():
            declared = found.declared
            fixed = isinstance(declared, int)
            also = f" (read by {len(readers)} layers: {', '.join(readers)})" \
                if len(readers) > 1 else ""
            major = found.batch_axis is not None
            seeded = [] if _traced_to_an_input(ctx, layer, batch) \
                else _declared_upstream(ctx, batch)
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} comes from model input {root!r}{also}, which "
                f"declares its batch axis as {declared!r}, but X's batch axis is {batch!r} "
                f"(graph input {symbols[batch]!r})"
                + (f"; {root!r} declares {batch!r} on axis {found.batch_axis}, which the model "
                   "slices as if it held the layers" if major else "")
                + (" as shape inference gives it, not traced to an input's axis; it starts "
                   "from the declarations of graph outputs the graph reads again "
                   f"({', '.join(map(repr, seeded))}): if one of them puts {batch!r} on a "
                   "wrong axis, so is X's batch (the runtime check shows which)"
                   if seeded else "")
                + (": every other batch size is rejected" if fixed and not seeded else
                   "" if seeded else ": the two are declared independent"),
                input=slot, expected=repr(batch), actual=repr(declared),
                severity=Severity.ERROR if fixed and not seeded else None,
                help=(f"{root!r} is a batch-major state: " + batch_fix(found, batch)) if major
                else (f"First check the declared shapes of {', '.join(map(repr, seeded))} "
                      "against what the graph computes (archlint run compares them); where X's "
                      f"batch really is {batch!r}, declare axis {found.axis} of {root!r} as "
                      f"{batch!r}.") if seeded
                else f"Declare axis {found.axis} of {root!r} as {batch!r} (torch: give the "
                "state inputs the same dynamic_axes name as x).",
            )


def _traced_to_an_input(ctx: RuleContext, layer: RecurrentLayer, batch: str) -> bool:
    """Whether X's batch axis follows back (through layout ops, Slice, Gather...) to an axis
    of a model input that declares ``batch``."""
    x = layer.inputs.get("X")
    if x is None or not x.name:
        return False
    source = state_source(ctx.graph, x.name, layer.node.graph, 0 if layer.layout == 1 else 1)
    root = ctx.graph.tensor(source.root) if source.root else None
    return source.axis is not None and root is not None and is_model_input(root) \
        and root.shape is not None and source.axis < len(root.shape) \
        and root.shape[source.axis] == batch


def _declared_upstream(ctx: RuleContext, symbol: str) -> list[str]:
    """The main-graph outputs that the graph reads again, upstream of a recurrent node, whose
    shapes carry ``symbol``: where inference knows nothing of a dim (a Pad at computed pads)
    it takes their declarations, so a wrong one (DeepFilterNet's encoder in
    livekit-plugins-hush declares e1 [S, 16, S, 16] and computes [1, 16, S, 16]) carries the
    symbol onto axes the graph computes otherwise."""
    graph = ctx.graph
    found = []
    for name in graph.graph_outputs.get("main", ()):
        info = graph.tensor(name)
        producer = graph.producer(name)
        if info is None or info.shape is None or symbol not in info.shape \
                or producer is None or not graph.consumers_of(name, "main"):
            continue
        if upstream_of_recurrent(ctx, producer.id):
            found.append(name)
    return found
