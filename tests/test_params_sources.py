"""Parameter counts for weights that are not plain initializers (issue 11).

Each model is written in the ONNX text format (onnx.parser), with its weight values added as
initializers, and counted through the real loader as `archlint params` does. onnxruntime runs
the models whose computed weights it can run, so the fixtures are models a runtime accepts.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from archlint.app import count_paths
from archlint.app import params as run_params
from archlint.params import Basis, Convention, ModelParams
from archlint.reporters.params_report import render

ONNX, PYTORCH, KERAS = Convention.ONNX, Convention.PYTORCH, Convention.KERAS
RNG = np.random.default_rng(11)


def build(text: str, inits: Mapping[str, np.ndarray], check: bool = True) -> onnx.ModelProto:
    """Parse the ONNX text and add the initializers (values drawn here, never all zero unless
    the test asks for zeros)."""
    model = onnx.parser.parse_model(text)
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    if check:
        onnx.checker.check_model(model)
    return model


def weights(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.normal(size=shape).astype(dtype)


def count(model: onnx.ModelProto, tmp_path: Path, external: bool = False) -> ModelParams:
    path = tmp_path / "model.onnx"
    if external:
        onnx.external_data_helper.convert_model_to_external_data(
            model, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    onnx.save_model(model, path)
    (result,) = count_paths([str(path)])
    assert result.error is None, result.error
    return result


def totals(model: ModelParams) -> tuple[int | None, int | None, int | None]:
    return model.total(ONNX), model.total(PYTORCH), model.total(KERAS)


def runs(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


HEADER = '<ir_version: 8, opset_import: ["" : 17]>'
FEAT, H = 3, 2  # LSTM: W [1, 8, 3] = 24, R [1, 8, 2] = 16, B [1, 16] = 16


# --- Constant nodes: dims from the attribute, whatever the size --------------------------------


def test_big_constant_weights_are_counted_from_attribute_dims(tmp_path: Path) -> None:
    """W above the loader's small-tensor limit (4096 elements) used to count '?'."""
    i, h = 40, 32  # W [1, 128, 40] = 5120 elements, R [1, 128, 32] = 4096, B [1, 256]
    model = build(f"""{HEADER}
        g (float[5, 1, {i}] X) => (float[5, 1, 1, {h}] Y) {{
            Y = LSTM <hidden_size = {h}> (X, W, R, B)
        }}""", {}, check=False)
    for name, value in (("W", weights(1, 4 * h, i)), ("R", weights(1, 4 * h, h)),
                        ("B", weights(1, 8 * h))):
        model.graph.node.insert(0, helper.make_node(
            "Constant", [], [name], value=numpy_helper.from_array(value)))
    (row,) = count(model, tmp_path).layers
    assert [(s.slot, s.elements, s.basis) for s in row.slots] == [
        ("W", 5120, Basis.CONSTANT), ("R", 4096, Basis.CONSTANT), ("B", 256, Basis.CONSTANT)]
    assert (row.input_size, row.implied_hidden_size) == (i, h)
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (9472, 9472, 9344)


def test_sparse_and_list_constants_give_their_dims(tmp_path: Path) -> None:
    """sparse_value gives its dense dims; value_floats its length (a Gemm weight and bias)."""
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "v"),
        numpy_helper.from_array(np.array([0, 5], np.int64), "i"), [3, 4])
    model = build(f"""{HEADER}
        g (float[2, 4] X) => (float[2, 3] Y) {{
            Y = Gemm <transB = 1> (X, Wt, b)
        }}""", {}, check=False)
    model.graph.node.insert(0, helper.make_node("Constant", [], ["Wt"], sparse_value=sparse))
    model.graph.node.insert(
        0, helper.make_node("Constant", [], ["b"], value_floats=[1.0, 2.0, 3.0]))
    (row,) = count(model, tmp_path).layers
    assert [(s.slot, s.elements, s.basis) for s in row.slots] == [
        ("weight", 12, Basis.CONSTANT), ("bias", 3, Basis.CONSTANT)]
    assert totals(count(model, tmp_path)) == (15, 15, 15)


# --- computed weights: traced to their stored sources, each counted once -----------------------


