"""Committed exports after the tools users run on a model before they ship it, each folder
with the script that made it; every model reads as its source does (tests/conftest.read_as):
the same layers recognised the same way, the same counts in every convention, the same
finding codes.

- fixtures/ort_optimized/: onnxruntime's saved graph optimizations, basic and extended. Its
  transpose optimizer moves a Keras unrolled LSTM's time-major Transpose onto each step's
  slice (the chain was missed, and its bias counted as a constant, before the step views took
  a Transpose). The extended level fuses a Conv or a Gemm with its activation into
  com.microsoft FusedConv / FusedGemm: their weights were uncounted, and an unrolled
  SimpleRNN whose step is a FusedGemm with its Tanh inside was no layer, nor a TF1 GRUCell
  whose r ⊙ h multiplies the gates' FusedGemm (its Sigmoid inside).
- fixtures/qdq/: onnxruntime's static quantization in the QDQ format. A quantize-dequantize
  pair on an activation is a view of it: an unrolled Keras LSTM, torch's dynamo nn.RNN chain
  and a torch LSTMCell step were not recognised through them, and the dynamo chain's input
  bias (added once, to the hoisted projection, behind its own pair) was dropped. A traced
  torch cell's Gemm biases are stored once per step in int32 (each with its step's scale):
  the cell's bias was "neither g·H nor 2·g·H", PyTorch and Keras n/a. A Keras 3 GRU with
  reset_after=False passes r ⊙ h through its own pair before the candidate's product: it
  read as reset_after=True (PyTorch 132 where there is no nn.GRU equivalent). A GRUCell
  step has a pair after its Gemm and after each Split output: its gates' Add was more ops
  from each product than the step matcher looked (a quantize-dequantize op now costs none).
- fixtures/qoperator/: onnxruntime's static quantization in the QOperator format: products are
  QLinearMatMul and com.microsoft QGemm of int8 weights, the sums QLinearAdd (inputs 0 and
  3), the gates QLinearSigmoid and QLinearMul. Unrolled torch and Keras chains and single
  steps were linear rows, b_hh (added after the sum) uncounted.
- fixtures/simplified/: onnx-simplifier with the batch fixed. It folds the first step's
  product of a zero initial state into an all-zero [batch, g·H] Gemm C, which was read as a
  second bias. It folds jax2onnx's broadcast input bias of a Keras 3 GRU into a [1, 1, 3H]
  constant, which was not read as a bias (ONNX 135 where the source stores 150).
- fixtures/dynamic_quantized/: onnxruntime's dynamic quantization. Each MatMul of a stored
  weight becomes MatMulInteger of the dynamically quantized input, cast and rescaled by a Mul:
  an unrolled Keras LSTM and torch's LSTMCell and GRUCell steps were not recognised (their
  products were no MatMul or Gemm), nor a Keras 3 (jax backend) GRU whose input projection,
  computed before its Loop, became MatMulInteger, Cast and Mul.
- fixtures/onnxoptimizer/: onnxoptimizer's passes. Its default passes drop the Identity between
  paddle2onnx's stacked GRU and the output declared as the whole stack's h_n: AL301 then
  reported the declaration as the GRU's own output beside AL306, which says what it is.
  ``eliminate_shape_gather`` turns a jax2onnx backward GRU's reversal length into a Squeeze of
  a constant: the layer read as forward. ``fuse_matmul_add_bias_into_gemm`` without
  ``eliminate_deadend`` leaves each step's ``x_t @ W`` beside its Gemm, read by nothing: the
  unrolled chain was no layer (PyTorch 12 where Keras's SimpleRNN has 14).
- fixtures/polygraphy_folded/: polygraphy's constant folding (``surgeon sanitize
  --fold-constants``). A Keras 3 (torch backend) export reads each step's weights through its
  own Identity: folded, each step has its own W, R and b of the very same values; the chain
  was no layer and the copies counted in PyTorch and Keras (22 for Keras's 12). They are read
  as the one weight they were, the copies counted in ONNX only.
"""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REPO, invoke, read_as

