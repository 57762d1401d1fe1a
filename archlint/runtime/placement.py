"""Where nodes ran, from the placement rows of onnxruntime's profile."""

from __future__ import annotations

from archlint.api import RuleContext
from archlint.recurrent import RECURRENT_OPS
from archlint.runtime.collector import Collector
from archlint.runtime.providers import CPU

__all__ = ["PLACEMENT_LIMIT", "placement"]

PLACEMENT_LIMIT = 20  # other nodes listed by name when they left the first provider
_FALLBACK_HELP = ("cuDNN cannot run this node as exported (clip, activation alpha/beta, "
                  "non-default activations, input_forget, peepholes, or a GRU with "
                  "linear_before_reset=0); re-export without them to keep it on GPU.")


def placement(rows: list[list[str]], ctx: RuleContext, out: Collector,
               providers: tuple[str, ...]) -> tuple[str, ...]:
    by_provider: dict[str, int] = {}
    lines: list[str] = []
    # every recognised layer's node: LSTM/GRU/RNN and contrib ops (DynamicQuantizeLSTM)
    recurrent = {la.node.name: la.node for la in ctx.layers if la.node.name}
    seen: set[str] = set()
    elsewhere: list[str] = []
    for name, op, provider in rows:
        by_provider[provider] = by_provider.get(provider, 0) + 1
        if op not in RECURRENT_OPS and name not in recurrent and provider != providers[0]:
            elsewhere.append(f"{op} {name!r}")
        if op in RECURRENT_OPS or name in recurrent:
            seen.add(name)
            lines.append(f"{op} {name!r}: {provider}")
            node = recurrent.get(name)
            if providers[0] != CPU and provider == CPU:
                out.add("AL506", node,
                        f"{op} {name!r} ran on {CPU}, not on {providers[0]}",
                        expected=providers[0], actual=provider,
                        help=_FALLBACK_HELP if op in RECURRENT_OPS else
                        f"onnxruntime has no GPU kernel for the contrib op {op}: deploy the "
                        "float model (an ONNX LSTM) for the GPU and keep the quantized one for "
                        "CPU targets.")
    for name in sorted(set(recurrent) - seen):
        lines.append(f"{recurrent[name].op_type} {name!r}: not in the profile (fused, renamed "
                     "or not executed)")
    if elsewhere:  # other nodes that left the first provider: the transfers around them cost
        shown = ", ".join(elsewhere[:PLACEMENT_LIMIT])
        more = f" and {len(elsewhere) - PLACEMENT_LIMIT} more" if len(elsewhere) > PLACEMENT_LIMIT \
            else ""
        lines.append(f"not on {providers[0]}: {shown}{more}")
    summary = ", ".join(f"{count} on {p}" for p, count in sorted(by_provider.items()))
    return (f"{len(rows)} nodes ran: {summary}" if rows else "no node ran", *lines)
