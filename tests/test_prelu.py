"""PReLU's learned slope is a parameter (fixtures/prelu/, torch 2.13 classic and dynamo).

nn.PReLU keeps its slope as a trained ``weight``, and Keras's PReLU its ``alpha``; torch's
exporters write it as PRelu's slope, an initializer. archlint listed it among the constants
outside the totals: a public ConvLSTM classifier with two nn.PReLU() counted 2 fewer than
torch (its BatchNorms, folded into the Convs, are another matter: docs/params.md).
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from .conftest import FIXTURES, REPO, invoke

MANIFEST = json.loads((FIXTURES / "prelu" / "manifest.json").read_text())
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "params-v1.schema.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST["models"]))
def test_prelu_slopes_count_as_torch_counts_them(name: str) -> None:
    from archlint.app import count_paths
    from archlint.params import Convention

    [report] = count_paths([str(FIXTURES / "prelu" / name)])
    assert report.total(Convention.PYTORCH) == MANIFEST["torch_parameters"] == 278
    prelu = [row for row in report.layers if row.op_type == "PRelu"]
    assert [(row.kind, [(s.slot, s.elements, s.pytorch, s.keras) for s in row.slots])
            for row in prelu] == [("activation", [("slope", 1, 1, 1)]),
                                  ("activation", [("slope", 5, 5, 5)])]
    assert sum(s.elements or 0 for row in prelu for s in row.slots) \
        == MANIFEST["prelu_parameters"]


def test_the_json_report_names_the_activation_kind() -> None:
    result = invoke("params", "--format", "json",
                    str(FIXTURES / "prelu" / "conv_prelu_lstm_classic.onnx"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    rows = report["models"][0]["layers"]
    assert [(r["node"], r["kind"], r["macs_per_step"]) for r in rows if r["op_type"] == "PRelu"] \
        == [("/act/PRelu", "activation", 0), ("/out_act/PRelu", "activation", 0)]
    assert report["models"][0]["totals"]["pytorch"] == 278
