from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.recurrent import RecurrentLayer
from archlint_rules._dims import describe
from archlint_rules._layout import DeclaredBatch, batch_fix, declared_state_batch, dynamic_symbols

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
    symbol on the other layout's axis, AL310 reports it.

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
            yield ctx.finding(
                self, layer,
                f"{describe(layer)} {slot} comes from model input {root!r}{also}, which "
                f"declares its batch axis as {declared!r}, but X's batch axis is {batch!r} "
                f"(graph input {symbols[batch]!r})"
                + (f"; {root!r} declares {batch!r} on axis {found.batch_axis}, which the model "
                   "slices as if it held the layers" if major else "")
                + (": every other batch size is rejected" if fixed else
                   ": the two are declared independent"),
                input=slot, expected=repr(batch), actual=repr(declared),
                severity=Severity.ERROR if fixed else None,
                help=(f"{root!r} is a batch-major state: " + batch_fix(found, batch)) if major
                else f"Declare axis {found.axis} of {root!r} as {batch!r} (torch: give the "
                "state inputs the same dynamic_axes name as x).",
            )
