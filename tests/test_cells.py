"""Recurrent layers that are not an LSTM/GRU/RNN node (archlint/cells/): Loop cells and
unrolled chains, recognised on real tf2onnx exports (fixtures/cells/, made by make_cells.py)
and on ONNX-text edge cases; their views, their parameter counts, and what lint says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from archlint.app import count_paths
from archlint.cells import CellFacts, NoMatch, find_cells
from archlint.cells._trace import _bias_sources
from archlint.engine import analyse
from archlint.graph import ModelGraph, build_graph
from archlint.layers import build_layers
from archlint.loader import iter_graphs, load_model
from archlint.params import Convention, count_model
from archlint.recurrent import Recognition, RecurrentLayer

from .conftest import FIXTURES, invoke

CELLS = FIXTURES / "cells"
MANIFEST = json.loads((CELLS / "manifest.json").read_text())
MODELS = {name: entry for name, entry in MANIFEST["models"].items() if "file" in entry}
KERAS_CELL = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}

# How tf2onnx emitted each layer (read from the exports; see make_cells.py).
HOW = {
    "simple_rnn": ["loop-cell"], "simple_rnn_seq_back": ["loop-cell"], "gru_ra0": ["loop-cell"],
    "gru_ra1_rdrop": ["loop-cell"], "lstm_rdrop": ["loop-cell"], "lstm_mask": ["loop-cell"],
    "lstm_unroll": ["unrolled"], "bi_simple_rnn": ["loop-cell", "loop-cell"],
    "gru_keras3": ["loop-cell"], "gru_ra0_unroll": ["unrolled"],
    "gru_ra0_hard_sigmoid": ["loop-cell"], "stacked_simple_rnn": ["loop-cell", "loop-cell"],
}
# (ONNX, PyTorch, Keras) per recognised layer, in graph order. PyTorch: nn.RNN(3, 4) = 36,
# nn.LSTM(3, 4) = 144, nn.GRU(3, 4) = 108; a GRU with reset_after=False has none (None).
# The backward SimpleRNN of the Bidirectional reads the forward one's bias: tf2onnx merged
# the two equal (zero) bias constants, so ONNX stores 28 for it, Keras and PyTorch count 32/36.
PARAMS = {
    "simple_rnn": [(32, 36, 32)], "simple_rnn_seq_back": [(32, 36, 32)],
    "gru_ra0": [(96, None, 96)], "gru_ra1_rdrop": [(108, 108, 108)],
    "lstm_rdrop": [(128, 144, 128)], "lstm_mask": [(128, 144, 128)],
    "lstm_unroll": [(128, 144, 128)], "bi_simple_rnn": [(32, 36, 32), (28, 36, 32)],
    "gru_keras3": [(108, 108, 108)], "gru_ra0_unroll": [(96, None, 96)],
    "gru_ra0_hard_sigmoid": [(96, None, 96)],
    # SimpleRNN(4) on 3 features, then SimpleRNN(5) on its 4: nn.RNN(4, 5) = 20 + 25 + 10
    "stacked_simple_rnn": [(32, 36, 32), (50, 55, 50)],
}


def _graph(path: Path) -> ModelGraph:
    return build_graph(load_model(path))


def _cells(path: Path) -> list[RecurrentLayer]:
    return [layer for layer in build_layers(_graph(path)) if layer.cell is not None]


def _expected_layers(entry: dict[str, object]) -> list[dict[str, object]]:
    """The manifest's layers, a Bidirectional split into its forward and backward layer."""
    found: list[dict[str, object]] = []
    for layer in entry["layers"]:  # type: ignore[attr-defined]
        if layer["class"] == "Bidirectional":
            common = {**layer, "class": "SimpleRNN", "units": MANIFEST["hidden_size"]}
            found.append({**common, "go_backwards": False,
                          "count_params": layer["forward"]["count_params"]})
            found.append({**common, "go_backwards": True,
                          "count_params": layer["backward"]["count_params"]})
        else:
            found.append(layer)
    return found


def test_every_fixture_matched_keras_in_onnxruntime() -> None:
    """The generator ran each export in onnxruntime against Keras: the fixtures are faithful."""
    assert set(MODELS) == set(HOW)
    assert all(entry["ort_matches_keras"] for entry in MODELS.values())


