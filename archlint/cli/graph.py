"""``archlint graph``: draw the recurrent part of a model (SVG, Mermaid or Graphviz DOT)."""

from __future__ import annotations

from pathlib import Path

import click

from archlint import app
from archlint.cli.options import UsageFailure, app_errors, config_option, emit
from archlint.drawing.svg import render_svg
from archlint.drawing.text_formats import render_dot, render_mermaid

__all__ = ["graph_command"]

WRITERS = {"svg": render_svg, "mermaid": render_mermaid, "dot": render_dot}
_SUFFIXES = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot",
             ".gv": "dot"}


@click.command(name="graph")
@click.argument("model")
@click.option("--format", "output_format", type=click.Choice(sorted(WRITERS)), default=None,
              help="svg, mermaid or dot. [default: from the -o suffix (.svg, .mmd, .dot), "
              "else mermaid]")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the picture to FILE instead of standard output.")
@click.option("--around", "around_node", metavar="NODE",
              help="Draw the neighbourhood of one node (its name) instead of the whole stack.")
@click.option("--radius", type=click.IntRange(min=0), default=2, show_default=True,
              help="With --around: how many data edges away to draw.")
@click.option("--no-findings", is_flag=True,
              help="Do not lint the model; draw it without finding marks.")
@config_option
def graph_command(
    model: str,
    output_format: str | None,
    output: Path | None,
    around_node: str | None,
    radius: int,
    no_findings: bool,
    config_path: Path | None,
) -> None:
    """Draw the recurrent layers of MODEL and the layout ops around them, findings marked."""
    chosen = output_format or (_SUFFIXES.get(output.suffix.lower()) if output else None)
    if output is not None and chosen is None:
        raise UsageFailure(f"{output}: cannot tell the format from the suffix; give --format")
    with app_errors():
        drawing = app.draw(model, around_node=around_node, radius=radius,
                           with_findings=not no_findings, config_path=config_path)
    emit(WRITERS[chosen or "mermaid"](drawing), output)
