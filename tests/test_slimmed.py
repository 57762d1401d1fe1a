"""Exports after onnxslim (fixtures/slimmed/, make_slimmed.py): the same verdicts and counts as
the exports they came from.

onnxslim appends its own value_info entry for tensors the exporter already declared; where the
exporter's entry leaves an axis unknown and onnxslim's names it (``seq``), archlint reads both
(declared_types.merged_declaration), as it reads the one refined entry of the original export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from archlint.declared_types import DeclaredTypes
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model
from archlint.params import Convention, count_model

from .conftest import FIXTURES, REPO, invoke

HERE = FIXTURES / "slimmed"
MANIFEST = json.loads((HERE / "manifest.json").read_text())["models"]


def _findings(path: Path) -> list[tuple[str, str, str]]:
    result = invoke("lint", str(path), "--format", "json", "--exit-zero")
    assert result.exit_code == 0, result.output
    [model] = json.loads(result.stdout)["models"]
    return sorted((f["code"], f["severity"], f["message"]) for f in model["findings"])


def _totals(path: Path) -> tuple[int | None, ...]:
    graph = build_graph(load_model(path))
    report = count_model(path.name, graph, build_layers(graph))
    return tuple(report.total(c) for c in (Convention.PYTORCH, Convention.KERAS))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_slimmed_export_runs_as_its_source_and_declares_tensors_twice(name: str) -> None:
    entry = MANIFEST[name]
    assert entry["max_abs_diff_vs_source"] < 1e-5
    assert entry["declared_twice"] > 0  # what makes these models worth a fixture


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_a_slimmed_export_gets_the_codes_and_counts_of_its_source(name: str) -> None:
    source = REPO / MANIFEST[name]["source"]
    codes = [(code, severity) for code, severity, _ in _findings(HERE / name)]
    assert codes == [(code, severity) for code, severity, _ in _findings(source)]
    assert _totals(HERE / name) == _totals(source)


def test_the_baked_reshape_of_the_dynamo_export_is_found_after_slimming() -> None:
    """The exporter declares the reshaped tensor ``[?, ?, 2, 3]``, onnxslim ``[seq, batch, 2,
    3]``: only the second ties axis 0 to the graph input's ``seq``."""
    [(code, severity, message)] = _findings(HERE / "lstm_l2_bi_dynamo_slim.onnx")
    assert (code, severity) == ("AL302", "error")
    assert message.startswith(
        "Reshape 'node_Reshape_236' has the constant target [5, -1, 6] for input "
        "[seq, batch, 2, 3]: 5 fixes axis 0 ('seq', dynamic in graph input 'x')")
    assert _findings(REPO / MANIFEST["lstm_l2_bi_dynamo_slim.onnx"]["source"]) == [
        (code, severity, message)]


def _declared(*entries: tuple[int, list[int | str | None]]) -> tuple[int | None, object]:
    table = DeclaredTypes([])
    table.declare(helper.make_tensor_value_info("t", dtype, shape) for dtype, shape in entries)
    return table.type_of("t")


def test_a_second_declaration_fills_the_axes_the_first_leaves_unknown() -> None:
    F = TensorProto.FLOAT
    assert _declared((F, [None, None, 2, 3]), (F, ["seq", "batch", 2, 3])) == (
        F, ("seq", "batch", 2, 3))
    assert _declared((F, [None, 4]), (F, [7, None])) == (F, (7, 4))
    assert _declared((0, [None, 4]), (F, [None, 4])) == (F, (None, 4))


def test_a_second_declaration_that_disagrees_leaves_the_first() -> None:
    F, D = TensorProto.FLOAT, TensorProto.DOUBLE
    assert _declared((F, [5, None]), (F, [6, 3])) == (F, (5, None))  # 5 against 6
    assert _declared((F, ["seq", None]), (F, [5, 3])) == (F, ("seq", None))
    assert _declared((F, [None, None]), (F, [1, 2, 3])) == (F, (None, None))  # rank
    assert _declared((F, [None]), (D, [4])) == (F, (None,))  # element type