SLICED = f"""{HEADER}
    g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y2) {{
        start0 = Constant <value = int64[1] {{0}}> ()
        one = Constant <value = int64[1] {{1}}> ()
        two = Constant <value = int64[1] {{2}}> ()
        W1 = Slice (Wall, start0, one, start0)
        W2 = Slice (Wall, one, two, start0)
        W2s = Slice (W2, start0, two, two)
        Y1 = LSTM <hidden_size = {H}> (X, W1, R1, B1)
        Yx = Squeeze (Y1, one)
        Y2 = LSTM <hidden_size = {H}> (Yx, W2s, R2, B2)
    }}"""


def test_slice_of_one_initializer_feeding_two_lstms_counts_it_once(tmp_path: Path) -> None:
    """Wall [2, 8, 3] holds both layers' W (the second uses only 2 of its 3 columns): the
    48 stored elements count once, in lstm 1's row; lstm 2's W says shared."""
    model = build(SLICED, {"Wall": weights(2, 4 * H, FEAT), "R1": weights(1, 4 * H, H),
                         "B1": weights(1, 8 * H), "R2": weights(1, 4 * H, H),
                         "B2": weights(1, 8 * H)})
    runs(model, {"X": weights(4, 1, FEAT)})  # onnxruntime accepts it
    first, second = count(model, tmp_path).layers
    w1, w2 = first.slot("W"), second.slot("W")
    assert w1 is not None and w2 is not None
    assert (w1.basis, [s.name for s in w1.sources], w1.elements) == (Basis.TRACED, ["Wall"], 48)
    assert (w2.basis, w2.shared_with, w2.count(ONNX)) == (Basis.TRACED, first.label, 0)
    # Geometry comes from shape inference over the Slices: W1 [1, 8, 3], W2s [1, 8, 2].
    assert (first.input_size, first.implied_hidden_size) == (3, 2)
    assert (second.input_size, second.implied_hidden_size) == (2, 2)
    assert first.total(ONNX) == 48 + 16 + 16 and second.total(ONNX) == 16 + 16
    assert totals(count(model, tmp_path)) == (112, 112, 96)
    assert any("computed (Slice) from 'Wall'" in note for note in first.notes)


def test_concat_of_initializers_is_the_sum_of_its_sources(tmp_path: Path) -> None:
    """A bidirectional W made of two directions' initializers (torch export without constant
    folding): Unsqueeze each, Concat on axis 0."""
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X) => (float[4, 2, 1, {H}] Y) {{
            zero = Constant <value = int64[1] {{0}}> ()
            uf = Unsqueeze (Wf, zero)
            ub = Unsqueeze (Wb, zero)
            W = Concat <axis = 0> (uf, ub)
            Y = LSTM <hidden_size = {H}, direction = "bidirectional"> (X, W, R, B)
        }}""", {"Wf": weights(4 * H, FEAT), "Wb": weights(4 * H, FEAT),
                "R": weights(2, 4 * H, H), "B": weights(2, 8 * H)})
    runs(model, {"X": weights(4, 1, FEAT)})
    (row,) = count(model, tmp_path).layers
    w = row.slot("W")
    assert w is not None
    assert (w.basis, sorted(s.name for s in w.sources), w.elements) == (
        Basis.TRACED, ["Wb", "Wf"], 48)
    assert (row.num_directions, row.input_size, row.implied_hidden_size) == (2, FEAT, H)
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (112, 112, 96)


def test_weight_partly_made_of_a_counted_tensor_counts_the_rest(tmp_path: Path) -> None:
    """lstm_f reads Wa; the bidirectional lstm_bi reads Concat(Wa, Wb): only Wb counts there."""
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y, float[4, 2, 1, {H}] Z) {{
            Y = LSTM <hidden_size = {H}> (X, Wa, R, B)
            W2 = Concat <axis = 0> (Wa, Wb)
            Z = LSTM <hidden_size = {H}, direction = "bidirectional"> (X, W2, R2, B2)
        }}""", {"Wa": weights(1, 4 * H, FEAT), "Wb": weights(1, 4 * H, FEAT),
                "R": weights(1, 4 * H, H), "B": weights(1, 8 * H),
                "R2": weights(2, 4 * H, H), "B2": weights(2, 8 * H)})
    runs(model, {"X": weights(4, 1, FEAT)})
    params = count(model, tmp_path)
    first, bi = params.layers
    w = bi.slot("W")
    assert w is not None and (w.elements, w.pytorch, w.keras, w.shared_with) == (24, 24, 24, None)
    assert any("'Wa' (counted by <LSTM #0>)" in note for note in bi.notes)
    assert (first.total(ONNX), bi.total(ONNX)) == (56, 24 + 32 + 32)
    assert totals(params) == (144, 144, 120)