@pytest.mark.parametrize("name", sorted(HOW))
def test_recognised_cell_facts(name: str) -> None:
    entry = MODELS[name]
    layers = _cells(CELLS / str(entry["file"]))
    expected = _expected_layers(entry)
    inputs = MANIFEST["input_size"]
    assert [layer.recognised_as.value for layer in layers] == HOW[name]
    assert len(layers) == len(expected)
    for layer, want in zip(layers, expected, strict=True):
        cell = layer.cell
        assert cell is not None
        assert layer.op_type == cell.cell == KERAS_CELL[str(want["class"])]
        assert cell.hidden_size == layer.effective_hidden_size == want["units"]
        assert cell.input_size == layer.input_size == inputs
        if name == "stacked_simple_rnn":
            inputs = cell.hidden_size  # the second layer reads the first one's h
        assert layer.direction == ("reverse" if want.get("go_backwards") else "forward")
        assert layer.num_directions == 1
        if cell.cell == "GRU":
            assert cell.reset_after is want["reset_after"]
            assert layer.linear_before_reset == int(bool(want["reset_after"]))
        assert cell.returns_sequence is bool(want.get("return_sequences", False))
        if layer.recognised_as is Recognition.LOOP_CELL:
            assert layer.node.op_type == "Loop"
        else:
            assert cell.steps == MANIFEST["steps"]
        # the facts are in the cell, the op slots stay empty: no LSTM node has them
        assert not layer.inputs and not layer.outputs and layer.hidden_size is None


def test_weight_sources_are_the_initializers_outside_the_loop() -> None:
    """The body sees W, R and B as loop-carried pass-throughs; they trace to main's
    initializers, the GRU's recurrent kernel once although two Slices of it are multiplied."""
    (layer,) = _cells(CELLS / "gru_ra0.onnx")
    cell = layer.cell
    assert cell is not None
    shapes = [(s.graph, s.shape) for s in cell.sources]
    assert shapes == [("main", (3, 12)), ("main", (4, 12)), ("main", (12,))]
    assert cell.bias_layout == "one"
    (layer,) = _cells(CELLS / "gru_keras3.onnx")
    assert layer.cell is not None and layer.cell.bias_layout == "two"
    assert [s.shape for s in layer.cell.bias] == [(2, 12)]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_params_per_layer_in_three_conventions(name: str) -> None:
    entry = MODELS[name]
    path = CELLS / str(entry["file"])
    graph = _graph(path)
    report = count_model(path.name, graph, build_layers(graph))
    rows = [row for row in report.layers if row.kind == "recurrent"]
    assert [(row.total(Convention.ONNX), row.total(Convention.PYTORCH),
             row.total(Convention.KERAS)) for row in rows] == PARAMS[name]
    assert [row.total(Convention.KERAS) for row in rows] == [
        layer["count_params"] for layer in _expected_layers(entry)]
    assert report.total(Convention.KERAS) == entry["model_count_params"]
    # nothing else holds parameters in these models: no MatMul of the cell became a Linear row
    assert [row.kind for row in report.layers] == ["recurrent"] * len(rows)
    assert all(note.startswith("recognised as") for row in rows for note in row.notes[:1])


def test_cell_weights_are_not_filed_as_uncounted_constants() -> None:
    path = CELLS / "simple_rnn.onnx"
    graph = _graph(path)
    report = count_model(path.name, graph, build_layers(graph))
    graphs = [graph for _, graph in iter_graphs(onnx.load(str(path)).graph)]
    elements = sum(int(np.prod(t.dims)) for g in graphs for t in g.initializer)
    assert report.uncounted_elements == elements - 32
    assert report.total(Convention.ONNX) == 32


def test_params_json_for_recognised_layers_follows_the_schema() -> None:
    import jsonschema

    from .conftest import REPO

    schema = json.loads((REPO / "archlint" / "schemas" / "params-v1.schema.json").read_text())
    result = invoke("params", str(CELLS / "gru_ra0.onnx"), str(CELLS / "lstm_unroll.onnx"),
                    "--format", "json")
    report = json.loads(result.stdout)
    jsonschema.validate(report, schema)
    rows = [layer for model in report["models"] for layer in model["layers"]]
    assert [(r["op_type"], r["input_size"], r["implied_hidden_size"], r["params"])
            for r in rows] == [
        ("GRU", 3, 4, {"onnx": 96, "pytorch": None, "keras": 96}),
        ("LSTM", 3, 4, {"onnx": 128, "pytorch": 144, "keras": 128}),
    ]


