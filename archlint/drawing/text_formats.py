"""A Drawing as Mermaid (``flowchart TB``: GitHub renders it in Markdown) and as Graphviz DOT."""

from __future__ import annotations

from archlint.drawing.stack import SEVERITY_COLOURS, Drawing

__all__ = ["render_dot", "render_mermaid"]

_MERMAID_SHAPES = {  # kind -> (open, close)
    "recurrent": ("[[", "]]"), "layout": ("(", ")"), "op": ("[", "]"),
    "input": ("([", "])"), "output": ("([", "])"),
}


def _mermaid_text(text: str) -> str:
    """Mermaid's entity codes inside a quoted label (``#quot;``), so any name is safe."""
    out = []
    for ch in text:
        if ch.isalnum() or ch in " _-./,=:()+[]*?":
            out.append(ch)
        else:
            out.append(f"#{ord(ch)};")
    return "".join(out)


def render_mermaid(drawing: Drawing) -> str:
    ids = {node.id: f"n{index}" for index, node in enumerate(drawing.nodes)}
    out = ["flowchart TB"]
    for node in drawing.nodes:
        open_, close = _MERMAID_SHAPES.get(node.kind, ("[", "]"))
        label = "<br/>".join(_mermaid_text(line) for line in node.lines)
        out.append(f'    {ids[node.id]}{open_}"{label}"{close}')
    for edge in drawing.edges:
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"    {ids[edge.src]} -->{label} {ids[edge.dst]}")
    for severity, colour in SEVERITY_COLOURS.items():
        out.append(f"    classDef {severity} stroke:{colour},stroke-width:3px,color:{colour}")
    for node in drawing.nodes:
        if node.severity:
            out.append(f"    class {ids[node.id]} {node.severity}")
    return "\n".join(out) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


_DOT_SHAPES = {"recurrent": "box3d", "layout": "box", "op": "box", "input": "ellipse",
               "output": "ellipse"}


def render_dot(drawing: Drawing) -> str:
    ids = {node.id: f"n{index}" for index, node in enumerate(drawing.nodes)}
    out = ["digraph recurrent {", '  rankdir=TB;',
           '  node [fontname="monospace", fontsize=11, style=filled, fillcolor="#f1f5f9"];',
           '  edge [fontname="monospace", fontsize=10];']
    if drawing.title:
        out.append(f'  label="{_dot_text(drawing.title)}"; labelloc=t;')
    for node in drawing.nodes:
        label = "\\n".join(_dot_text(line) for line in node.lines)
        attrs = [f'label="{label}"', f"shape={_DOT_SHAPES.get(node.kind, 'box')}",
                 f'tooltip="{_dot_text(node.id)}"']
        if node.kind == "recurrent":
            attrs.append('fillcolor="#dbeafe"')
        if node.severity:
            attrs += [f'color="{SEVERITY_COLOURS[node.severity]}"', "penwidth=3"]
        out.append(f"  {ids[node.id]} [{', '.join(attrs)}];")
    for edge in drawing.edges:
        label = f' [label="{_dot_text(edge.label)}"]' if edge.label else ""
        out.append(f"  {ids[edge.src]} -> {ids[edge.dst]}{label};")
    out.append("}")
    return "\n".join(out) + "\n"
