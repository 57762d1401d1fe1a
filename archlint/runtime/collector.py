"""Findings for one model, built with the static context so that runtime findings are located
exactly like static ones, plus the helpers that read onnxruntime's messages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from archlint.api import Finding, Rule, RuleContext
from archlint.contrib_ops import contrib_op
from archlint.graph import NodeInfo
from archlint.recurrent import RecurrentLayer

__all__ = ["MESSAGE_LIMIT", "Collector", "node_named_in", "trim"]

MESSAGE_LIMIT = 400


class Collector:
    """Findings (``source="onnxruntime"``) and notes for one model; unselected codes are dropped."""

    def __init__(self, ctx: RuleContext, rules: Mapping[str, type[Rule]]) -> None:
        self.ctx = ctx
        self.rules = rules
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def add(self, code: str, where: NodeInfo | RecurrentLayer | None, message: str,
            **details: Any) -> None:
        rule = self.rules.get(code)
        if rule is None:
            return  # not selected
        finding = self.ctx.finding(rule, where, message, **details)
        self.findings.append(dataclasses.replace(finding, source="onnxruntime"))


_NODE_NAME_PATTERNS = (re.compile(r"Name:'([^']+)'"), re.compile(r"node with name '([^']+)'"),
                       re.compile(r"Node \(([^)]+)\)"), re.compile(r"in node \(([^)]+)\)"))
_KERNEL_OPS = (("LSTM", re.compile(r"LSTM|Lstm")), ("GRU", re.compile(r"GRU|Gru")),
               ("RNN", re.compile(r"\bRNN\b|RNN<|Op \(RNN\)")))


def node_named_in(message: str, out: Collector) -> NodeInfo | None:
    """The node onnxruntime's message names, else the only node of the op its kernel names."""
    nodes = list(out.ctx.graph.iter_nodes())
    for pattern in _NODE_NAME_PATTERNS:
        for match in pattern.finditer(message):
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