def test_gru_reset_before_has_no_pytorch_count_and_says_why() -> None:
    result = invoke("params", str(CELLS / "gru_ra0.onnx"))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # the output: the last step of the Loop's scan output, [batch, H] (the batch a symbol
    # inference made up: ?); 3·H·(I+H) = 84 MACs per step
    assert ("  model_2/gru/while_loop  GRU  loop-cell   [?, 4]  forward    1  3  4  36  48  12"
            "    96      n/a     96  float32    384         84") in lines
    assert ("  model_2/gru/while_loop: PyTorch n/a: a GRU with reset_after=False (the reset gate "
            "applied before the recurrent product) has no PyTorch equivalent: nn.GRU applies "
            "it after") in lines
    assert ("  model_2/gru/while_loop: recognised as loop-cell: a Loop whose body computes the "
            "cell, a GRU (reset_after=False) step (I=3, H=4, forward); bias layout one") in lines


def test_max_params_sees_the_loop_cell_weights() -> None:
    path = str(CELLS / "gru_ra0.onnx")
    over = invoke("params", path, "--max-params", "95")
    assert over.exit_code == 1
    assert f"{path}: max-params: 96 ONNX parameters exceed max-params=95 by 1" in over.output
    assert invoke("params", path, "--max-params", "96").exit_code == 0
    layer = invoke("params", str(CELLS / "lstm_mask.onnx"), "--max-layer-params", "127",
                   "--convention", "keras")
    assert layer.exit_code == 1
    assert ("LSTM 'model_5/lstm_1/PartitionedCall/while_loop' has 128 Keras parameters, over "
            "max-layer-params=127 by 1") in layer.output
    # PyTorch has no GRU with reset_after=False: the budget cannot be verified, so it fails
    torch = invoke("params", path, "--max-params", "1000", "--convention", "pytorch")
    assert torch.exit_code == 1
    assert "cannot check max-params=1,000: the PyTorch count of model_2/gru/while_loop" \
        in torch.output


def test_lint_gives_only_the_not_checked_info_on_recognised_layers() -> None:
    result = invoke("lint", str(CELLS), "--format", "json", "--fail-on", "info")
    report = json.loads(result.stdout)
    findings = [(Path(m["path"]).name, f["code"], f["location"]["node"], f["severity"])
                for m in report["models"] for f in m["findings"]]
    expected = []
    for name in sorted(HOW):
        for layer in _cells(CELLS / f"{name}.onnx"):
            expected.append((f"{name}.onnx", "AL025", layer.node.name, "info"))
    assert sorted(findings) == sorted(expected)
    assert len(findings) == 14  # 12 models, two with two layers
    assert result.exit_code == 1  # --fail-on info: the infos are there
    assert invoke("lint", str(CELLS)).exit_code == 0
    assert {m["path"]: m["recurrent_layers"] for m in report["models"]}[
        str(CELLS / "bi_simple_rnn.onnx")] == 2


def test_recognised_layers_are_kept_out_of_the_op_rules() -> None:
    """Rules that read ctx.layers see LSTM/GRU/RNN ops only; the cells are ctx.recognised."""
    ctx = analyse(load_model(CELLS / "bi_simple_rnn.onnx"))
    assert ctx.layers == ()
    assert [layer.direction for layer in ctx.recognised] == ["forward", "reverse"]
    targets = invoke("lint", str(CELLS / "lstm_rdrop.onnx"), "--target", "tensorrt",
                     "--target", "onnxruntime-cuda", "--format", "json")
    codes = [f["code"] for m in json.loads(targets.stdout)["models"] for f in m["findings"]]
    assert codes == ["AL025"]