def test_if_branches_returning_one_initializer_count_it_once(tmp_path: Path) -> None:
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X, bool c) => (float[4, 1, 1, {H}] Y) {{
            W = If (c) <
                then_branch = t () => (float[1, 8, 3] wt) {{ wt = Identity (Wi) }},
                else_branch = e () => (float[1, 8, 3] we) {{ we = Identity (Wi) }}
            >
            Y = LSTM <hidden_size = {H}> (X, W, R, B)
        }}""", {"Wi": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H), "B": weights(1, 8 * H)})
    runs(model, {"X": weights(4, 1, FEAT), "c": np.array(True)})
    params = count(model, tmp_path)
    (row,) = params.layers
    w = row.slot("W")
    assert w is not None
    assert (w.basis, [s.name for s in w.sources], w.elements) == (Basis.TRACED, ["Wi"], 24)
    assert (row.input_size, row.implied_hidden_size) == (FEAT, H)
    assert totals(params) == (56, 56, 48)
    assert params.uncounted_tensors == 0


def test_a_stored_copy_of_a_weight_counts_in_onnx_only(tmp_path: Path) -> None:
    """Two LSTMs, one per branch of an If on the sample rate, each with its own initializers
    holding the same trained values (what onnxruntime's saved basic level does to a weight
    both branches read, and silero VAD v4 ships): one parameter, stored twice. A bias of
    zeros and ones (an untrained Keras forget-gate bias) is each layer's own all the same:
    equal constants need not be one parameter."""
    w, r, b = weights(1, 4 * H, FEAT), weights(1, 4 * H, H), np.zeros((1, 8 * H), np.float32)
    b[0, H:2 * H] = 1.0
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X, bool c) => (float[4, 1, 1, {H}] Y) {{
            Y = If (c) <
                then_branch = t () => (float[4, 1, 1, {H}] yt) {{
                    [lstm_t] yt = LSTM <hidden_size = {H}> (X, W, R, B) }},
                else_branch = e () => (float[4, 1, 1, {H}] ye) {{
                    [lstm_e] ye = LSTM <hidden_size = {H}> (X, W2, R2, B2) }}
            >
        }}""", {"W": w, "R": r, "B": b, "W2": w.copy(), "R2": r.copy(), "B2": b.copy()})
    runs(model, {"X": weights(4, 1, FEAT), "c": np.array(False)})
    params = count(model, tmp_path)
    first, second = params.layers
    assert [(s.slot, s.elements, s.pytorch) for s in second.slots] == [
        ("W", 24, 0), ("R", 16, 0), ("B", 16, 16)]
    assert totals(params) == (112, 24 + 16 + 16 + 16, 24 + 16 + 8 + 8)
    assert [(s.slot, s.pytorch) for s in first.slots] == [("W", 24), ("R", 16), ("B", 16)]
    assert "W 'W2' holds the values of 'W' (lstm_t's W): a stored copy of that weight" \
        in " ".join(second.notes)
    assert not any("'B2'" in note for note in second.notes)


def test_dequantized_weights_count_the_int8_tensor_not_its_scale(tmp_path: Path) -> None:
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y) {{
            W = DequantizeLinear (Wq, scale, zp)
            Y = LSTM <hidden_size = {H}> (X, W, R, B)
        }}""", {"Wq": RNG.integers(-100, 100, size=(1, 4 * H, FEAT)).astype(np.int8),
                "scale": np.array(0.02, np.float32), "zp": np.array(0, np.int8),
                "R": weights(1, 4 * H, H), "B": weights(1, 8 * H)})
    runs(model, {"X": weights(4, 1, FEAT)})
    params = count(model, tmp_path)
    (row,) = params.layers
    w = row.slot("W")
    assert w is not None
    assert (w.basis, [s.name for s in w.sources], w.elements) == (Basis.TRACED, ["Wq"], 24)
    assert (row.input_size, row.implied_hidden_size) == (FEAT, H)
    assert totals(params) == (56, 56, 48)
    assert (params.uncounted_tensors, params.uncounted_elements) == (2, 2)  # scale, zero point


def test_transposed_shared_weight_is_one_parameter(tmp_path: Path) -> None:
    """A decoder that reads the embedding table transposed (weight tying, no constant folding)
    shares it: counted once, in the embedding's row."""
    model = build(f"""{HEADER}
        g (int64[5] ids) => (float[5, 10] y) {{
            h = Gather (E, ids)
            Et = Transpose (E)
            y = MatMul (h, Et)
        }}""", {"E": weights(10, 4)})
    params = count(model, tmp_path)
    embed, decoder = params.layers
    assert (embed.kind, embed.total(ONNX)) == ("embedding", 40)
    slot = decoder.slots[0]
    assert (slot.basis, slot.shared_with, decoder.total(ONNX)) == (Basis.TRACED, embed.label, 0)
    assert totals(params) == (40, 40, 40)


