"""`archlint graph`: the recurrent part drawn as SVG (parsed as XML), Graphviz DOT (parsed by
pydot) and Mermaid (parsed by mermaid's own parser when scripts/setup_render_tests.sh has
installed it; a line grammar of what we write otherwise), with findings on their nodes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import onnx
import pydot
import pytest

from archlint import app
from archlint.drawing.svg import render_svg
from archlint.drawing.text_formats import render_dot, render_mermaid

from .conftest import FIXTURES, REPO, invoke

SVG = "{http://www.w3.org/2000/svg}"
AL303 = str(FIXTURES / "AL303" / "bad.onnx.txt")
STACKED = str(FIXTURES / "see" / "lstm2_fc.onnx")
RENDER_TOOLS = Path(os.environ.get("ARCHLINT_RENDER_TOOLS", REPO / ".cache" / "render-tests"))


def _svg_nodes(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text)  # well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    groups = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    return {g.get("data-node", ""): g for g in groups}


def test_svg_has_one_shape_per_node_and_the_code_on_the_reshape(tmp_path: Path) -> None:
    out = tmp_path / "stack.svg"
    result = invoke("graph", AL303, "-o", str(out))
    assert result.exit_code == 0, result.output
    drawing = app.draw(AL303)
    nodes = _svg_nodes(out.read_text())
    assert set(nodes) == {n.id for n in drawing.nodes}
    assert set(nodes) == {"main:input:X", "main/0", "main/2", "main:output:out"}
    for group in nodes.values():
        assert len(group.findall(f"{SVG}rect")) == 1
    reshape, lstm = nodes["main/2"], nodes["main/0"]
    assert (reshape.get("data-name"), reshape.get("data-codes")) == ("flatten", "AL303")
    assert "AL303" in [t.text for t in reshape.iter(f"{SVG}text")]
    assert reshape.find(f"{SVG}rect").get("stroke") == "#dc2626"  # error colour
    assert lstm.get("data-codes") == ""
    texts = [t.text for t in lstm.iter(f"{SVG}text")]
    assert texts == ["LSTM", "lstm_bi", "bidirectional, H=3, I=4"]
    edges = ET.fromstring(out.read_text()).iter(f"{SVG}g")
    labels = {(e.get("data-src"), e.get("data-dst")): "".join(e.itertext()) for e in edges
              if e.get("class") == "edge"}
    assert labels[("main/0", "main/2")] == "[seq, 2, batch, 3]"
    assert labels[("main/2", "main:output:out")] == "[seq, batch, 6]"


def test_the_stack_of_a_two_layer_export() -> None:
    drawing = app.draw(STACKED)
    ops = [(n.kind, n.title, n.name) for n in drawing.nodes]
    assert [o for o in ops if o[0] == "recurrent"] == [
        ("recurrent", "LSTM", "/rnn/LSTM"), ("recurrent", "LSTM", "/rnn/LSTM_1")]
    # the states are Slices of the exporter's zeros; the layers joined by a Squeeze; the
    # head's MatMul is the boundary, drawn and not walked through
    assert ("layout", "Squeeze", "/rnn/Squeeze") in ops
    assert ("op", "MatMul", "/fc/MatMul") in ops
    assert not any(n.title in ("Constant", "Shape") for n in drawing.nodes)
    by_name = {n.name: n.id for n in drawing.nodes}
    edge = next(e for e in drawing.edges
                if (e.src, e.dst) == (by_name["/rnn/Squeeze"], by_name["/rnn/LSTM_1"]))
    assert edge.label == "[seq, batch, 8]"


@pytest.mark.parametrize(("radius", "names"), [
    (0, ["flatten"]), (1, ["lstm_bi", "flatten", ""]), (2, ["", "lstm_bi", "flatten", ""])])
def test_around_a_node(radius: int, names: list[str]) -> None:
    drawing = app.draw(AL303, around_node="flatten", radius=radius)
    assert [n.name for n in drawing.nodes] == names


def test_around_an_unknown_node_is_a_usage_error() -> None:
    result = invoke("graph", AL303, "--around", "nosuch")
    assert result.exit_code == 2
    assert "no node named 'nosuch'" in result.output


def test_dot_parses_with_pydot() -> None:
    drawing = app.draw(AL303)
    (graph,) = pydot.graph_from_dot_data(render_dot(drawing))
    nodes = {n.get_name(): n for n in graph.get_nodes() if n.get_name() not in ("node", "edge")}
    assert len(nodes) == len(drawing.nodes)
    assert len(graph.get_edges()) == len(drawing.edges)
    marked = [n for n in nodes.values() if "AL303" in (n.get("label") or "")]
    assert len(marked) == 1
    assert marked[0].get("label").strip('"').split("\\n") == ["Reshape", "flatten", "AL303"]
    assert marked[0].get("color") == '"#dc2626"'


_MERMAID_LINE = re.compile(
    r'flowchart TB'
    r'|    n\d+(\[\[|\(\[|\(|\[)"[^"]*"(\]\]|\]\)|\)|\])'
    r'|    n\d+ -->(\|"[^"]*"\|)? n\d+'
    r'|    classDef (error|warning|info) [a-z-]+:[^ ]+(,[a-z-]+:[^ ]+)*'
    r'|    class n\d+ (error|warning|info)')


def test_mermaid_follows_the_flowchart_grammar_we_write() -> None:
    """Always run: every line is one of the forms of mermaid's flowchart grammar we use, with
    labels quoted (names with any character are entity-escaped)."""
    text = render_mermaid(app.draw(AL303))
    for line in text.splitlines():
        assert _MERMAID_LINE.fullmatch(line), line
    assert "    class n2 error" in text.splitlines()
    assert 'n2("Reshape<br/>flatten<br/>AL303")' in text


def _mermaid_parser() -> Path | None:
    if shutil.which("node") is None:
        return None
    modules = RENDER_TOOLS / "node_modules"
    if not (modules / "mermaid").is_dir() or not (modules / "jsdom").is_dir():
        return None
    return modules


def test_mermaid_parses_with_mermaid(tmp_path: Path) -> None:
    modules = _mermaid_parser()
    if modules is None:
        pytest.skip("mermaid's parser not installed (run scripts/setup_render_tests.sh)")
    (tmp_path / "node_modules").symlink_to(modules)
    script = tmp_path / "parse.mjs"
    shutil.copy(REPO / "tests" / "render" / "mermaid_parse.mjs", script)
    odd = onnx.parser.parse_model(Path(AL303).read_text())
    odd.graph.node[2].name = 'a "quoted" <name> | with #; and ]]'
    onnx.save_model(odd, tmp_path / "odd.onnx")
    files = []
    odd_path = str(tmp_path / "odd.onnx")
    for name, model in (("al303", AL303), ("stacked", STACKED), ("odd", odd_path)):
        files.append(tmp_path / f"{name}.mmd")
        files[-1].write_text(render_mermaid(app.draw(model)))
    broken = tmp_path / "broken.mmd"  # the check itself can fail
    broken.write_text(render_mermaid(app.draw(AL303)).replace('"]]', '"]', 1))
    proc = subprocess.run(["node", str(script), *map(str, files), str(broken)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    lines = proc.stdout.splitlines()
    assert lines[:3] == [f"ok {f} flowchart-v2" for f in files], proc.stdout + proc.stderr
    assert lines[3].startswith(f"error {broken}: Parse error")
    assert proc.returncode == 1


def test_drawing_without_findings_and_format_from_suffix(tmp_path: Path) -> None:
    for suffix, start in ((".dot", "digraph"), (".mmd", "flowchart TB"), (".svg", "<svg")):
        out = tmp_path / f"x{suffix}"
        result = invoke("graph", AL303, "--no-findings", "-o", str(out))
        assert result.exit_code == 0
        assert out.read_text().startswith(start)
        assert "AL303" not in out.read_text().replace(AL303, "")  # the title names the file
    result = invoke("graph", AL303, "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "give --format" in result.output


def test_svg_of_an_empty_drawing_is_well_formed() -> None:
    drawing = app.draw(str(FIXTURES / "see" / "lstm2_fc.onnx"), around_node="/fc/MatMul",
                       radius=0)
    assert len(_svg_nodes(render_svg(drawing))) == 1


_EXPORTS = sorted(p for folder in ("exported", "keras", "cells", "quantized", "see",
                                   "exported_states") for p in (FIXTURES / folder).glob("*.onnx"))


@pytest.mark.parametrize("path", _EXPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_export_draws_its_recurrent_layers(path: Path) -> None:
    """Real exports (torch.onnx, tf2onnx, quantize_dynamic, Loop cells): every recurrent layer
    is drawn, the SVG is well-formed with one shape per node, and the DOT parses."""
    from archlint.graph import build_graph
    from archlint.layers import build_layers
    from archlint.loader import load_model

    model = load_model(path)
    graph = build_graph(model)
    layers = build_layers(graph, model.producer)
    drawing = app.draw(str(path), with_findings=False)
    drawn = {n.id for n in drawing.nodes if n.kind == "recurrent"}
    assert drawn == {layer.node.id for layer in layers}
    nodes = _svg_nodes(render_svg(drawing))
    assert len(nodes) == len(drawing.nodes)
    assert all(len(g.findall(f"{SVG}rect")) == 1 for g in nodes.values())
    (dot,) = pydot.graph_from_dot_data(render_dot(drawing))
    assert len(dot.get_edges()) == len(drawing.edges)


def test_a_forward_node_over_a_reversed_sequence_is_drawn_as_reverse() -> None:
    """hunt 7: `archlint graph` said forward where params says reverse for a forward node whose
    X a ReverseSequence (tf2onnx's Keras go_backwards) or TensorFlow's ReverseV2 reversed."""
    drawn = app.draw(str(FIXTURES / "keras" / "k2_lstm_go_backwards.onnx"))
    assert [n.details[0] for n in drawn.nodes if n.kind == "recurrent"] == [
        "reverse (X reversed by ReverseSequence), H=3, I=4"]
    drawn = app.draw(str(FIXTURES / "tf2onnx_old" / "bigru_op9.onnx"))
    assert [n.details[0] for n in drawn.nodes if n.kind == "recurrent"] == [
        "forward, H=3, I=5", "reverse (X reversed by ReverseV2), H=3, I=5"]