# --- ONNX-text edge cases -------------------------------------------------------------------
@pytest.mark.parametrize(("name", "reason"), [
    ("not_cell_counter", "no MatMul multiplies a loop-carried state by a stored weight"),
    ("not_cell_nonsquare", "the state product is [4, 6]: 6 columns is not 1, 2, 3 or 4 gates × "
                           "H=4 (no square recurrence)"),
    ("not_cell_no_input", "no MatMul multiplies a per-step slice of an outer sequence (x_t) "
                          "by a stored weight"),
])
def test_a_loop_that_is_not_a_cell_is_not_recognised(name: str, reason: str) -> None:
    graph = _graph(CELLS / f"{name}.onnx.txt")
    cells, misses = find_cells(graph)
    assert cells == []
    assert misses == [NoMatch("main/0", reason)]
    assert not any(layer.cell for layer in build_layers(graph))
    result = invoke("lint", str(CELLS / f"{name}.onnx.txt"), "--fail-on", "info")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1].startswith("0 findings")
    assert not [line for line in result.output.splitlines()
                if any(f" {s}: " in line for s in ("error", "warning", "info"))]


@pytest.mark.parametrize(("path", "reason"), [
    (FIXTURES / "AL504" / "bad.onnx.txt", "the body has no MatMul with a stored weight"),
    (FIXTURES / "targets" / "loop_body.onnx.txt",
     "the body holds an LSTM node, which is the layer (a decoding loop around it, not a cell "
     "written out)"),
])
def test_other_loops_in_the_fixtures_are_not_cells(path: Path, reason: str) -> None:
    cells, misses = find_cells(_graph(path))
    assert cells == []
    assert [m.reason for m in misses] == [reason]


def test_a_weight_shared_by_independent_steps_is_not_a_chain() -> None:
    """Three MatMuls share W but none reads another's output: a Linear applied per step."""
    graph = _graph(CELLS / "not_cell_shared_linear.onnx.txt")
    assert find_cells(graph) == ([], [])
    report = count_model("m", graph, build_layers(graph))
    assert [row.kind for row in report.layers] == ["linear"] * 3


def test_loop_with_outer_scope_weights_and_a_sequence_output() -> None:
    """The body names kernel, rkernel and bias of the main graph directly (no carried copy)."""
    (layer,) = _cells(CELLS / "loop_rnn.onnx.txt")
    cell = layer.cell
    assert cell is not None
    assert (cell.cell, cell.input_size, cell.hidden_size) == ("RNN", 3, 4)
    assert [s.tensor for s in cell.sources] == ["kernel", "rkernel", "bias"]
    assert cell.returns_sequence is True  # h_all, the scan output, is a graph output
    assert cell.sequence == "X" and layer.direction == "forward"


def test_unrolled_pytorch_style_cell_with_gemm_and_two_biases() -> None:
    """nn.RNNCell(3, 4) called for 3 steps and traced: Gemm(transB=1) with b_ih and b_hh."""
    path = CELLS / "unrolled_rnncell.onnx.txt"
    (layer,) = _cells(path)
    cell = layer.cell
    assert isinstance(cell, CellFacts)
    assert (layer.recognised_as, cell.cell, cell.input_size, cell.hidden_size, cell.steps) == (
        Recognition.UNROLLED, "RNN", 3, 4, 3)
    assert (cell.bias_layout, layer.direction, layer.node.name) == ("two", "forward", "ih0")
    assert all(s.transposed for s in (*cell.kernel, *cell.recurrent_kernel))
    graph = _graph(path)
    (row,) = count_model(path.name, graph, build_layers(graph)).layers
    # nn.RNNCell(3, 4): 12 + 16 + 4 + 4; Keras SimpleRNN keeps one bias: 12 + 16 + 4
    assert (row.total(Convention.ONNX), row.total(Convention.PYTORCH),
            row.total(Convention.KERAS)) == (36, 36, 32)


def test_unrolled_steps_read_backwards_are_reverse(tmp_path: Path) -> None:
    text = (CELLS / "unrolled_rnncell.onnx.txt").read_text()
    text = text.replace("int64 i0 = {0}", "int64 i0 = {2}").replace("int64 i2 = {2}",
                                                                    "int64 i2 = {0}")
    path = tmp_path / "reverse.onnx.txt"
    path.write_text(text)
    (layer,) = _cells(path)
    assert layer.direction == "reverse"


def test_unrolled_steps_out_of_order_are_not_a_sequence(tmp_path: Path) -> None:
    text = (CELLS / "unrolled_rnncell.onnx.txt").read_text()
    path = tmp_path / "shuffled.onnx.txt"
    path.write_text(text.replace("int64 i1 = {1}", "int64 i1 = {5}"))
    cells, misses = find_cells(_graph(path))
    assert cells == []
    assert [m.reason for m in misses] == [
        "the input products do not read x_0, x_1, ... as slices (Split, Gather or Slice) of one "
        "sequence, in order or in reverse"]