def test_a_computed_activation_is_not_a_weight(tmp_path: Path) -> None:
    """Transpose of a graph input (attention keys) into a MatMul holds no parameters."""
    model = build(f"""{HEADER}
        g (float[5, 4] q, float[5, 4] k) => (float[5, 5] y) {{
            kt = Transpose (k)
            y = MatMul (q, kt)
        }}""", {})
    assert count(model, tmp_path).layers == ()


# --- zero biases -------------------------------------------------------------------------------


LSTM_B = f"""{HEADER}
    g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y) {{
        Y = LSTM <hidden_size = {H}> (X, W, R, B)
    }}"""


def test_all_zero_b_counts_as_no_bias_in_pytorch_and_keras(tmp_path: Path) -> None:
    """tf2onnx writes B = 0 for Keras use_bias=False: ONNX keeps the 16 stored, the frameworks
    count what they had (Keras LSTM(2, use_bias=False) on 3 features: 24 + 16 = 40)."""
    model = build(LSTM_B, {"W": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H),
                           "B": np.zeros((1, 8 * H), np.float32)})
    (row,) = count(model, tmp_path).layers
    b = row.slot("B")
    assert b is not None and (b.elements, b.pytorch, b.keras) == (16, 0, 0)
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (56, 40, 40)
    assert any("every element is 0" in note and "use_bias=False" in note for note in row.notes)


def test_one_nonzero_element_is_a_real_bias(tmp_path: Path) -> None:
    bias = np.zeros((1, 8 * H), np.float32)
    bias[0, 5] = 1e-30
    model = build(LSTM_B, {"W": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H), "B": bias})
    (row,) = count(model, tmp_path).layers
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (56, 56, 48)


def test_small_zero_b_in_external_data_is_read_and_judged(tmp_path: Path) -> None:
    """A bias of at most 4096 elements saved outside the model file (size_threshold=0) is
    read from its data file and judged as an inline one: all zeros, not a bias."""
    model = build(LSTM_B, {"W": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H),
                           "B": np.zeros((1, 8 * H), np.float32)})
    params = count(model, tmp_path, external=True)
    assert (tmp_path / "w.bin").stat().st_size > 0
    (row,) = params.layers
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (56, 40, 40)
    assert any("every element is 0" in note for note in row.notes)
    assert not any("external data file" in note for note in row.notes)


def test_big_zero_b_in_external_data_is_never_read(tmp_path: Path) -> None:
    """A bias over 4096 elements in a data file is not read, so not judged: counted as a
    bias, and the row says why."""
    hidden = 520  # B [1, 4160]
    text = f"""{HEADER}
    g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {hidden}] Y) {{
        Y = LSTM <hidden_size = {hidden}> (X, W, R, B)
    }}"""
    model = build(text, {"W": weights(1, 4 * hidden, FEAT), "R": weights(1, 4 * hidden, hidden),
                         "B": np.zeros((1, 8 * hidden), np.float32)})
    params = count(model, tmp_path, external=True)
    (row,) = params.layers
    stored = 4 * hidden * FEAT + 4 * hidden * hidden
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == \
        (stored + 8 * hidden, stored + 8 * hidden, stored + 4 * hidden)
    assert not any("every element is 0" in note for note in row.notes)
    assert any("is stored in an external data file, which archlint does not read" in note
               for note in row.notes)


