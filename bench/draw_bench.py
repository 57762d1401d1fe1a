"""How long `archlint graph` takes on the scale models (a benchmark, never a timed test).

    python bench/draw_bench.py [--nodes 100000] [--lint]

Builds ``scale_<N>.onnx`` (bench/make_models.py; written to bench/out/models/ when missing) and
times each step of drawing its recurrent part: load with shape inference, the graph and the
recurrent views, the networkx DAG, the selection, and each writer. ``--lint`` also times the
whole command (`archlint graph MODEL -o stack.svg`), whose lint marks the findings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import scale_model

from archlint.drawing.stack import recurrent_stack
from archlint.drawing.svg import render_svg
from archlint.drawing.text_formats import render_dot, render_mermaid
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model

OUT = Path(__file__).resolve().parent / "out" / "models"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--lint", action="store_true")
    args = parser.parse_args()
    path = OUT / f"scale_{args.nodes}.onnx"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        onnx.save_model(scale_model(args.nodes), path)
    timings: list[tuple[str, float, str]] = []

    def step(name: str, started: float, note: str = "") -> float:
        now = time.perf_counter()
        timings.append((name, now - started, note))
        return now

    t = time.perf_counter()
    model = load_model(path)
    t = step("load + shape inference", t)
    graph = build_graph(model)
    layers = build_layers(graph, model.producer)
    t = step("graph + recurrent views", t, f"{len(layers)} recurrent layers")
    dag = graph.dag
    t = step("networkx DAG", t, f"{dag.number_of_nodes()} DAG nodes")
    drawing = recurrent_stack(graph, layers)
    t = step("selection", t, f"{len(drawing.nodes)} drawn nodes, {len(drawing.edges)} edges")
    for name, writer in (("svg", render_svg), ("mermaid", render_mermaid), ("dot", render_dot)):
        text = writer(drawing)
        t = step(f"write {name}", t, f"{len(text) / 1e6:.1f} MB")
    if args.lint:
        import subprocess

        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "archlint", "graph", str(path), "-o",
                        str(OUT / "stack.svg")], check=True)
        timings.append(("archlint graph (with its lint)", time.perf_counter() - started, ""))
    print(f"scale_{args.nodes}.onnx")
    for name, seconds, note in timings:
        print(f"  {name:32s} {seconds:7.2f} s  {note}")


if __name__ == "__main__":
    main()