FOLDERS = ("ort_optimized", "qdq", "dynamic_quantized", "qoperator", "simplified",
           "onnxoptimizer", "polygraphy_folded")
# A model whose LSTM node the tool turns into a contrib op (DynamicQuantizeLSTM): its layer is
# recognised otherwise than its source's, its counts are checked apart (below)
CONTRIB_AFTER = frozenset({"exported_embed_lstm_dynamic.onnx",
                           "exported_defects_lstm_l2_states_dynamo_dynamic.onnx",
                           "keras_params_k2_conv1d_lstm_dynamic.onnx",
                           "keras2onnx_masking_lstm_dynamic.onnx"})
CASES = [(folder, name) for folder in FOLDERS
         for name in sorted(json.loads((FIXTURES / folder / "manifest.json").read_text())
                            ["models"]) if name not in CONTRIB_AFTER]


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_model_is_listed_with_its_source(folder: str) -> None:
    models = json.loads((FIXTURES / folder / "manifest.json").read_text())["models"]
    assert sorted(models) == sorted(p.name for p in (FIXTURES / folder).glob("*.onnx"))
    assert all((REPO / entry["source"]).is_file() for entry in models.values())


# What a quantized model stores more than its source: the int32 copies of a traced torch
# cell's Gemm biases, one per step after the first (5 steps; LSTM: b_ih of 4·3, GRU: b_ih and
# b_hh of 3·3 each), counted in ONNX only
STORED_COPIES = {"torch_custom_lstm_trace_qdq.onnx": 4 * 12,
                 "torch_custom_gru_trace_qdq.onnx": 4 * 2 * 9}
# ... and where a plain Linear is applied at every step too (a per-step projection before the
# cell): its bias (5) copied 4 times as well as the cell's b_ih and b_hh (12 each)
PLAIN_STORED_COPIES = {"torch_custom_projected_cell_trace_qdq.onnx": 4 * (5 + 2 * 12)}
# ... and where one cell is stepped over two sequences (a siamese encoder): each chain's steps
# add their own copies of the cell's b_ih and b_hh (12 each), 4 after the first chain's first
# step, 5 in the second chain
SIBLING_STORED_COPIES = {"torch_custom_siamese_cell_trace_qdq.onnx": (4 + 5) * 2 * 12}
# ... and the per-step copies of a Keras 3 torch export's weights and biases after
# polygraphy's folding, one per step after the first (Keras runs a probe step first): the
# SimpleRNN's 5 copies each of W [3, 2], R [2, 2] and b [2]; the GRU(reset_after=False)'s 7
# copies each of W [5, 12] and b [12] (its R is stored once)
# (with the batch fixed first, 6 copies: the first step's zero-state product folds into
# [2, 4] zeros, which are no bias: Keras 120, not "neither g·H nor 2·g·H")
FOLDED_COPIES = {"keras3_torch_simple_rnn_dynamic_folded.onnx": 72 - 12,
                 "keras3_torch_gru_reset_before_dynamic_folded.onnx": 624 - 120,
                 "keras3_torch_gru_reset_before_dynamic_folded_batch2.onnx": 552 - 120}
# ... and the quantization parameters of a plain quantized row, ONNX only: the Linear head of
# torch's nn.RNN as QLinearMatMul (w_scale, w_zero_point) + QLinearAdd (b_scale, b_zero_point)
QUANTIZATION_PARAMETERS = {"dynamo_rnn_rnn_uni_qop.onnx": 4}


@pytest.mark.parametrize(("folder", "name"), CASES)
def test_a_model_after_the_tool_reads_as_its_source(folder: str, name: str) -> None:
    from archlint.params import Convention

    source = json.loads((FIXTURES / folder / "manifest.json").read_text())["models"][name]
    after = read_as(FIXTURES / folder / name)
    layers, totals, codes = read_as(REPO / source["source"])
    onnx = totals[Convention.ONNX]
    extra = STORED_COPIES.get(name, 0) + QUANTIZATION_PARAMETERS.get(name, 0) \
        + PLAIN_STORED_COPIES.get(name, 0) + SIBLING_STORED_COPIES.get(name, 0) \
        + FOLDED_COPIES.get(name, 0)
    totals[Convention.ONNX] = None if onnx is None else onnx + extra
    assert after == (layers, totals, codes)
    assert after[0]  # every source has a recurrent layer