def test_zero_b_that_is_an_overridable_input_default_is_a_bias(tmp_path: Path) -> None:
    """An initializer that is also a graph input is a default the caller may replace."""
    model = build(LSTM_B.replace(f"(float[4, 1, {FEAT}] X)",
                                 f"(float[4, 1, {FEAT}] X, float[1, {8 * H}] B)"),
                  {"W": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H),
                   "B": np.zeros((1, 8 * H), np.float32)})
    (row,) = count(model, tmp_path).layers
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (56, 56, 48)


def test_zero_bias_through_concat_of_zero_initializers(tmp_path: Path) -> None:
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y) {{
            B = Concat <axis = 1> (Bw, Br)
            Y = LSTM <hidden_size = {H}> (X, W, R, B)
        }}""", {"W": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H),
                "Bw": np.zeros((1, 4 * H), np.float32), "Br": np.zeros((1, 4 * H), np.float32)})
    (row,) = count(model, tmp_path).layers
    assert (row.total(ONNX), row.total(PYTORCH), row.total(KERAS)) == (56, 40, 40)


# --- layers that exporters write out -------------------------------------------------------------


def test_bias_add_after_a_reshape_belongs_to_the_matmul(tmp_path: Path) -> None:
    """tf2onnx's Dense(3) on [batch, 5, 4]: Reshape, MatMul, Reshape, Add (Keras: 12 + 3)."""
    model = build(f"""{HEADER}
        g (float[2, 5, 4] x) => (float[2, 5, 3] y) {{
            flat = Reshape (x, s2)
            m = MatMul (flat, Wd)
            m3 = Reshape (m, s3)
            y = Add (m3, bd)
        }}""", {"Wd": weights(4, 3), "bd": weights(3),
                "s2": np.array([-1, 4], np.int64), "s3": np.array([2, 5, 3], np.int64)})
    runs(model, {"x": weights(2, 5, 4)})
    params = count(model, tmp_path)
    (row,) = params.layers
    assert [(s.slot, s.tensor, s.elements) for s in row.slots] == [
        ("weight", "Wd", 12), ("bias", "bd", 3)]
    assert totals(params) == (15, 15, 15)


def test_bias_add_through_squeeze_and_transpose_and_a_biasless_conv(tmp_path: Path) -> None:
    model = build(f"""{HEADER}
        g (float[1, 2, 6] x) => (float[1, 4, 3] y) {{
            c = Conv <kernel_shape = [3], pads = [1, 1]> (x, K)
            t = Transpose <perm = [0, 2, 1]> (c)
            u = Add (t, kb)
            y = Transpose <perm = [0, 2, 1]> (u)
        }}""".replace("float[1, 4, 3] y", "float[1, 3, 6] y"),
        {"K": weights(3, 2, 3), "kb": weights(3)})
    runs(model, {"x": weights(1, 2, 6)})
    (row,) = count(model, tmp_path).layers
    assert [(s.slot, s.elements) for s in row.slots] == [("weight", 18), ("bias", 3)]


def test_bias_add_is_not_taken_when_the_reshape_fans_out(tmp_path: Path) -> None:
    model = build(f"""{HEADER}
        g (float[2, 4] x) => (float[6] y, float[6] z) {{
            m = MatMul (x, Wd)
            y = Reshape (m, s)
            z = Add (y, bd)
        }}""", {"Wd": weights(4, 3), "bd": weights(6), "s": np.array([6], np.int64)})
    (row,) = count(model, tmp_path).layers
    assert [s.slot for s in row.slots] == ["weight"]


def test_folded_batch_norm_needs_tensorflows_name_scope(tmp_path: Path) -> None:
    """x · scale + shift is what tf2onnx writes for a Keras BatchNormalization (named
    .../batchnorm/mul_1); the same pair under another name is not taken for a layer."""
    text = f"""{HEADER}
        g (float[2, 5, 4] x) => (float[2, 5, 4] y) {{
            s = Mul (x, a)
            y = Add (s, b)
        }}"""
    inits = {"a": weights(4), "b": weights(4)}

    def named(mul: str) -> onnx.ModelProto:
        model = build(text, inits)
        model.graph.node[0].name, model.graph.node[1].name = mul, "model/bn/batchnorm/add_1"
        return model

    folded = count(named("model/bn/batchnorm/mul_1"), tmp_path)
    (row,) = folded.layers
    assert (row.op_type, row.label) == ("BatchNormalization", "model/bn/batchnorm/mul_1")
    assert totals(folded) == (8, 8, 16)
    other = count(named("model/scale/mul"), tmp_path)
    assert other.layers == () and other.uncounted_elements == 8


