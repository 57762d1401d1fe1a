"""Helpers that read onnxruntime's messages: the node a message names, and a bounded message."""

from __future__ import annotations

import re

from archlint.contrib_ops import contrib_op
from archlint.graph import ModelGraph, NodeInfo

__all__ = ["MESSAGE_LIMIT", "node_named_in", "trim"]

MESSAGE_LIMIT = 400

_NODE_NAME_PATTERNS = (re.compile(r"Name:'([^']+)'"), re.compile(r"node with name '([^']+)'"),
                       re.compile(r"Node \(([^)]+)\)"), re.compile(r"in node \(([^)]+)\)"))
_KERNEL_OPS = (("LSTM", re.compile(r"LSTM|Lstm")), ("GRU", re.compile(r"GRU|Gru")),
               ("RNN", re.compile(r"\bRNN\b|RNN<|Op \(RNN\)")))


def node_named_in(message: str, graph: ModelGraph) -> NodeInfo | None:
    """The node onnxruntime's message names, else the only node of the op its kernel names."""
    nodes = list(graph.iter_nodes())
    for pattern in _NODE_NAME_PATTERNS:
        # an If or Loop that failed quotes its body's failing node after its own name: the
        # innermost node is the one to fix
        for match in reversed(list(pattern.finditer(message))):
            named = [n for n in nodes if n.name == match.group(1)]
            if len(named) == 1:
                return named[0]
    for op, pattern in _KERNEL_OPS:
        if pattern.search(message):
            # a contrib op computing that cell (DynamicQuantizeLSTM runs LSTMBase) counts too
            of_op = [n for n in nodes if n.op_type == op
                     or ((c := contrib_op(n)) is not None and c.cell == op)]
            if len(of_op) == 1:
                return of_op[0]
    return None


def trim(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."
