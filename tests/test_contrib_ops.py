"""onnxruntime's contrib recurrent ops: DynamicQuantizeLSTM (what quantize_dynamic writes) and
AttnLSTM are seen, linted without false findings, counted with their dtypes and predicted on
every target; real CPU sessions show what the fixtures claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from archlint.engine import Linter, analyse
from archlint.loader import load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition, RecurrentLayer
from archlint.registry import load_rules
from archlint.targets import load_profiles, predict_placement

from .conftest import FIXTURES, REPO

QUANTIZED = FIXTURES / "quantized"
CONTRIB = FIXTURES / "contrib"
MANIFEST: dict[str, Any] = json.loads((QUANTIZED / "manifest.json").read_text(encoding="utf-8"))
EXPORTED: dict[str, Any] = json.loads(
    (FIXTURES / "exported" / "manifest.json").read_text(encoding="utf-8"))
QUANTIZED_FILES = sorted(name for name in MANIFEST if not name.startswith("_"))
ALL_RULES = load_rules().rules


def _layers(path: Path) -> tuple[RecurrentLayer, ...]:
    return analyse(load_model(path)).layers


def _findings(path: Path, *targets: str) -> list[str]:
    options = {"targets": targets} if targets else {}
    report = Linter(ALL_RULES, options=options).lint_file(path, path.name)
    assert report.error is None, report.error
    return [f"{f.code} {f.location.node} {f.message}" for f in report.findings]


def _model(path: Path) -> onnx.ModelProto:
    if path.name.endswith(".onnx.txt"):
        return onnx.parser.parse_model(path.read_text(encoding="utf-8"))
    return onnx.load(path)


def test_the_manifest_lists_every_committed_quantized_model() -> None:
    assert sorted(p.name for p in QUANTIZED.glob("*.onnx")) == QUANTIZED_FILES
    assert len(QUANTIZED_FILES) == 4


@pytest.mark.parametrize("name", QUANTIZED_FILES)
def test_each_dynamic_quantize_lstm_is_a_contrib_lstm_view(name: str) -> None:
    entry = MANIFEST[name]
    layers = _layers(QUANTIZED / name)
    assert [la.label for la in layers] == [n["name"] for n in entry["nodes"]]
    for layer, node in zip(layers, entry["nodes"], strict=True):
        assert layer.recognised_as is Recognition.CONTRIB
        assert (layer.op_type, layer.node_op, layer.display_op) == (
            "LSTM", "com.microsoft.DynamicQuantizeLSTM", "DynamicQuantizeLSTM")
        stored = node["initializers"]
        d, i, gates = stored["W"]["dims"]
        h = node["hidden_size"]
        assert gates == 4 * h
        # the view reads W [D, I, 4H] and R [D, H, 4H] as the ONNX LSTM's [D, 4H, I], [D, 4H, H]
        assert layer.shape("W") == (d, 4 * h, i)
        assert layer.tensor("W").stored_shape == tuple(stored["W"]["dims"])  # type: ignore[union-attr]
        assert layer.shape("R") == (d, 4 * h, h)
        assert (layer.input_size, layer.implied_hidden_size, layer.num_directions) == (i, h, d)
        assert set(layer.extra_inputs) == {"W_scale", "W_zero_point", "R_scale", "R_zero_point"}


@pytest.mark.parametrize("name", QUANTIZED_FILES)
def test_quantized_exports_lint_clean_with_every_rule(name: str) -> None:
    assert _findings(QUANTIZED / name) == []


@pytest.mark.parametrize("name", QUANTIZED_FILES)
def test_quantized_exports_on_each_target(name: str) -> None:
    nodes = [n["name"] for n in MANIFEST[name]["nodes"]]
    assert _findings(QUANTIZED / name, "onnxruntime-cpu") == []
    assert _findings(QUANTIZED / name, "openvino") == []
    cuda = _findings(QUANTIZED / name, "onnxruntime-cuda")
    assert [f.split(" ")[:2] for f in cuda] == [["AL602", n] for n in nodes]
    assert all("runs on CPUExecutionProvider, not CUDAExecutionProvider" in f
               and "[ort-cuda-contrib-no-kernel]" in f for f in cuda)
    trt = _findings(QUANTIZED / name, "tensorrt")
    assert [f.split(" ")[:2] for f in trt] == [["AL601", n] for n in nodes]
    assert all('"Plugin not found, are the plugin name, version, and namespace correct?"' in f
               for f in trt)


def test_placement_predictions_for_a_quantized_lstm() -> None:
    layer = _layers(QUANTIZED / "lstm_bi_s8.onnx")[0]
    profiles = load_profiles()
    cpu = predict_placement(layer, profiles["onnxruntime-cpu"], profiles)
    assert (cpu.provider, cpu.refused, cpu.fell_back) == ("CPUExecutionProvider", False, False)
    cuda = predict_placement(layer, profiles["onnxruntime-cuda"], profiles)
    assert (cuda.requested, cuda.provider, cuda.landed_on, cuda.fell_back) == (
        "CUDAExecutionProvider", "CPUExecutionProvider", "onnxruntime-cpu", True)
    assert [m.entry.id for m in cuda.reasons] == ["ort-cuda-contrib-no-kernel"]
    trt = predict_placement(layer, profiles["tensorrt"], profiles)
    assert (trt.provider, trt.refused, trt.refused_by) == (None, True, "tensorrt")
    openvino = predict_placement(layer, profiles["openvino"], profiles)
    assert (openvino.provider, openvino.refused, openvino.miscomputed) == (
        "OpenVINOExecutionProvider", False, False)


@pytest.mark.parametrize("name", QUANTIZED_FILES)
def test_params_count_the_quantized_weights_with_their_dtypes(name: str) -> None:
    entry = MANIFEST[name]
    ctx = analyse(load_model(QUANTIZED / name))
    model = count_model(name, ctx.graph, ctx.layers)
    assert [row.label for row in model.layers] == [n["name"] for n in entry["nodes"]]
    for row, node in zip(model.layers, entry["nodes"], strict=True):
        stored = node["initializers"]
        assert row.op_type == "DynamicQuantizeLSTM"
        by_slot = {s.slot: s for s in row.slots}
        assert sorted(by_slot) == sorted(stored)
        for slot, tensor in stored.items():
            expected_dtype = {"float32": "float", "int8": "int8", "uint8": "uint8"}[
                tensor["dtype"]]
            assert by_slot[slot].dtype == expected_dtype, slot
            assert by_slot[slot].elements == int(np.prod(tensor["dims"])), slot
        assert (by_slot["W"].dtype, by_slot["R"].dtype) == ("int8", "int8")
        quant = sum(int(np.prod(stored[s]["dims"])) for s in
                    ("W_scale", "W_zero_point", "R_scale", "R_zero_point"))
        weights = sum(int(np.prod(stored[s]["dims"])) for s in ("W", "R", "B"))
        assert row.total(Convention.ONNX) == weights + quant
        assert row.total(Convention.PYTORCH) == weights
        assert any("W int8" in note for note in row.notes)
    # the float nn.LSTM the model came from: PyTorch counts the same parameters
    source = EXPORTED[Path(entry["source"]).name]
    assert model.total(Convention.PYTORCH) == source["rnn_param_count"]


def test_params_cli_shows_the_dtypes() -> None:
    from .conftest import invoke

    result = invoke("params", str(QUANTIZED / "lstm_bi_s8.onnx"), "--format", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["models"][0]["layers"][0]
    assert row["op_type"] == "DynamicQuantizeLSTM"
    assert {s["slot"]: s["dtype"] for s in row["slots"]} == {
        "W": "int8", "R": "int8", "B": "float", "W_scale": "float", "W_zero_point": "int8",
        "R_scale": "float", "R_zero_point": "int8"}
    assert row["params"] == {"onnx": 968, "pytorch": 960, "keras": 896}


def _feeds(model: onnx.ModelProto, seed: int) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    init = {t.name for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else (7 if d.dim_param == "seq" else 3)
                for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", QUANTIZED_FILES)
def test_onnxruntime_cpu_runs_the_quantized_model_close_to_the_float_one(name: str) -> None:
    import onnxruntime as ort

    source = REPO / MANIFEST[name]["source"]
    feeds = _feeds(onnx.load(source), 11)
    quant = ort.InferenceSession(str(QUANTIZED / name), providers=["CPUExecutionProvider"])
    float_ = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    types = {n.op_type for n in onnx.load(QUANTIZED / name).graph.node}
    assert "DynamicQuantizeLSTM" in types and "LSTM" not in types
    for got, want in zip(quant.run(None, feeds), float_.run(None, feeds), strict=True):
        got, want = np.asarray(got), np.asarray(want)
        scale = float(np.max(np.abs(want)))
        error = float(np.max(np.abs(got - want)))
        # int8 weights: not the float result (0 < error), but close to it and the same shape of
        # signal (measured on onnxruntime 1.32: error <= 0.24·scale, correlation >= 0.967)
        assert 0 < error <= 0.3 * scale, (error, scale)
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95


def test_a_layout_attribute_on_the_contrib_op_is_al215_and_onnxruntime_refuses_it() -> None:
    import onnxruntime as ort

    path = CONTRIB / "dq_layout_attribute.onnx.txt"
    findings = _findings(path)
    assert [f.split(" ")[:2] for f in findings] == [["AL215", "dq_0"]]
    assert "has attribute 'layout', which DynamicQuantizeLSTM does not have" in findings[0]
    with pytest.raises(Exception, match="Unrecognized attribute: layout"):
        ort.InferenceSession(_model(path).SerializeToString(),
                             providers=["CPUExecutionProvider"])


def test_a_wrong_r_is_reported_in_the_stored_layout_and_onnxruntime_fails_at_run() -> None:
    import onnxruntime as ort

    path = CONTRIB / "dq_r_hidden.onnx.txt"
    findings = _findings(path)
    assert [f.split(" ")[:2] for f in findings] == [["AL201", "dq_0"]]
    assert "stored as [1, 4, 12], DynamicQuantizeLSTM layout [D, H, 4·H]" in findings[0]
    model = _model(path)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {vi.name: np.zeros([d.dim_value for d in vi.type.tensor_type.shape.dim],
                               onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
             for vi in model.graph.input}
    with pytest.raises(Exception, match=r"Input R must have shape \{1,3,12\}. Actual:\{1,4,12\}"):
        session.run(None, feeds)


def test_a_quantized_stack_is_clean_and_its_swapped_state_rows_are_al305(tmp_path: Path) -> None:
    path = CONTRIB / "dq_stack_h0.onnx.txt"
    assert _findings(path) == []
    text = path.read_text(encoding="utf-8")
    first, second = "Slice (h0, zero, one, axis0)", "Slice (h0, one, two, axis0)"
    swapped = text.replace(f"h1 = {first}", f"h1 = {second}").replace(
        f"h2 = {second}", f"h2 = {first}")
    assert swapped != text
    bad = tmp_path / "dq_stack_swapped.onnx.txt"
    bad.write_text(swapped, encoding="utf-8")
    found = [f.split(" ")[:2] for f in _findings(bad)]
    assert ["AL305", "dq_0"] in found and ["AL305", "dq_1"] in found, found


def test_attn_lstm_reads_w_without_its_attention_columns() -> None:
    path = FIXTURES / "targets" / "contrib_attn_lstm.onnx.txt"
    layer = _layers(path)[0]
    assert (layer.display_op, layer.recognised_as) == ("AttnLSTM", Recognition.CONTRIB)
    # W is stored [1, 12, 4 + 5]: the memory depth (5) is the attention width without AW
    assert layer.shape("W") == (1, 12, 4)
    assert layer.tensor("W").stored_shape == (1, 12, 9)  # type: ignore[union-attr]
    assert layer.input_size == 4
    assert _findings(path) == []
    ctx = analyse(load_model(path))
    row = count_model(path.name, ctx.graph, ctx.layers).layers[0]
    assert {s.slot: s.elements for s in row.slots} == {"W": 108, "R": 36, "QW": 18, "MW": 30,
                                                       "V": 6}
    assert row.total(Convention.ONNX) == 198
    assert row.total(Convention.PYTORCH) is None


_DQ_MODEL = """<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
g (float[2, 1, 4] X) => (float[2, 1, 1, 3] Y)
<int8[1, 4, 12] W = {{{w}}}, int8[1, 3, 12] R = {{{r}}}, {ws}, {wz}, float[1] R_scale = {{0.1}},
 {rz}>
{{
  [dq_0] Y = com.microsoft.DynamicQuantizeLSTM <hidden_size: int = 3> (X, W, R, , , , , ,
      W_scale, W_zero_point, R_scale, R_zero_point)
}}"""
_ONES_48, _ONES_36 = ",".join(["1"] * 48), ",".join(["1"] * 36)
_AL020_CASES = {
    # case: (W_scale, W_zero_point, R_zero_point, message at session creation or Run)
    "zero-point-type": ("float[1] W_scale = {0.1}", "uint8[1] W_zero_point = {0}",
                        "int8[1] R_zero_point = {0}",
                        "Type parameter (T2) of Optype (DynamicQuantizeLSTM) bound to different "
                        "types"),
    "scale-shape": ("float[12] W_scale = {" + ",".join(["0.1"] * 12) + "}",
                    "int8[1] W_zero_point = {0}", "int8[1] R_zero_point = {0}",
                    "Input W_scale must have shape {1} for per-tensor/layer quantization or "
                    "shape {1, 4*3} for per-channel quantization. Actual:{12}"),
    "per-channel-int8-zero-point": (
        "float[1, 12] W_scale = {" + ",".join(["0.1"] * 12) + "}",
        "int8[1, 12] W_zero_point = {" + ",".join(["0", "3"] * 6) + "}",
        "int8[1] R_zero_point = {0}", "DynamicQuantizeLSTM : InputWeight zero point must be zero"),
}


@pytest.mark.parametrize("case", sorted(_AL020_CASES))
def test_al020_reports_what_onnxruntime_refuses(case: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    ws, wz, rz, message = _AL020_CASES[case]
    text = _DQ_MODEL.format(w=_ONES_48, r=_ONES_36, ws=ws, wz=wz, rz=rz)
    path = tmp_path / f"{case}.onnx.txt"
    path.write_text(text, encoding="utf-8")
    findings = _findings(path)
    assert [f.split(" ")[:2] for f in findings] == [["AL020", "dq_0"]], findings
    model = onnx.parser.parse_model(text)
    with pytest.raises(Exception) as caught:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        session.run(None, {"X": np.ones((2, 1, 4), np.float32)})
    assert message in str(caught.value)


def test_al020_is_silent_on_what_quantize_dynamic_writes() -> None:
    for name in QUANTIZED_FILES:
        assert not [f for f in _findings(QUANTIZED / name) if f.startswith("AL020")]


def test_archlint_run_places_the_quantized_layers_on_the_cpu_as_predicted() -> None:
    from .conftest import invoke

    result = invoke("run", str(QUANTIZED / "lstm_l2_bi_s8.onnx"))
    assert result.exit_code == 0, result.output
    for node in ("/rnn/LSTM_quant", "/rnn/LSTM_1_quant"):
        assert f"placement: DynamicQuantizeLSTM '{node}': CPUExecutionProvider" in result.output
    assert ("placement: prediction (onnxruntime-cpu): agrees; 2 of 2 observed recurrent "
            "node(s) as predicted") in result.output
    assert "0 findings" in result.output


def test_attn_lstm_with_an_attention_layer_takes_a_from_aw(tmp_path: Path) -> None:
    """With AW [D, memory_depth + H, aw_attn_size], the cell's input is [x_t, attention] of
    width I + aw_attn_size (deep_cpu_attn_lstm.cc): W [1, 12, 4 + 7] reads as I = 4."""
    import onnxruntime as ort

    text = """<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