@pytest.mark.parametrize("name", sorted(STORED_COPIES))
def test_per_step_int32_copies_of_a_bias_count_once_in_the_frameworks(name: str) -> None:
    """onnxruntime quantizes each step's Gemm C with that step's input scale: stored once per
    step, one bias of the cell (b_ih, b_hh) for PyTorch and Keras."""
    from archlint.app import count_paths

    [report] = count_paths([str(FIXTURES / "qdq" / name)])
    [row] = report.layers
    copies = [slot for slot in row.slots if slot.slot == "B" and slot.pytorch == 0]
    assert sum(slot.elements or 0 for slot in copies) == STORED_COPIES[name]
    assert {slot.keras for slot in copies} == {0}
    assert all(slot.tensor.endswith("_quantized") for slot in copies)
    [note] = [n for n in row.notes if n.startswith("B: ")]
    assert note.startswith(f"B: {len(copies)} more stored copies of the biases, one per step")
    assert len(copies) == (4 if "lstm" in name else 8)  # 4 more steps; the GRU's two biases


def test_a_dynamically_quantized_embedding_counts_its_uint8_table() -> None:
    """quantize_dynamic keeps an Embedding's table as uint8 and dequantizes the rows after the
    Gather (the table was uncounted: 40 of the float export's 148); the LSTM becomes
    DynamicQuantizeLSTM. PyTorch and Keras count what the float export does; ONNX adds the
    quantization parameters the file stores."""
    from archlint.params import Convention

    layers, totals, _ = read_as(FIXTURES / "dynamic_quantized" /
                                    "exported_embed_lstm_dynamic.onnx")
    source_layers, source_totals, _ = read_as(FIXTURES / "exported" / "embed_lstm.onnx")
    assert len(layers) == len(source_layers) == 1
    assert totals[Convention.PYTORCH] == source_totals[Convention.PYTORCH] == 148
    assert totals[Convention.KERAS] == source_totals[Convention.KERAS]
    assert totals[Convention.ONNX] == 148 + 4  # the LSTM's W and R scales and zero points


def test_per_step_int32_copies_of_a_plain_linear_bias_count_once_in_the_frameworks() -> None:
    """The projection Linear applied at every step: QDQ stores its bias once per step in
    int32; the rows after the first read the same weight, their bias copies count in ONNX
    only (PyTorch and Keras counted 20 more than the float export's 145 and 133)."""
    from archlint.app import count_paths

    [report] = count_paths([str(FIXTURES / "qdq" / "torch_custom_projected_cell_trace_qdq.onnx")])
    linear = [row for row in report.layers if row.kind == "linear"]
    assert len(linear) == 5  # one Gemm per step
    copies = [slot for row in linear for slot in row.slots
              if slot.slot == "bias" and slot.pytorch == 0 and slot.keras == 0]
    assert len(copies) == 4 and all(slot.elements == 5 for slot in copies)
    assert all(any("per-step int32 copy" in note for note in row.notes) for row in linear[1:])


def test_a_defect_after_two_dynamically_quantized_lstms_is_still_found() -> None:
    """quantize_dynamic makes each LSTM of a streaming 2-layer dynamo export a
    DynamicQuantizeLSTM. onnx's inference has no schema for them and stopped at the first:
    the Reshape after the second, which bakes the export's seq (onnxruntime fails at seq 7,
    fixtures/exported_defects/manifest.json), went unseen. Inference now reads each contrib
    op as the LSTM it computes, as onnxruntime's own inference does: the same AL302, on the
    same node, as the float source."""
    from archlint.params import Convention

    quantized = FIXTURES / "dynamic_quantized" \
        / "exported_defects_lstm_l2_states_dynamo_dynamic.onnx"
    source = FIXTURES / "exported_defects" / "lstm_l2_states_dynamo.onnx"
    layers, totals, codes = read_as(quantized)
    source_layers, source_totals, source_codes = read_as(source)
    assert layers == [("LSTM", "contrib"), ("LSTM", "contrib")]
    assert source_layers == [("LSTM", "native"), ("LSTM", "native")]
    assert codes == source_codes == ["AL302"]
    assert totals[Convention.PYTORCH] == source_totals[Convention.PYTORCH]
    findings = [json.loads(invoke("lint", str(path), "--format", "json", "--exit-zero").stdout)
                ["models"][0]["findings"] for path in (quantized, source)]
    assert [(f["location"]["node"], f["expected"], f["actual"]) for f in findings[0]] \
        == [(f["location"]["node"], f["expected"], f["actual"]) for f in findings[1]] \
        == [("node_Reshape_128", "[0, -1, 5] with allowzero=0", "[5, -1, 5]")]


