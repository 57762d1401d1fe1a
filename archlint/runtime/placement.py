"""Where nodes ran, from the placement rows of onnxruntime's profile."""

from __future__ import annotations

import re
from collections import Counter

from archlint.api import RuleContext
from archlint.graph import NodeInfo
from archlint.recurrent import RECURRENT_OPS
from archlint.runtime.result import Placed

__all__ = ["PLACEMENT_LIMIT", "placement", "unnamed_in_profile"]

PLACEMENT_LIMIT = 20  # other nodes listed by name when they left the first provider


def placement(rows: list[list[str]], ctx: RuleContext,
              providers: tuple[str, ...]) -> tuple[tuple[Placed, ...], tuple[str, ...]]:
    """The recurrent nodes' providers, and the report lines summing the profile up."""
    by_provider: dict[str, int] = {}
    lines: list[str] = []
    # every recognised layer's node: LSTM/GRU/RNN and contrib ops (DynamicQuantizeLSTM); a
    # name two nodes share says nothing of which one ran where
    uses = Counter(la.node.name for la in ctx.layers if la.node.name)
    recurrent = {la.node.name: la.node for la in ctx.layers
                 if la.node.name and uses[la.node.name] == 1}
    unnamed = unnamed_in_profile(rows, ctx)
    seen: set[str] = set()
    placed: list[Placed] = []
    elsewhere: list[str] = []
    for name, op, provider in rows:
        by_provider[provider] = by_provider.get(provider, 0) + 1
        node = recurrent.get(name) or unnamed.get(name)
        if op not in RECURRENT_OPS and node is None and provider != providers[0]:
            elsewhere.append(f"{op} {name!r}")
        if op in RECURRENT_OPS or node is not None:
            seen.add(name)
            shown = repr(name) if node is None or node.name else \
                f"{node.label!r} (onnxruntime's {name!r})"
            lines.append(f"{op} {shown}: {provider}")
            placed.append(Placed(name, op, provider, node))
    for name in sorted(set(recurrent) - seen):
        lines.append(f"{recurrent[name].op_type} {name!r}: not in the profile (fused, renamed "
                     "or not executed)")
    for name, count in sorted(uses.items()):
        if count > 1:
            lines.append(f"{name!r}: {count} recurrent nodes share this name, so the profile "
                         "does not tell them apart")
    matched = set(unnamed.values())
    for node in (la.node for la in ctx.layers
                 if la.cell is None and not la.node.name and la.node.graph == "main"
                 and la.node not in matched):
        lines.append(f"{node.op_type} {node.label!r}: not matched in the profile (no name, "
                     "and onnxruntime's own names for such nodes did not line up)")
    if elsewhere:  # other nodes that left the first provider: the transfers around them cost
        shown = ", ".join(elsewhere[:PLACEMENT_LIMIT])
        more = f" and {len(elsewhere) - PLACEMENT_LIMIT} more" if len(elsewhere) > PLACEMENT_LIMIT \
            else ""
        lines.append(f"not on {providers[0]}: {shown}{more}")
    summary = ", ".join(f"{count} on {p}" for p, count in sorted(by_provider.items()))
    return tuple(placed), (f"{len(rows)} nodes ran: {summary}" if rows else "no node ran", *lines)


# onnxruntime's profiler names a node that has none ``<op type>_<its index>``, the index in
# onnxruntime's own graph (SequentialExecutor's node_name_for_profiling): nodes are indexed in
# model order as loaded, after Constant nodes became initializers, and nodes its optimizers
# add come later
_GENERATED_NAME = re.compile(r"^(?P<op>.+)_(?P<index>\d+)$")


def unnamed_in_profile(rows: list[list[str]], ctx: RuleContext) -> dict[str, NodeInfo]:
    """Profile name -> node, for the main graph's recurrent nodes without a name (recurrent
    ops and contrib ops; not recognised cells).

    Per op type, the profile's generated names (not a name in the model), ordered by their
    index, are the unnamed nodes of that op in model order; matched only when there are as
    many of each, so an optimizer that dropped or added one leaves them all unmatched rather
    than paired wrongly."""
    unnamed: dict[str, list[NodeInfo]] = {}
    for layer in ctx.layers:
        node = layer.node
        # an LSTM/GRU/RNN node or a contrib op; a recognised cell's node is a MatMul or a
        # Loop, among others of its kind that are no layer
        if layer.cell is None and not node.name and node.graph == "main":
            unnamed.setdefault(node.op_type, []).append(node)
    if not unnamed:
        return {}
    taken = {node.name for node in ctx.model.proto.graph.node}  # read as protos: no views
    generated: dict[str, list[tuple[int, str]]] = {}
    for name, op, _ in rows:
        match = _GENERATED_NAME.match(name)
        if match is not None and match["op"] == op and op in unnamed and name not in taken:
            generated.setdefault(op, []).append((int(match["index"]), name))
    found: dict[str, NodeInfo] = {}
    for op, nodes in unnamed.items():
        names = [name for _, name in sorted(generated.get(op, []))]
        if len(names) == len(nodes):
            found.update(zip(names, sorted(nodes, key=lambda n: n.index), strict=True))
    return found