def test_layer_norm_written_as_moments_is_one_layer(tmp_path: Path) -> None:
    """torch.onnx's LayerNorm before opset 17 (and Keras 3's written out form): gamma and beta
    count, the epsilon and the exponent do not."""
    model = build(f"""{HEADER}
        g (float[2, 5, 4] x) => (float[2, 5, 4] y) {{
            mean = ReduceMean <axes = [-1]> (x)
            d = Sub (x, mean)
            sq = Pow (d, two)
            var = ReduceMean <axes = [-1]> (sq)
            ve = Add (var, eps)
            sd = Sqrt (ve)
            n = Div (d, sd)
            s = Mul (n, gamma)
            y = Add (s, beta)
        }}""".replace('<ir_version: 8, opset_import: ["" : 17]>',
                      '<ir_version: 8, opset_import: ["" : 13]>'),
        {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32),
         "gamma": weights(4), "beta": weights(4)})
    x = weights(2, 5, 4)
    (y,) = runs(model, {"x": x})
    np.testing.assert_allclose(
        y, (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
        * numpy_helper.to_array(model.graph.initializer[2])
        + numpy_helper.to_array(model.graph.initializer[3]), rtol=1e-4, atol=1e-5)
    params = count(model, tmp_path)
    (row,) = params.layers
    assert (row.label, row.op_type, row.kind) == ("<ReduceMean #0>", "LayerNormalization", "norm")
    assert [(s.slot, s.tensor, s.elements) for s in row.slots] == [
        ("scale", "gamma", 4), ("bias", "beta", 4)]
    assert totals(params) == (8, 8, 8)
    assert (params.uncounted_tensors, params.uncounted_elements) == (2, 2)


def test_layer_norm_as_tf2onnx_writes_it_from_keras(tmp_path: Path) -> None:
    """tf_keras 2.18 LayerNormalization through tf2onnx 1.17 (observed): Reshape to 4-D,
    BatchNormalization over a computed mean and variance with expanded ones and zeros, Reshape
    back, Mul gamma, Add beta. Keras count_params() = 8."""
    model = build(f"""{HEADER}
        g (float[1, 5, 4] x) => (float[1, 5, 4] y) {{
            r = Reshape (x, s4)
            mean = ReduceMean <axes = [0, 2, 3]> (r)
            d = Sub (r, mean)
            ss = ReduceSumSquare <axes = [0, 2, 3], keepdims = 0> (d)
            var = Div (ss, four)
            m1 = Squeeze (mean, ax)
            ones = Expand (one, n)
            zeros = Expand (zero, n)
            bn = BatchNormalization (r, ones, zeros, m1, var)
            back = Reshape (bn, s3)
            s = Mul (back, gamma)
            y = Add (s, beta)
        }}""", {"s4": np.array([1, 5, 4, 1], np.int64), "s3": np.array([1, 5, 4], np.int64),
                "four": np.array(4.0, np.float32), "ax": np.array([0, 2, 3], np.int64),
                "one": np.array(1.0, np.float32), "zero": np.array(0.0, np.float32),
                "n": np.array([5], np.int64), "gamma": weights(4), "beta": weights(4)})
    runs(model, {"x": weights(1, 5, 4)})
    params = count(model, tmp_path)
    (row,) = params.layers
    assert (row.label, row.op_type) == ("<BatchNormalization #8>", "LayerNormalization")
    assert [(s.tensor, s.elements) for s in row.slots] == [("gamma", 4), ("beta", 4)]
    assert totals(params) == (8, 8, 8)


KERAS_PARAMS = Path(__file__).parents[1] / "fixtures" / "keras_params"
KERAS_MANIFEST = json.loads((KERAS_PARAMS / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(k for k in KERAS_MANIFEST if k.endswith(".onnx")))
def test_real_tf2onnx_exports_count_what_keras_counts(name: str) -> None:
    """tf_keras 2.18 through tf2onnx 1.17: a use_bias=False LSTM (zero B), LayerNormalization
    (written out), BatchNormalization (folded into Mul and Add: Keras counts 4·C, the file
    stores 2·C), a 3-D Dense (bias Add after a Reshape) and a Conv1D (bias Add after a
    Squeeze) count as count_params() does, per layer (rows in model order) and in total."""
    entry = KERAS_MANIFEST[name]
    assert entry["ort_max_abs_diff"] < 1e-4  # the export computes what Keras computes
    (model,) = count_paths([str(KERAS_PARAMS / name)])
    assert model.error is None
    assert [row.total(KERAS) for row in model.layers] == [
        layer["count_params"] for layer in entry["layers"]]
    assert model.total(KERAS) == entry["count_params"]
    kinds = {"LSTM": "recurrent", "GRU": "recurrent", "LayerNormalization": "norm",
             "BatchNormalization": "norm", "Dense": "linear", "Conv1D": "conv"}
    assert [row.kind for row in model.layers] == [kinds[x["class"]] for x in entry["layers"]]


# --- reports -------------------------------------------------------------------------------------


def test_reports_say_how_a_layer_was_recognised_and_the_basis_of_each_count(
    tmp_path: Path,
) -> None:
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X) => (float[4, 1, 1, {H}] Y, float[2, 3] z) {{
            W = Transpose <perm = [0, 1, 2]> (Wi)
            Y = LSTM <hidden_size = {H}> (X, W, R, B)
            z = Gemm (a, G)
        }}""".replace("g (float[4, 1, 3] X)", "g (float[4, 1, 3] X, float[2, 4] a)"),
        {"Wi": weights(1, 4 * H, FEAT), "R": weights(1, 4 * H, H), "B": weights(1, 8 * H),
         "G": weights(4, 3)})
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path)
    report = run_params([str(path)])
    data = json.loads(render(report, "json"))
    lstm, gemm = data["models"][0]["layers"]
    assert (lstm["recognised_as"], gemm["recognised_as"]) == ("native", None)
    assert [(s["slot"], s["basis"]) for s in lstm["slots"]] == [
        ("W", "traced"), ("R", "initializer"), ("B", "initializer")]
    assert lstm["slots"][0]["sources"] == [
        {"graph": "main", "tensor": "Wi", "elements": 24, "basis": "initializer"}]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parents[1] / "archlint" / "schemas"
                         / "params-v1.schema.json").read_text())
    jsonschema.validate(data, schema)
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [(r["recognised_as"], r["basis"]) for r in rows] == [
        ("native", "W=traced;R=initializer;B=initializer"), ("", "weight=initializer")]
    text = render(report, "text")
    header, lstm_line, gemm_line = text.splitlines()[1:4]
    assert header.split()[:3] == ["node", "op", "recognised"]
    assert lstm_line.split()[:3] == ["<LSTM", "#1>", "LSTM"] and "native" in lstm_line
    assert "native" not in gemm_line
    assert "| recognised |" in render(report, "markdown")


def test_two_ifs_of_one_name_each_trace_to_their_own_branches(tmp_path: Path) -> None:
    """The second of two If nodes named alike gets branch scopes of its own (graph.py indexes
    them as ``name#index``): its weight is what its own branches return, not the first's."""
    model = build(f"""{HEADER}
        g (float[4, 1, {FEAT}] X, bool c) => (float[4, 1, 1, {H}] Y1, float[4, 1, 1, {H}] Y2) {{
            [pick] W1 = If (c) <
                then_branch = t () => (float[1, 8, 3] wt) {{ wt = Identity (Wa) }},
                else_branch = e () => (float[1, 8, 3] we) {{ we = Identity (Wa) }}
            >
            [pick] W2 = If (c) <
                then_branch = t2 () => (float[1, 8, 3] wt2) {{ wt2 = Identity (Wb) }},
                else_branch = e2 () => (float[1, 8, 3] we2) {{ we2 = Identity (Wb) }}
            >
            [first] Y1 = LSTM <hidden_size = {H}> (X, W1, R, B)
            [second] Y2 = LSTM <hidden_size = {H}> (X, W2, R, B)
        }}""", {"Wa": weights(1, 4 * H, FEAT), "Wb": weights(1, 4 * H, FEAT),
                "R": weights(1, 4 * H, H), "B": weights(1, 8 * H)})
    # (onnx's checker takes it; onnxruntime refuses two nodes of one name, so it is not run)
    params = count(model, tmp_path)
    sources = {}
    for row in params.layers:
        w = row.slot("W")
        assert w is not None and w.basis is Basis.TRACED
        sources[row.node] = [s.name for s in w.sources]
    assert sources == {"first": ["Wa"], "second": ["Wb"]}
