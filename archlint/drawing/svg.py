"""A Drawing as SVG, written by hand: no Graphviz binary, no JavaScript, no network.

Layered layout: each node's rank is its longest path from a source in the drawn DAG
(networkx ``topological_generations``), ranks top to bottom, nodes of a rank left to right in
graph order. Edges are straight arrows labelled with the tensor's shape. Each drawn node is
one ``<g class="node">`` holding one shape (``rect``) and its text, with ``data-node`` (the
DAG id), ``data-name`` and ``data-codes`` for tests and scripts.
"""

from __future__ import annotations

from html import escape

import networkx as nx

from archlint.drawing.stack import SEVERITY_COLOURS, DrawEdge, Drawing, DrawNode

__all__ = ["render_svg"]

_CHAR_W = 7.2  # px per character at font-size 12 (monospace-ish estimate)
_LINE_H = 15
_RANK_GAP = 56
_NODE_GAP = 48
_PAD = 16
_FILL = {"recurrent": "#dbeafe", "layout": "#f1f5f9", "op": "#e5e7eb", "input": "#dcfce7",
         "output": "#fef9c3"}


def _ranks(drawing: Drawing) -> list[list[DrawNode]]:
    dag = nx.DiGraph()
    dag.add_nodes_from(n.id for n in drawing.nodes)
    dag.add_edges_from((e.src, e.dst) for e in drawing.edges)
    order = {n.id: i for i, n in enumerate(drawing.nodes)}
    by_id = {n.id: n for n in drawing.nodes}
    rank: dict[str, int] = {}
    try:
        for node_id in nx.topological_sort(dag):
            rank[node_id] = max((rank[p] + 1 for p in dag.predecessors(node_id)), default=0)
    except nx.NetworkXUnfeasible:  # a cycle: never in an ONNX graph; one row per node then
        return [[n] for n in drawing.nodes]
    for node_id in rank:  # a source (a state Slice, an input) sits just above its first reader
        if dag.in_degree(node_id) == 0 and dag.out_degree(node_id):
            rank[node_id] = max(0, min(rank[s] for s in dag.successors(node_id)) - 1)
    rows: list[list[DrawNode]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for node_id in sorted(rank, key=lambda k: order[k]):
        rows[rank[node_id]].append(by_id[node_id])
    return rows


def render_svg(drawing: Drawing) -> str:
    rows = _ranks(drawing)
    boxes: dict[str, tuple[float, float, float, float]] = {}  # x, y, w, h
    y = float(_PAD + (_LINE_H + 8 if drawing.title else 0))
    width = 0.0
    for row in rows:
        x = float(_PAD)
        tallest = 0.0
        for node in row:
            lines = node.lines
            w = max(len(t) for t in lines) * _CHAR_W + 16
            h = len(lines) * _LINE_H + 10
            boxes[node.id] = (x, y, w, h)
            x += w + _NODE_GAP
            tallest = max(tallest, h)
        width = max(width, x)
        y += tallest + _RANK_GAP
    height = y - _RANK_GAP + _PAD
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, monospace" '
        'font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#475569"/></marker></defs>',
    ]
    if drawing.title:
        out.append(f'<text x="{_PAD}" y="{_PAD + 10}" font-weight="bold">'
                   f'{escape(drawing.title)}</text>')
    out.extend(_edge(edge, boxes) for edge in drawing.edges)
    for row in rows:
        out.extend(_node(node, boxes[node.id]) for node in row)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge(edge: DrawEdge, boxes: dict[str, tuple[float, float, float, float]]) -> str:
    x1, y1, w1, h1 = boxes[edge.src]
    x2, y2, w2, _ = boxes[edge.dst]
    sx, sy, ex, ey = x1 + w1 / 2, y1 + h1, x2 + w2 / 2, y2
    label = ""
    if edge.label:
        # just below the source: apart where several edges converge on one node
        mx, my = sx + (ex - sx) * 0.2, sy + 14
        label = (f'<text x="{mx + 4:.1f}" y="{my:.1f}" fill="#334155" font-size="11">'
                 f'{escape(edge.label)}</text>')
    return (f'<g class="edge" data-src="{escape(edge.src)}" data-dst="{escape(edge.dst)}">'
            f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" stroke="#475569" '
            f'marker-end="url(#arrow)"/>{label}</g>')


def _node(node: DrawNode, box: tuple[float, float, float, float]) -> str:
    x, y, w, h = box
    stroke = SEVERITY_COLOURS.get(node.severity or "", "#64748b")
    width = 3 if node.codes else 1
    rx = 14 if node.kind in ("input", "output") else 4
    parts = [
        f'<g class="node {node.kind}{" finding" if node.codes else ""}" '
        f'data-node="{escape(node.id)}" data-name="{escape(node.name)}" '
        f'data-codes="{escape(" ".join(node.codes))}">',
        f'<title>{escape(node.name or node.title)}</title>',
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" '
        f'fill="{_FILL.get(node.kind, "#ffffff")}" stroke="{stroke}" stroke-width="{width}"/>',
    ]
    for index, line in enumerate(node.lines):
        bold = ' font-weight="bold"' if index == 0 else ""
        colour = f' fill="{stroke}"' if node.codes and line == " ".join(node.codes) else ""
        parts.append(f'<text x="{x + 8:.1f}" y="{y + 5 + _LINE_H * (index + 1) - 3:.1f}"'
                     f'{bold}{colour}>{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)