def test_a_dynamically_quantized_keras_conv1d_keeps_its_bias_after_the_squeeze() -> None:
    """tf2onnx writes a Conv1D as Conv -> Squeeze -> Add(bias); quantize_dynamic makes the Conv
    a ConvInteger whose output is cast and scaled back (Cast, Mul) before that Squeeze. The
    bias was not found (the Conv row 60 of Keras's 65, the model 220 of 225)."""
    from archlint.app import count_paths
    from archlint.params import Convention

    manifest = json.loads((FIXTURES / "keras_params" / "manifest.json").read_text())
    entry = manifest["k2_conv1d_lstm.onnx"]
    [report] = count_paths([str(FIXTURES / "dynamic_quantized"
                                / "keras_params_k2_conv1d_lstm_dynamic.onnx")])
    conv, lstm = report.layers
    assert (conv.op_type, lstm.recognised_as) == ("ConvInteger", "contrib")
    assert [row.total(Convention.KERAS) for row in report.layers] \
        == [layer["count_params"] for layer in entry["layers"]] == [65, 160]
    assert report.total(Convention.KERAS) == entry["count_params"] == 225
    [bias] = [slot for slot in conv.slots if slot.slot == "bias"]
    assert (bias.elements, bias.pytorch, bias.keras) == (5, 5, 5)
    # ONNX adds the stored quantization parameters: the kernel's zero point, the LSTM's four
    assert report.total(Convention.ONNX) == 241 + 1 + 4


def test_a_quantized_siamese_cell_counts_its_second_chains_copies_in_onnx_only() -> None:
    """One LSTMCell stepped over two sequences: the float export's two chains read one b_ih
    and one b_hh. QDQ stores them once per step in int32 in both chains; the second chain's
    copies were its own biases for PyTorch and Keras (+24 each over the float export)."""
    from archlint.app import count_paths
    from archlint.params import Convention

    [report] = count_paths([str(FIXTURES / "qdq" / "torch_custom_siamese_cell_trace_qdq.onnx")])
    [source] = count_paths([str(FIXTURES / "torch_custom" / "siamese_cell_trace.onnx")])
    _, second = report.layers
    assert [(row.total(Convention.PYTORCH), row.total(Convention.KERAS))
            for row in report.layers] == [(108, 96), (0, 0)]
    assert (report.total(Convention.PYTORCH), report.total(Convention.KERAS)) \
        == (source.total(Convention.PYTORCH), source.total(Convention.KERAS)) == (108, 96)
    second_copies = [slot for slot in second.slots if slot.slot == "B" and slot.pytorch == 0
                     and slot.keras == 0 and slot.elements == 12]
    assert len(second_copies) == 5 * 2  # every step of the second chain: b_ih and b_hh
    assert any(note.startswith("B: 10 more stored copies") for note in second.notes)
    assert not any("no stored bias" in note for note in second.notes)