def test_loop_text_fixture_computes_the_native_rnn() -> None:
    """The AL025 bad fixture (a Loop) and good fixture (an RNN node) give the same numbers in
    onnxruntime: the Loop pattern archlint recognises is the SimpleRNN cell."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    feeds = {"X": rng.standard_normal((5, 2, 3)).astype(np.float32),
             "h0": rng.standard_normal((2, 4)).astype(np.float32)}
    outputs = []
    for kind in ("bad", "good"):
        model = onnx.parser.parse_model((FIXTURES / "AL025" / f"{kind}.onnx.txt").read_text())
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, feeds))
    for loop_out, rnn_out in zip(*outputs, strict=True):
        np.testing.assert_allclose(loop_out, rnn_out, atol=1e-6)


def test_unrolled_lstm_cell_as_torch_decomposes_it() -> None:
    """F.linear as MatMul(x, Transpose(W)) + b, gates Split in PyTorch's order i, f, g, o."""
    path = CELLS / "unrolled_lstmcell.onnx.txt"
    (layer,) = _cells(path)
    cell = layer.cell
    assert cell is not None
    assert (cell.cell, cell.input_size, cell.hidden_size, cell.steps, cell.bias_layout) == (
        "LSTM", 3, 4, 3, "two")
    assert cell.returns_sequence is True  # Y stacks h1, h2, h3
    assert [(s.tensor, s.transposed) for s in (*cell.kernel, *cell.recurrent_kernel)] == [
        ("W_ih", True), ("W_hh", True)]
    graph = _graph(path)
    (row,) = count_model(path.name, graph, build_layers(graph)).layers
    # nn.LSTMCell(3, 4): 48 + 64 + 16 + 16; Keras LSTM(4) on 3 features: 48 + 64 + 16
    assert (row.total(Convention.ONNX), row.total(Convention.PYTORCH),
            row.total(Convention.KERAS)) == (144, 144, 128)


