from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity


class NodesOutOfOrder(Rule):
    """A node reads a tensor that a later node of its graph makes: the nodes are not in
    topological order.

    ## What it does
    While indexing the model, archlint notes each tensor a node reads before any earlier node
    of the same graph (main graph or a Loop / If / Scan body) made it, while a later node
    does. It reports the first such read in each graph (saying how many more there are),
    then analyses a sorted copy of the model (the file is never changed): every other rule,
    the parameter report and the shape inference see the nodes in an order where each comes
    after what it reads.

    ## Why is this bad?
    The ONNX spec requires a graph's nodes to be topologically sorted, and
    ``onnx.checker.check_model`` rejects the model ("Nodes in a graph must be topologically
    sorted"). onnx's shape inference walks the nodes in order and leaves everything after the
    first read-before-made untyped, and tools that walk the list in order (a converter, a
    pattern matcher, an editor) lose layers and fusions. onnxruntime and TensorRT's parser
    sort the graph themselves and run it, so nothing fails at runtime: a tool that rewrites
    or merges graphs (a hand edit with onnx-graphsurgeon without ``toposort()``, a script
    that appends nodes) left it so.

    ## Example
    ``[post] y = Relu (t)`` listed before ``[pre] t = Add (x, b)``: Relu reads ``t`` before
    Add makes it. Sort the nodes: ``graph.toposort()`` in onnx-graphsurgeon, or save the model
    from a tool that sorts (onnx-simplifier, onnxruntime's optimized save). See
    fixtures/AL006/bad.onnx.txt and good.onnx.txt.
    """

    code = "AL006"
    name = "nodes-out-of-order"
    severity = Severity.WARNING
    summary = "A node reads a tensor a later node makes: the graph is not topologically sorted"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        by_graph: dict[str, list[tuple[str, str, str]]] = {}
        for graph, name, op_type, tensor in ctx.model.reordered:
            by_graph.setdefault(graph, []).append((name, op_type, tensor))
        for graph, reads in by_graph.items():
            name, op_type, tensor = reads[0]
            others = len(reads) - 1
            more = f"; {others} other tensor{'s are' if others > 1 else ' is'} read before " \
                "made" if others else ""
            # the reader in the sorted copy: the one of that name and op type
            node = next((n for n in ctx.graph.consumers_of(tensor, graph)
                         if n.graph == graph and n.name == name and n.op_type == op_type), None)
            maker = ctx.graph.producer(tensor, graph)
            made_by = f"{maker.op_type} {maker.label!r}" if maker is not None else "a later node"
            reader = f"{op_type} {node.label!r}" if node is not None else f"a {op_type}"
            yield ctx.finding(
                self, node,
                f"{reader} reads {tensor!r} before {made_by} makes it{more}: the nodes of "
                f"graph {graph!r} are not in topological order (analysed as sorted)",
                input=None if node is None else _slot_of(node.inputs, tensor),
                expected=f"{made_by} listed before the nodes that read {tensor!r}",
                actual=f"{tensor!r} read first, made later",
                help="Sort the graph's nodes before saving (onnx-graphsurgeon: graph.toposort(); "
                "or run onnx-simplifier): onnx.checker rejects the model and onnx's shape "
                "inference types nothing after this read; onnxruntime sorts it itself.",
            )


def _slot_of(inputs: tuple[str, ...], tensor: str) -> str:
    return str(inputs.index(tensor))