@pytest.mark.parametrize(("name", "op", "node", "shape"), [
    ("quantized_ops_float_extended.onnx", "FusedConv", "/conv/Conv", ("batch", 8, "unk__0")),
    ("steps_packed_state_classic_extended.onnx", "FusedGemm", "fused /encoder/Gemm",
     ("batch", 4)),
])
def test_inference_reads_onnxruntimes_fused_ops_as_the_onnx_op_they_compute(
    name: str, op: str, node: str, shape: tuple[object, ...]
) -> None:
    """onnxruntime's extended level fuses a Conv or a Gemm with its activation into a
    com.microsoft op onnx has no schema for: its output had no shape, nor anything after it
    (a real AL309 after a FusedConv was lost). Inference reads it as the Conv or Gemm."""
    from pathlib import Path

    from archlint.graph import build_graph
    from archlint.loader import load_model

    graph = build_graph(load_model(Path(FIXTURES / "ort_optimized" / name)))
    [fused] = [n for n in graph.iter_nodes(frozenset({op}), unusual_domains=True)
               if n.label == node]
    info = graph.tensor(fused.outputs[0], fused.graph)
    assert info is not None and info.shape == shape


def test_a_node_read_by_nothing_counts_its_shared_weight_in_the_live_row() -> None:
    """The dead ``x_t @ W`` MatMuls onnxoptimizer leaves beside each step's Gemm come after
    the live rows: the SimpleRNN's W counts in its own row (it was counted in the first dead
    MatMul's, leaving the layer 6 of its 12), and each dead row says why it counts nothing."""
    from archlint.app import count_paths
    from archlint.params import Convention

    [report] = count_paths([str(FIXTURES / "onnxoptimizer"
                                / "keras3_torch_simple_rnn_static_fuse_gemm.onnx")])
    rnn, *dead = report.layers
    # torch exported it (Keras 3's torch backend): its one stored bias counts once in the
    # PyTorch column, as the module holds it (Keras's variables are its parameters)
    assert (rnn.op_type, rnn.recognised_as, rnn.total(Convention.KERAS),
            rnn.total(Convention.PYTORCH)) == ("RNN", "unrolled", 12, 12)
    assert [row.op_type for row in dead] == ["MatMul"] * 5
    assert all(row.total(Convention.ONNX) == 0 for row in dead)
    assert all(any(note.startswith("its result is read by nothing") for note in row.notes)
               for row in dead)


def test_a_stack_state_declared_whole_is_al306s_alone_without_the_identity() -> None:
    """Without the Identity, the GRU writes the output declared with the stack's 2 rows
    itself: one finding, AL306's, not a second AL301 telling to give Y_h one direction."""
    result = invoke("lint", str(FIXTURES / "onnxoptimizer" / "paddle_gru_l2_default.onnx"),
                    "--format", "json", "--exit-zero")
    findings = json.loads(result.stdout)["models"][0]["findings"]
    assert [(f["code"], f["location"]["node"]) for f in findings if f["severity"] == "error"] \
        == [("AL306", "GRU.3")]


def test_branch_copies_of_a_bias_read_from_two_tensors_count_in_onnx_only() -> None:
    """fixtures/graphsurgeon/ (make_graphsurgeon.py): onnx-graphsurgeon stores the outer LSTM
    weights both If branches read in each branch; each branch's B is Concat(b_ih, b_hh).
    Only one-tensor slots were compared for stored copies: the second branch's B counted in
    PyTorch and Keras (176 and 144 for 144 and 128, as silero VAD after graphsurgeon)."""
    from archlint.app import count_paths
    from archlint.params import Convention

    folder = FIXTURES / "graphsurgeon"
    entry = json.loads((folder / "manifest.json").read_text())["models"]["if_shared_lstm_gs.onnx"]
    assert entry["max_abs_difference"] == "0"
    [after] = count_paths([str(folder / "if_shared_lstm_gs.onnx")])
    [source] = count_paths([str(REPO / entry["source"])])
    assert [after.total(c) for c in Convention] == [288, 144, 128]
    assert [source.total(c) for c in Convention] == [144, 144, 128]
    second = after.layers[1]
    assert [(slot.slot, slot.elements, slot.pytorch, slot.keras) for slot in second.slots] \
        == [("W", 48, 0, 0), ("R", 64, 0, 0), ("B", 32, 0, 0)]
    assert "B 'b' holds the values of 'b' (<LSTM #1>'s B): a stored copy of that weight " \
        "(stored twice by the exporter or by constant folding), counted in ONNX only" \
        in second.notes