attn_aw (float[2, 1, 4] X, float[1, 12, 11] W, float[1, 12, 3] R, float[1, 3, 6] QW,
         float[1, 5, 6] MW, float[1, 6] V, float[1, 2, 5] M, float[1, 8, 7] AW)
    => (float[2, 1, 1, 3] Y)
{
  [attn_0] Y = com.microsoft.AttnLSTM <hidden_size: int = 3> (X, W, R, , , , , , QW, MW, V, M, ,
                                                              AW)
}"""
    path = tmp_path / "attn_aw.onnx.txt"
    path.write_text(text, encoding="utf-8")
    (layer,) = _layers(path)
    assert (layer.shape("W"), layer.input_size) == ((1, 12, 4), 4)
    assert _findings(path) == []
    model = onnx.parser.parse_model(text)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {vi.name: np.full([d.dim_value for d in vi.type.tensor_type.shape.dim], 0.1,
                              np.float32) for vi in model.graph.input}
    assert session.run(None, feeds)[0].shape == (2, 1, 1, 3)


def test_inference_reads_each_contrib_lstm_as_the_lstm_it_computes() -> None:
    """onnx's inference has no schema for com.microsoft ops: the stack's second layer had no
    input shape, its Squeeze no output. The request sent to inference makes each
    DynamicQuantizeLSTM an LSTM (onnxruntime infers it with ONNX's RNNShapeInference), and the
    model as read keeps its contrib ops."""
    from archlint.contrib_inference import holds_ops_read_as_onnx, read_as_onnx_ops
    from archlint.loader import build_skeleton

    path = CONTRIB / "dq_stack_h0.onnx.txt"
    model = load_model(path)
    second = next(layer for layer in _layers(path) if layer.name == "dq_1")
    assert second.shape("X") == ("seq", "batch", 3)
    assert second.shape("Y") == ("seq", 1, "batch", 3)
    assert [n.op_type for n in model.proto.graph.node if n.name.startswith("dq_")] \
        == ["DynamicQuantizeLSTM"] * 2
    assert holds_ops_read_as_onnx(model.proto)

    request = build_skeleton(model.proto)
    read_as_onnx_ops(request)
    nodes = {n.name: n for n in request.graph.node}
    assert [(nodes[name].domain, nodes[name].op_type, len(nodes[name].input))
            for name in ("dq_0", "dq_1")] == [("", "LSTM", 8)] * 2
    assert list(nodes["dq_1"].input[:3]) == ["X2", "W2", "R2"]
    assert [n.op_type for n in model.proto.graph.node if n.name.startswith("dq_")] \
        == ["DynamicQuantizeLSTM"] * 2  # the skeleton is a copy


def test_a_contrib_lstm_in_a_loop_body_is_read_as_an_lstm_too() -> None:
    from archlint.contrib_inference import holds_ops_read_as_onnx, read_as_onnx_ops

    model = onnx.parser.parse_model(_DQ_MODEL.format(
        w=_ONES_48, r=_ONES_36, ws="float[1] W_scale = {0.1}", wz="int8[1] W_zero_point = {0}",
        rz="int8[1] R_zero_point = {0}"))
    body = onnx.helper.make_graph(list(model.graph.node), "body", [], [])
    loop = onnx.helper.make_node("If", ["cond"], ["Y"], then_branch=body, else_branch=body)
    del model.graph.node[:]
    model.graph.node.append(loop)
    assert holds_ops_read_as_onnx(model)
    read_as_onnx_ops(model)
    for branch in model.graph.node[0].attribute:
        [node] = branch.g.node
        assert (node.domain, node.op_type, list(node.input)) \
            == ("", "LSTM", ["X", "W", "R", "", "", "", "", ""])
    assert not holds_ops_read_as_onnx(model)
    del model.opset_import[1]  # no com.microsoft import: onnxruntime resolves no contrib op
    model.graph.node[0].attribute[0].g.node[0].domain = "com.microsoft"
    model.graph.node[0].attribute[0].g.node[0].op_type = "DynamicQuantizeLSTM"
    assert not holds_ops_read_as_onnx(model)


def test_an_inference_error_on_a_contrib_lstm_names_its_own_op(tmp_path: Path) -> None:
    """Y declared 4 wide for hidden_size 3: onnx's inference of the node (read as an LSTM)
    refuses the declaration, as onnxruntime's does (it warns and falls back); AL001 names the
    node's own op, not the LSTM inference read it as."""
    text = _DQ_MODEL.format(
        w=_ONES_48, r=_ONES_36, ws="float[1] W_scale = {0.1}", wz="int8[1] W_zero_point = {0}",
        rz="int8[1] R_zero_point = {0}").replace("float[2, 1, 1, 3] Y", "float[2, 1, 1, 4] Y")
    path = tmp_path / "dq_declared_y.onnx.txt"
    path.write_text(text, encoding="utf-8")
    [al001] = [f for f in _findings(path) if f.startswith("AL001")]
    assert al001.startswith("AL001 dq_0 ")
    assert "(op_type:DynamicQuantizeLSTM, node name: dq_0)" in al001
    assert "op_type:LSTM" not in al001
