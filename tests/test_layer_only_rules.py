"""Rules that declare ``layer_only`` (archlint/api.py LayerRule) read nothing but the layer.

The engine checks such a rule once per distinct ``RecurrentLayer.signature`` while it comes out
clean, so a rule that read a tensor's name, its value or the graph around the layer would miss
findings on models that repeat a cell. Each one is held to its word here: on every layer of
every fixture and of onnx's own backend cases, it must find on the layer's *twin* (the same
signature, fresh names, no tensor values, no producers, an empty graph around it) exactly what
it finds on the layer itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import onnx
import pytest

from archlint.api import Finding, LayerRule, RuleContext, Severity
from archlint.engine import Linter, analyse
from archlint.graph import ModelGraph, NodeInfo
from archlint.loader import load_model
from archlint.recurrent import RecurrentLayer, TensorRef
from archlint.registry import load_rules, select_rules
from tests.conftest import FIXTURES, lint_model

LAYER_ONLY = sorted((rule for rule in load_rules().rules
                     if issubclass(rule, LayerRule) and rule.layer_only),
                    key=lambda rule: rule.code)
CORPUS = sorted(path for path in FIXTURES.rglob("*")
                if path.name.endswith((".onnx", ".onnx.txt")))


def test_the_shape_and_attribute_rules_are_layer_only() -> None:
    # the set this change was measured with; a rule leaving it is a deliberate decision
    assert [rule.code for rule in LAYER_ONLY] == [
        "AL101", "AL102", "AL103", "AL104", "AL105", "AL107", "AL108", "AL109",
        "AL201", "AL202", "AL203", "AL204", "AL210", "AL211", "AL212", "AL213", "AL214",
        "AL215", "AL216", "AL217", "AL301", "AL310", "AL311",
    ]


def _renamed(names: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{k}" if name else "" for k, name in enumerate(names))


def _twin_ref(ref: TensorRef, name: str) -> TensorRef:
    producer = None if ref.producer is None else "twin/producer"
    return dataclasses.replace(ref, name=name, info=None, producer=producer)


def _twin(layer: RecurrentLayer) -> RecurrentLayer:
    """The layer with nothing but its signature: fresh node and tensor names, no values."""
    node = layer.node
    inputs, outputs = _renamed(node.inputs, "twin_in_"), _renamed(node.outputs, "twin_out_")
    proto = onnx.helper.make_node(node.op_type, list(inputs), list(outputs), name="twin",
                                  domain=node.domain)
    proto.attribute.extend(node.proto.attribute)
    twin_node = NodeInfo(id="twin/0", graph="twin", index=0, name="twin",
                         op_type=node.op_type, domain=node.domain, inputs=inputs,
                         outputs=outputs, proto=proto)
    fresh = {name: new for name, new in zip((*node.inputs, *node.outputs),
                                            (*inputs, *outputs), strict=True) if name}

    def refs(bound: object) -> MappingProxyType[str, TensorRef]:
        assert isinstance(bound, MappingProxyType | dict)
        return MappingProxyType({slot: _twin_ref(ref, fresh.get(ref.name, f"twin_{slot}"))
                                 for slot, ref in bound.items()})

    return dataclasses.replace(layer, node=twin_node, inputs=refs(layer.inputs),
                               outputs=refs(layer.outputs), extra_inputs=refs(layer.extra_inputs))


def _verdicts(findings: list[Finding]) -> list[tuple[object, ...]]:
    """What a finding decides, without the names that word it."""
    return [(f.code, f.severity, f.location.input, f.location.output, f.location.attribute,
             f.expected, f.actual) for f in findings]


def _layers_of(path: Path) -> Iterator[tuple[RuleContext, RecurrentLayer]]:
    ctx = analyse(load_model(path))
    for layer in ctx.layers:
        yield ctx, layer


def _assert_twin_agrees(ctx: RuleContext, layer: RecurrentLayer, where: str) -> int:
    twin = _twin(layer)
    assert twin.signature == layer.signature, where
    alone = RuleContext(model=ctx.model, graph=ModelGraph(), layers=(twin,),
                        options=dict(ctx.options))
    found = 0
    for rule_class in LAYER_ONLY:
        rule = rule_class()
        if layer.op_type not in rule.ops:
            continue
        own = list(rule.check_layer(layer, ctx))
        twins = list(rule.check_layer(twin, alone))
        assert _verdicts(twins) == _verdicts(own), f"{rule.code} on {layer.label} in {where}"
        assert all(f.location.node == "twin" for f in twins), rule.code
        found += len(own)
    return found


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_layer_only_rule_finds_on_the_twin_what_it_finds_on_the_layer(path: Path) -> None:
    for ctx, layer in _layers_of(path):
        _assert_twin_agrees(ctx, layer, str(path))


def test_the_twins_of_onnx_backend_cases_agree(backend_recurrent_cases: list,
                                               tmp_path: Path) -> None:
    layers = 0
    for case in backend_recurrent_cases:
        path = tmp_path / f"{case.name}.onnx"
        onnx.save_model(case.model, path)
        for ctx, layer in _layers_of(path):
            _assert_twin_agrees(ctx, layer, case.name)
            layers += 1
    assert layers >= 15  # 18 with onnx 1.23: a vacuous pass is a failure


def test_the_corpus_exercises_the_layer_only_rules() -> None:
    # the twin test means something only where the rules find something
    found = {code: 0 for code in (rule.code for rule in LAYER_ONLY)}
    for path in CORPUS:
        for ctx, layer in _layers_of(path):
            for rule_class in LAYER_ONLY:
                rule = rule_class()
                if layer.op_type in rule.ops:
                    found[rule.code] += len(list(rule.check_layer(layer, ctx)))
    assert [code for code, count in found.items() if count == 0] == []


# --- the engine side: one check per clean signature, every layer of a dirty one ---------------

def _stack(hidden_sizes: list[int], weights_hidden: int = 4) -> onnx.ModelProto:
    """Parallel LSTMs on one X [5, 2, 3], each with its own W/R/B (of H = weights_hidden)."""
    text = ['<ir_version: 8, opset_import: ["" : 17]>',
            'stack (float[5, 2, 3] X) => (' + ", ".join(
                f"float[5, 1, 2, {weights_hidden}] y{k}" for k in range(len(hidden_sizes)))
            + ") <"]
    h = weights_hidden
    inits = []
    for k in range(len(hidden_sizes)):
        inits.append(f"float[1, {4 * h}, 3] W{k} = {{{', '.join(['0.1'] * 12 * h)}}}")
        inits.append(f"float[1, {4 * h}, {h}] R{k} = {{{', '.join(['0.1'] * 4 * h * h)}}}")
    text.append(", ".join(inits) + ">")
    text.append("{")
    for k, hidden in enumerate(hidden_sizes):
        text.append(f'  y{k} = LSTM <hidden_size: int = {hidden}> (X, W{k}, R{k})')
    text.append("}")
    return onnx.parser.parse_model("\n".join(text))


def test_every_layer_of_a_signature_with_findings_gets_its_own(tmp_path: Path) -> None:
    findings = lint_model(_stack([5, 5, 5]), tmp_path, select=["AL201"])
    per_layer = [[(f.location.input, f.expected, f.actual) for f in findings
                  if f.location.node_index == k] for k in range(3)]
    # hidden_size=5 against W, R and Y of H=4, on every layer (Y: an output, no input slot)
    assert per_layer[0] == per_layer[1] == per_layer[2]
    assert sorted(str(slot) for slot, _, _ in per_layer[0]) == ["None", "R", "W"]
    assert all(f.code == "AL201" and f.severity is Severity.ERROR for f in findings)


def test_a_clean_signature_is_checked_once_and_others_still_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stack.onnx"
    onnx.save_model(_stack([4, 4, 4, 5]), path)
    rules = select_rules(load_rules().rules, ["AL201"])
    rule_class = rules[0]
    original = rule_class.check_layer
    checked: list[int] = []

    def counting(self: LayerRule, layer: RecurrentLayer, ctx: RuleContext) -> object:
        checked.append(layer.node.index)
        return original(self, layer, ctx)  # type: ignore[arg-type]

    monkeypatch.setattr(rule_class, "check_layer", counting)
    report = Linter(rules).lint_file(path)
    assert checked == [0, 3]  # layers 1 and 2 repeat layer 0's clean signature
    assert {(f.code, f.location.node_index) for f in report.findings} == {("AL201", 3)}
