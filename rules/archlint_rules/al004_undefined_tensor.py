from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Location, Rule, RuleContext, Severity
from archlint.onnx_ops import required_inputs
from archlint_rules._layout import node_text, others_text


class UndefinedTensor(Rule):
    """A node reads, or the graph returns, a tensor that nothing in the model defines.

    ## What it does
    Looks for each tensor a node reads or a graph returns in the graph and the graphs around it
    (a Loop or If body reads its enclosing graph's tensors): a node's output, an initializer
    (sparse ones too) or a graph input. A name none of them defines is reported once per graph,
    at the first node that reads it, or at the graph output that returns it. Omitted optional
    inputs (empty names) are not reads; an empty name where every version of the op requires
    an input (``Add('', '')``, the first input of an ``Expand``) is reported too: that input
    has no value either.

    ## Why is this bad?
    The tensor has no value: onnxruntime refuses to load the model (``Node (...) input arg
    (...) does not have type information set by parent node``, or ``... is not a graph input,
    initializer, or output of a previous node``), and every other runtime too. Shape inference
    fails with it (AL001's warning), which alone does not fail a lint. It happens when an
    exporter drops the node that should make the tensor: paddle2onnx 2.1 exports a Paddle
    ``nn.SimpleRNN`` as Identity nodes over its weights and no RNN node, with the model's
    outputs named after the RNN's missing outputs.

    ## Example
    ``y = Identity(rnn_out)`` where no node outputs ``rnn_out``, and the graph output ``h_n``
    produced by no node: ``AL004 ... reads 'rnn_out', which no node, initializer or graph input
    defines``. Re-export the model (the layer, or the op that should make the tensor, is
    missing). See fixtures/AL004/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL004"
    name = "undefined-tensor"
    severity = Severity.ERROR
    summary = "A node reads, or a graph returns, a tensor nothing defines"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for graph, readers, name in ctx.graph.undefined_reads():
            expected = "a node output, an initializer or a graph input"
            actual = f"{name!r}, defined nowhere"
            fix = ("Re-export the model: the node that should make this tensor is missing (an "
                   "exporter that dropped a layer). onnx.checker.check_model(model, "
                   "full_check=True) lists every such name.")
            if not readers:
                yield Finding(
                    code=self.code, name=self.name, severity=self.severity,
                    message=f"graph output {name!r} is made by no node and is no initializer "
                    "or graph input: the model cannot be loaded",
                    location=Location(model=ctx.model.display_path, graph=graph, output=name,
                                      tensor=name),
                    expected=expected, actual=actual, help=fix)
                continue
            node = ctx.graph.node(f"{graph}/{readers[0]}")
            slot = node.inputs.index(name)
            others = len(readers) - 1
            also = others_text(others)
            yield ctx.finding(
                self, node,
                f"{node_text(node)} reads {name!r}{also}, which no node, initializer or graph "
                "input defines: the model cannot be loaded",
                input=str(slot), tensor=name, expected=expected, actual=actual, help=fix)
        yield from self._empty_required(ctx)

    def _empty_required(self, ctx: RuleContext) -> Iterator[Finding]:
        """Nodes of the ONNX domain with an empty name at an input every version of their op
        requires (torch's classic export of an advanced-index assignment writes
        ``Add('', '')``: pytorch-forecasting's DeepAR): onnx.checker says the input 'is marked
        single but has an empty string', onnxruntime refuses the graph."""
        for node in ctx.graph.with_empty_inputs():
            if node.domain not in ("", "ai.onnx") or ctx.graph.calls_function(node):
                continue
            empty = [k for k in required_inputs(node.op_type)
                     if k < len(node.inputs) and not node.inputs[k]]
            if not empty:
                continue
            slots = ", ".join(str(k) for k in empty)
            yield ctx.finding(
                self, node,
                f"{node_text(node)} has no tensor at input {slots}, which {node.op_type} "
                "requires (an empty name marks an omitted optional input only): the model "
                "cannot be loaded",
                input=str(empty[0]),
                expected=f"a tensor at input {slots} ({node.op_type} requires it)",
                actual=f"input {slots} empty",
                help="Re-export the model (torch's classic exporter writes an empty input for "
                "some advanced-index assignments, x[idx] = y: rewrite it with index_put or "
                "scatter, or export with dynamo=True); onnx.checker.check_model names the node.")
