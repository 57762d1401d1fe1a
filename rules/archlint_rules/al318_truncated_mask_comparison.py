from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.graph import NodeInfo
from archlint.onnx_protos import TensorProto
from archlint.patterns import attr_int, const_ints
from archlint_rules._dims import float_sequence
from archlint_rules._layout import node_text

_INTEGERS = frozenset({TensorProto.INT8, TensorProto.INT16, TensorProto.INT32,
                       TensorProto.INT64, TensorProto.UINT8, TensorProto.UINT16,
                       TensorProto.UINT32, TensorProto.UINT64})
# nodes walked forward from the comparison to a recurrent layer (Not, Cast, ReduceSum,
# Greater, Mul, then the layer's input or the Loop that computes it)
_REACH = 64


class TruncatedMaskComparison(Rule):
    """A float sequence is cast to integers before it is compared for equality, and the
    comparison masks a recurrent layer.

    ## What it does
    Looks for an Equal whose one operand is a Cast to an integer type of a float tensor of
    rank 2 or more (data, not a shape) and whose other operand is an integer constant, and
    whose result reaches a recurrent layer (a native node, a Loop or Scan cell, an unrolled
    chain) within a few nodes. It reports the Equal.

    ## Why is this bad?
    A Cast to an integer type truncates toward zero: every value in (-1, 1) becomes 0, so
    ``Equal(Cast(x), 0)`` is true for a time step whose features are all small, not only for
    padding that is exactly 0. The mask then marks real steps as padding, and the recurrent
    layer skips them: wrong outputs with no error. tf2onnx writes a Keras ``Masking`` layer
    (``not_equal(x, mask_value)``) this way below opset 11, where Equal does not take
    floats: at opset 9 and 10 a masked LSTM's outputs differ from Keras by 0.18 on random
    inputs, and match from opset 11 on. Whether the truncation is meant cannot be told from
    the graph, so this is a warning.

    ## Example
    ``xi = Cast <to: int = 6> (x)``, ``pad = Equal (xi, zero)`` feeding the mask of an LSTM:
    re-export at opset 11 or later (tf2onnx then compares the floats), or compare the floats
    (``Equal(x, 0.0)`` from opset 11). See fixtures/AL318/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL318"
    name = "truncated-mask-comparison"
    severity = Severity.WARNING
    summary = "a float sequence is cast to integers before an equality test that masks a layer"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not ctx.layers and not ctx.recognised:
            return
        layers = frozenset(layer.node.id for layer in (*ctx.layers, *ctx.recognised)) | \
            frozenset(n for layer in ctx.recognised if layer.cell is not None
                      for n in layer.cell.nodes)
        for node in ctx.graph.iter_nodes(frozenset({"Equal"})):
            found = self._truncated(ctx, node)
            if found is None or not self._reaches(ctx, node, layers):
                continue
            cast, source, value = found
            yield ctx.finding(
                self, node,
                f"{node_text(node)} compares {source!r} cast to integers ({node_text(cast)}) "
                f"with {value}: every value the Cast truncates to {value} counts as equal, so "
                "the mask it makes for the recurrent layer downstream marks real time steps "
                "as padding",
                input=str(node.inputs.index(cast.outputs[0])),
                expected=f"{source!r} compared as floats with {value}",
                actual=f"{source!r} truncated to integers, then compared",
                help="Re-export at opset 11 or later (tf2onnx compares the floats there; below "
                "it Equal takes no floats and the converter casts x to int32), or compare the "
                "floats themselves.",
            )

    @staticmethod
    def _truncated(ctx: RuleContext, node: NodeInfo) -> tuple[NodeInfo, str, int] | None:
        """(the Cast, the float tensor it truncates, the constant) when ``node`` is one."""
        if len(node.inputs) != 2:
            return None
        for k in (0, 1):
            cast = ctx.graph.producer(node.inputs[k], node.graph)
            value = const_ints(ctx.graph, node.inputs[1 - k], node.graph)
            if cast is None or cast.op_type != "Cast" or not cast.inputs or value is None \
                    or len(value) != 1 or attr_int(cast, "to") not in _INTEGERS:
                continue
            if float_sequence(ctx.graph, cast.inputs[0], cast.graph):
                return cast, cast.inputs[0], value[0]
        return None

    @staticmethod
    def _reaches(ctx: RuleContext, node: NodeInfo, layers: frozenset[str]) -> bool:
        """Whether ``node``'s result reaches a recurrent layer within :data:`_REACH` nodes."""
        seen: set[str] = set()
        frontier = [node]
        while frontier and len(seen) < _REACH:
            current = frontier.pop()
            for name in current.outputs:
                for reader in ctx.graph.consumers_of(name, current.graph):
                    owner = reader.parent or reader.id
                    if reader.id in layers or owner in layers:
                        return True
                    if reader.id not in seen:
                        seen.add(reader.id)
                        frontier.append(reader)
        return False