def test_unrolled_lstm_cell_fixture_computes_an_lstm() -> None:
    """onnxruntime runs the text fixture; numpy runs nn.LSTMCell's equations on its weights."""
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.parser.parse_model((CELLS / "unrolled_lstmcell.onnx.txt").read_text())
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 3)).astype(np.float32)
    h = rng.standard_normal((2, 4)).astype(np.float32)
    c = rng.standard_normal((2, 4)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, h3, c3 = session.run(None, {"X": x, "h0": h, "c0": c})

    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    states = []
    for t in range(3):
        gates = (x[t] @ weights["W_ih"].T + weights["b_ih"] + h @ weights["W_hh"].T
                 + weights["b_hh"])
        i, f, g, o = np.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        states.append(h)
    np.testing.assert_allclose(y, np.stack(states), atol=1e-5)
    np.testing.assert_allclose((h3, c3), (h, c), atol=1e-5)


DECODER = """<ir_version: 8, opset_import: ["" : 17]>
agraph (float[5, batch, 4] X, float[1, batch, 4] h0) => (float[1, batch, 4] h_last)
<float[1, 4, 4] W = {W}, float[1, 4, 4] R = {W}, float[4, 4] proj = {P}, int64 T = {{5}},
 int64[1] zero = {{0}}>
{{
  [decode] h_last = Loop (T, , h0) <body = step (int64 i, bool c_in, float[1, batch, 4] h)
      => (bool c_out, float[1, batch, 4] h_new) {{
    [x_t] x_t = Gather <axis = 0> (X, i)
    [x_seq] x_seq = Unsqueeze (x_t, zero)
    [rnn] y, y_h = RNN <hidden_size: int = 4> (x_seq, W, R, , , h)
    [proj] p = MatMul (y_h, proj)
    [act] h_new = Tanh (p)
    [c] c_out = Identity (c_in)
  }}>
}}
""".format(W="{" + ", ".join(["0.1"] * 16) + "}", P="{" + ", ".join(["0.2"] * 16) + "}")


def test_a_loop_around_a_native_node_is_not_a_cell(tmp_path: Path) -> None:
    """A decoding loop whose body runs an RNN node and projects h with a square weight: the RNN
    node is the layer, recognised natively; the Loop is not a second, written-out cell."""
    path = tmp_path / "decode.onnx.txt"
    path.write_text(DECODER)
    graph = _graph(path)
    cells, misses = find_cells(graph)
    assert cells == []
    assert [m.reason for m in misses] == [
        "the body holds an RNN node, which is the layer (a decoding loop around it, not a cell "
        "written out)"]
    (layer,) = build_layers(graph)
    assert (layer.recognised_as, layer.enclosing_op_types) == (Recognition.NATIVE, ("Loop",))
    # nothing in the Loop goes unchecked: the summary does not list it as unseen
    result = invoke("lint", str(path))
    assert "checked: 1 recurrent layer in 1 model" in result.output
    assert "cannot see into" not in result.output


def test_step_biases_come_in_model_order_whatever_order_the_nodes_are_given() -> None:
    """The biases of a step are collected in model order, not in the order of the set of node
    ids they are found from (a frozenset's order changes with the interpreter's hash seed)."""
    graph = build_graph(load_model(FIXTURES / "cells" / "unrolled_lstmcell.onnx.txt"))
    ids = list(graph.nodes)
    forward = [s.tensor for s in _bias_sources(graph, ids, set())]
    backward = [s.tensor for s in _bias_sources(graph, list(reversed(ids)), set())]
    assert forward == backward == ["b_ih", "b_hh"]


WHILE_CELLS = FIXTURES / "tf_while_cells"
WHILE_MANIFEST = json.loads((WHILE_CELLS / "manifest.json").read_text())


@pytest.mark.parametrize(("name", "reset_after"), [
    ("untrained", True), ("trained", True), ("reset_before", False)])
def test_a_keras_gru_cell_stepped_in_a_tf_while_loop_is_one_step(
    name: str, reset_after: bool
) -> None:
    """fixtures/tf_while_cells/ (Keras 3 GRUCell in a tf.while_loop greedy decoder, tf2onnx):
    the Loop body is one cell step, its weights loop inputs. reset_after=True adds each row of
    the [2, 3H] bias as Squeeze(Split(bias)), which the walk from the gates up to x @ W did
    not pass: no layer, and untrained (zero biases) the two rows read as two layers' merged
    constants (597 against count_params()'s 549). reset_after=False slices R[:, :2H] and
    R[:, 2H:] in the body: read as reset_after=True (Keras 384 against 360)."""
    entry = WHILE_MANIFEST[name]
    path = WHILE_CELLS / f"gru_decoder_{name}.onnx"
    [cell] = [c for c in find_cells(build_graph(load_model(path)))[0]]
    assert (cell.how, cell.cell, cell.reset_after) == ("step", "GRU", reset_after)
    assert (cell.input_size, cell.hidden_size) == (6, 8)
    (counted,) = count_paths([str(path)])
    [row] = [row for row in counted.layers if row.kind == "recurrent"]
    assert row.total(Convention.KERAS) == entry["cell_params"]
    assert counted.total(Convention.KERAS) == entry["keras_params"]
    assert counted.total(Convention.ONNX) == entry["keras_params"]
    assert counted.total(Convention.PYTORCH) == (entry["keras_params"] if reset_after else None)


@pytest.mark.parametrize(("name", "unseen"), [
    ("tf_map_fn_dense", []), ("torch_per_step_linear", []), ("torch_per_step_gated", []),
    ("torch_linear_recurrence", ["main//Loop (Loop)"])])
def test_a_loop_carrying_no_state_into_its_products_is_not_unseen(
    name: str, unseen: list[str]
) -> None:
    """fixtures/loops_without_state/: tf.map_fn of a Dense (tf2onnx) carries its counter and
    the weights, passed through; torch loops applying a Linear to each step carry a list of
    outputs, or the last output without reading it back. None can hold a recurrence, but each
    was listed among the recurrent-looking ops archlint cannot see into (a detector's map_fn
    made lint say a layer went unchecked). ``h = A(h) + B(x_t)`` stays listed: a recurrence
    that is no cell archlint knows."""
    path = FIXTURES / "loops_without_state" / f"{name}.onnx"
    proc = invoke("lint", str(path), "--format", "json", "--exit-zero")
    assert json.loads(proc.stdout)["models"][0]["unseen"] == unseen
