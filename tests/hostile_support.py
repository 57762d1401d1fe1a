"""Helpers for the hostile-input tests: hostile names, a GitHub-runner reading of output, and
the process table."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import onnx
from onnx import TensorProto, helper

# Names a hostile exporter (or a prank) can write: OSC 52 clipboard write, window title,
# clear screen, NUL, BEL, CR, a C1 control, a bidi override, and forged workflow commands.
EVIL = ("lstm\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b]0;title\x07\x00\r\x85\u202e"
        "\n::error file=x::forged\n::add-mask::secret\n::stop-commands::tok ##[error]legacy")
EVIL_FILE = "\n::error::file\x1b[31m\u202e.onnx"

# Everything the runner would act on: a line that, trimmed, starts with "::", or holds the
# legacy "##[" anywhere. Lines split on \n, \r and the other separators splitlines knows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def workflow_commands(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.strip().startswith("::") or "##[" in line]


def control_characters(text: str) -> list[str]:
    """Control characters other than the newline and tab that end or indent lines."""
    return _CONTROL.findall(text)


def evil_model() -> onnx.ModelProto:
    """fixtures/AL201/bad.onnx.txt (two findings) with every name made hostile: node names,
    graph input and output names, an initializer name and a metadata entry."""
    text = (Path(__file__).resolve().parents[1] / "fixtures/AL201/bad.onnx.txt").read_text()
    model = onnx.parser.parse_model(text)
    renames = {"X": EVIL + "X", "W": EVIL + "W", "Y": EVIL + "Y"}
    graph = model.graph
    for node in graph.node:
        node.name = EVIL + node.name
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output):
        value.name = renames.get(value.name, value.name)
    entry = model.metadata_props.add()
    entry.key, entry.value = "archlint:ignore", "AL3" + EVIL  # also an unused suppression
    return model


def children_of(pid: int) -> list[int]:
    """Live descendants of ``pid`` and processes reparented away from it, by scanning /proc
    for processes whose ancestry or environment marks them as ours (see ``marked``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (every process a test starts gets a
    unique one, and children inherit it), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def long_chain(
    nodes: int = 300_000, dims: Sequence[int | str] = ("batch", 2)
) -> onnx.ModelProto:
    """A chain of Relu nodes on a tensor of ``dims``: at the default size, most of a second of
    shape inference in the child."""
    graph = helper.make_graph(
        [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(nodes)], "chain",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info(f"t{nodes}", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
