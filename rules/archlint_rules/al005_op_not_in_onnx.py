from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.onnx_ops import checkable_opset, loadable_from
from archlint_rules._layout import node_text, others_text

_ONNX_DOMAINS = ("", "ai.onnx")


class OpNotInOnnx(Rule):
    """A node of the ONNX domain has an op type ONNX does not define at the model's opset.

    ## What it does
    Looks up each op type of the ONNX domain ("" or "ai.onnx") in onnx's operator schemas: an
    op type that no opset defines (an op of the exporting framework left unconverted), or one
    that ONNX defines only from a later opset than the model imports, is reported once per
    graph, at its first node. A call of one of the model's local functions is not an op, and
    function bodies (which import their own opsets) are not looked at. A model whose opset is
    newer than the installed onnx knows is not judged: its ops may be new. Ops onnxruntime
    loads in the ONNX domain at any opset are not reported: onnx's experimental ops of its
    first releases (ImageScaler, Crop, Scale...), and its own LayerNormalization and
    SimplifiedLayerNormalization, which its optimizer writes at the model's opset (a model
    saved by onnxruntime at the extended level). A model that imports no ONNX opset at all
    while its nodes are in the ONNX domain defines none of them (a tool that writes ONNX's
    protobuf for its own graphs): one finding, at the first such node.

    ## Why is this bad?
    onnxruntime refuses to load the model (``No Op registered for ReverseV2 with
    domain_version of 9``), as ``onnx.checker.check_model`` refuses it. Shape inference skips
    such a node without a word, so nothing after it is known to be wrong or right. tf2onnx
    writes a TensorFlow op it cannot convert at the requested opset under its own name: a Keras
    ``Bidirectional`` layer exported at ``--opset 9`` reverses the backward direction's
    sequence with ``ReverseV2`` (ONNX's ``ReverseSequence`` arrived in opset 10).

    ## Example
    ``ys = ReverseV2(xs, axis)`` in a model of opset 9: ``AL005 ... ReverseV2 is an op of no
    ONNX opset``. Re-export with a newer opset (tf2onnx ``--opset 13``), or convert the op. A
    ``Gelu`` node in a model of opset 17: ONNX defines it from opset 20; raise the opset. See
    fixtures/AL005/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL005"
    name = "op-not-in-onnx"
    severity = Severity.ERROR
    summary = "A node of the ONNX domain has an op type ONNX does not define at the model's opset"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if ctx.model.opset is None:
            yield from self._no_onnx_opset(ctx)
            return
        opset = checkable_opset(ctx.model.opset)
        if opset is None:
            return  # no (valid) ONNX opset imported, or one newer than onnx here knows
        wrong = {op for op in ctx.graph.op_types
                 if (first := loadable_from(op)) is None or first > opset}
        if not wrong:
            return
        reported: dict[tuple[str, str], list[str]] = {}
        for node in ctx.graph.iter_nodes(frozenset(wrong)):
            if node.domain not in _ONNX_DOMAINS or ctx.graph.calls_function(node) \
                    or ctx.graph.in_function_body(node.graph):
                continue
            reported.setdefault((node.graph, node.op_type), []).append(node.id)
        for (_, op_type), ids in reported.items():
            node = ctx.graph.node(ids[0])
            first = loadable_from(op_type)
            others = len(ids) - 1
            also = others_text(others)
            if first is None:
                found = f"{op_type}, an op of no ONNX opset"
                message = (f"{node_text(node)}{also}: {op_type} is an op of no ONNX opset "
                           "(an op of the exporting framework left unconverted?): onnxruntime "
                           "refuses to load the model")
                fix = _unconverted_help(op_type, opset)
            else:
                found = f"{op_type}, defined from opset {first}"
                message = (f"{node_text(node)}{also}: ONNX defines {op_type} from opset "
                           f"{first}, but the model imports opset {opset}: onnxruntime refuses "
                           "to load the model")
                fix = (f"Raise the model's ONNX opset to {first} or later (re-export with "
                       f"opset_version={first}, or onnx.version_converter.convert_version), "
                       f"or re-export without {op_type}.")
            yield ctx.finding(
                self, node, message,
                expected=f"an op ONNX defines at opset {opset}", actual=found, help=fix)


    def _no_onnx_opset(self, ctx: RuleContext) -> Iterator[Finding]:
        """Nodes of the ONNX domain in a model that imports no ONNX opset: no op is defined
        (onnx.checker: 'model with IR version >= 3 must specify opset_import for ONNX';
        onnxruntime: 'Missing opset in the model'). One finding, on the first such node."""
        nodes = [node for node in ctx.graph.iter_nodes(frozenset(ctx.graph.op_types))
                 if node.domain in _ONNX_DOMAINS and not ctx.graph.in_function_body(node.graph)]
        if not nodes:
            return
        node = nodes[0]
        yield ctx.finding(
            self, node,
            f"{node_text(node)}{others_text(len(nodes) - 1)}: the model imports no opset of "
            "the ONNX domain (opset_import has no entry for ''), so no ONNX op is defined in "
            "it: onnxruntime refuses to load the model (Missing opset in the model)",
            expected="an opset_import entry for the ONNX domain ''",
            actual="none" if not ctx.model.proto.opset_import else "opset_import for "
            + ", ".join(repr(o.domain) for o in ctx.model.proto.opset_import) + " only",
            help="Write the ONNX opset the exporter targeted into the model's opset_import "
            "(domain '' and its version) or re-export; a file another tool wrote with ONNX's "
            "protobuf for its own ops is not an ONNX model.")


# ops tf2onnx 1.17 leaves unconverted at every opset, and what converts instead
_NO_HANDLER = {
    "BlockLSTM": "TF1's LSTMBlockFusedCell (tf.raw_ops.BlockLSTM)",
    "BlockLSTMV2": "TF1's LSTMBlockFusedCell (tf.raw_ops.BlockLSTMV2)",
}
_TENSOR_LIST = "TensorList"  # TensorListReserve, TensorListSetItem...: control flow v2


def _unconverted_help(op_type: str, opset: int) -> str:
    """How to get ``op_type``, an op of no ONNX opset, converted."""
    own = "; an op of your own belongs in a domain of its own, with a runtime kernel."
    if op_type in _NO_HANDLER:
        return (f"tf2onnx (1.17) converts {_NO_HANDLER[op_type]} at no opset: build the layer "
                "with a cell it converts (tf.compat.v1.nn.rnn_cell.LSTMCell, LSTMBlockCell "
                "in dynamic_rnn, or a Keras LSTM) and load the same weights, then re-export.")
    if op_type.startswith(_TENSOR_LIST):
        return (f"tf2onnx left TensorFlow's control-flow-v2 list op {op_type} in a loop: "
                "build the graph with control flow v1 (tf.compat.v1.disable_control_flow_v2()) "
                "or convert the frozen graph without TensorFlow's graph optimiser "
                "(tf2onnx.tfonnx.process_tf_graph), then re-export. From TFLite (--tflite), "
                "the SELECT_TF_OPS ops set keeps them: convert with TFLITE_BUILTINS only "
                "and a fixed input shape, or convert the Keras model itself (from_keras).")
    if opset < 13:
        return (f"Re-export the model so that {op_type} is converted: a newer opset "
                "(tf2onnx --opset 13 or later) often has the ONNX op it needs" + own)
    return (f"Re-export the model so that {op_type} is converted: the converter has no "
            f"handler for it at opset {opset} (a newer converter release may; else rewrite "
            "that part of the source model with ops it converts)" + own)
