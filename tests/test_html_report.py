"""`archlint lint --format html` (one self-contained page) and `--format markdown` (a
pull-request comment with the Mermaid picture of the nodes that have findings). The page is
opened in headless Chromium when it is installed (scripts/setup_render_tests.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import onnx
import pytest
from markdown_it import MarkdownIt
from onnx import TensorProto, helper

from .conftest import FIXTURES, invoke

AL303 = str(FIXTURES / "AL303" / "bad.onnx.txt")
BILSTM = str(FIXTURES / "see" / "bilstm_512_256.onnx")
STACKED = str(FIXTURES / "see" / "lstm2_fc.onnx")


class _Page(HTMLParser):
    """Tags, the attributes that load something, and the nesting (void elements aside)."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "path", "line", "rect",
                      "stop", "use"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.loads: list[str] = []
        self.stack: list[str] = []
        self.svg_node_codes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self.loads += [v or "" for k, v in attrs if k in ("src", "href") and v]
        if tag == "g" and "node" in (values.get("class") or "").split():
            self.svg_node_codes.append(values.get("data-codes") or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.loads += [v or "" for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    assert page.stack == [], page.stack  # every element closed
    return page


def _html(tmp_path: Path, *models: str) -> tuple[Path, str]:
    out = tmp_path / "report.html"
    result = invoke("lint", *models, "--format", "html", "-o", str(out), "--exit-zero")
    assert result.exit_code == 0, result.output
    return out, out.read_text()


def test_html_is_one_self_contained_page(tmp_path: Path) -> None:
    _, text = _html(tmp_path, AL303, BILSTM, STACKED)
    page = _page(text)
    assert page.loads == []  # nothing fetched: no src=, no href=
    assert "script" not in page.tags and "link" not in page.tags
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "<b>AL303</b>" in text and "1,576,960" in text and "6.02 MiB" in text
    assert "[seq, 2, batch, 256]" in text
    assert "AL303" in page.svg_node_codes  # the picture marks the Reshape


def _long_model(layers: int) -> onnx.ModelProto:
    """``layers`` chained unidirectional LSTMs (H=4); the last declares hidden_size 5 (AL201)."""
    nodes, inits = [], []
    current = "X"
    for k in range(layers):
        hidden = 5 if k == layers - 1 else 4
        inits += [helper.make_tensor(f"W{k}", TensorProto.FLOAT, [1, 16, 4], [0.1] * 64),
                  helper.make_tensor(f"R{k}", TensorProto.FLOAT, [1, 16, 4], [0.1] * 64)]
        nodes.append(helper.make_node("LSTM", [current, f"W{k}", f"R{k}"], [f"Y{k}"],
                                      name=f"lstm_{k}", hidden_size=hidden))
        inits.append(helper.make_tensor(f"axes{k}", TensorProto.INT64, [1], [1]))
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", f"axes{k}"], [f"S{k}"],
                                      name=f"squeeze_{k}"))
        current = f"S{k}"
    graph = helper.make_graph(
        nodes, "long", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "b", 4])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_hundred_layers_stay_readable(tmp_path: Path) -> None:
    path = tmp_path / "long.onnx"
    onnx.save_model(_long_model(100), path)
    _, text = _html(tmp_path, str(path))
    page = _page(text)
    assert "AL201" in page.svg_node_codes
    # only the node with the finding and its neighbours are drawn, not 200 boxes
    assert len(page.svg_node_codes) == 3
    assert "100 recurrent layers (more than 12): only the nodes with findings" in text
    assert text.count("<details>") == 1  # the parameter table of 100 rows, folded


def test_markdown_for_a_pull_request(tmp_path: Path) -> None:
    result = invoke("lint", AL303, STACKED, "--format", "markdown", "--exit-zero")
    assert result.exit_code == 0
    text = result.output
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["mermaid"]  # only the model with findings is drawn
    assert "class n1 error" in fences[0].content and "AL303" in fences[0].content
    cells = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "td_open"]
    assert cells[:3] == ["**AL303**", "error", "`main/flatten`"]
    assert "no findings" in text  # lstm2_fc.onnx
    assert "| ↳ /rnn/LSTM\\_1 | LSTM |" in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _open_in_chromium(page: Path, tmp_path: Path) -> tuple[str, Path]:
    browser = _chromium()
    assert browser is not None
    shot = tmp_path / f"{page.stem}.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
         f"--screenshot={shot}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr, shot


def test_html_renders_in_headless_chromium_without_console_errors(tmp_path: Path) -> None:
    if _chromium() is None:
        pytest.skip("chromium not installed (run scripts/setup_render_tests.sh)")
    control = tmp_path / "control.html"  # the check itself can fail
    control.write_text("<!DOCTYPE html><p>x</p><script>console.error('see15-control')</script>")
    log, _ = _open_in_chromium(control, tmp_path)
    assert "see15-control" in log and ":CONSOLE" in log
    out, _ = _html(tmp_path, AL303, BILSTM, STACKED)
    log, shot = _open_in_chromium(out, tmp_path)
    assert ":CONSOLE" not in log, log
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
