from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity


class TensorDefinedTwice(Rule):
    """A graph defines one tensor name twice: onnxruntime refuses the model.

    ## What it does
    Reports each name of a graph (the main graph, a Loop or If body, a function's body at a
    call) that a node makes while another node makes it too, or while it is an initializer
    or an input of that graph, naming the node that makes it again.

    ## Why is this bad?
    An ONNX graph is in single static assignment form: a name has one definition in its
    graph. ``onnx.checker`` rejects the model ("Graph must be in single static assignment
    (SSA) form") and onnxruntime refuses to load it (``Duplicate definition of name (h)``),
    on any execution provider. Which value a reader would get is undefined. onnxmltools'
    CoreML converter writes it for a seq2seq model: it adds a zero initializer for every
    state input of a recurrent layer, also where another layer makes that state.

    ## Example
    fixtures/AL009/bad.onnx.txt makes ``h0`` with a Relu while ``h0`` is also a zero
    initializer, and feeds it to the GRU's initial_h. fixtures/AL009/good.onnx.txt drops the
    initializer.
    """

    code = "AL009"
    name = "tensor-defined-twice"
    severity = Severity.ERROR
    summary = "a graph defines one tensor name twice: onnxruntime refuses the model"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        graph = ctx.graph
        for path, name, index, kind in dict.fromkeys(graph.defined_twice):
            node = graph.node(f"{path}/{index}")
            other = {"input": "an input of the graph", "initializer": "an initializer"}.get(
                kind, "another node's output")
            yield ctx.finding(
                self, node,
                f"{node.op_type} {node.label!r} makes {name!r}, which is also {other}: a "
                "graph defines each name once (onnx's SSA form), and onnxruntime refuses the "
                f"model (Duplicate definition of name ({name}))",
                tensor=name, expected="one definition of each name in a graph",
                actual=f"{name!r} defined twice",
                help="Rename one of the two, or drop the one no node should read (an exporter "
                "that adds a default initializer for a state another node makes: remove the "
                "initializer).")

