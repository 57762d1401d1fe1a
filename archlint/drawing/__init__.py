"""Pictures of the recurrent part of a model: selection on the networkx DAG (``stack``), and
one writer per format (SVG written by hand, Mermaid, Graphviz DOT), each a pure function of a
:class:`~archlint.drawing.stack.Drawing`."""

from __future__ import annotations

from archlint.drawing.stack import DrawEdge, Drawing, DrawNode, around, recurrent_stack

__all__ = ["DrawEdge", "DrawNode", "Drawing", "around", "recurrent_stack"]
