"""Where nodes ran, from the placement rows of onnxruntime's profile."""

from __future__ import annotations

from archlint.api import RuleContext
from archlint.recurrent import RECURRENT_OPS
from archlint.runtime.result import Placed

__all__ = ["PLACEMENT_LIMIT", "placement"]

PLACEMENT_LIMIT = 20  # other nodes listed by name when they left the first provider


def placement(rows: list[list[str]], ctx: RuleContext,
              providers: tuple[str, ...]) -> tuple[tuple[Placed, ...], tuple[str, ...]]:
    """The recurrent nodes' providers, and the report lines summing the profile up."""
    by_provider: dict[str, int] = {}
    lines: list[str] = []
    # every recognised layer's node: LSTM/GRU/RNN and contrib ops (DynamicQuantizeLSTM)
    recurrent = {la.node.name: la.node for la in ctx.layers if la.node.name}
    seen: set[str] = set()
    placed: list[Placed] = []
    elsewhere: list[str] = []
    for name, op, provider in rows:
        by_provider[provider] = by_provider.get(provider, 0) + 1
        if op not in RECURRENT_OPS and name not in recurrent and provider != providers[0]:
            elsewhere.append(f"{op} {name!r}")
        if op in RECURRENT_OPS or name in recurrent:
            seen.add(name)
            lines.append(f"{op} {name!r}: {provider}")
            placed.append(Placed(name, op, provider, recurrent.get(name)))
    for name in sorted(set(recurrent) - seen):
        lines.append(f"{recurrent[name].op_type} {name!r}: not in the profile (fused, renamed "
                     "or not executed)")
    if elsewhere:  # other nodes that left the first provider: the transfers around them cost
        shown = ", ".join(elsewhere[:PLACEMENT_LIMIT])
        more = f" and {len(elsewhere) - PLACEMENT_LIMIT} more" if len(elsewhere) > PLACEMENT_LIMIT \
            else ""
        lines.append(f"not on {providers[0]}: {shown}{more}")
    summary = ", ".join(f"{count} on {p}" for p, count in sorted(by_provider.items()))
    return tuple(placed), (f"{len(rows)} nodes ran: {summary}" if rows else "no node ran", *lines)
