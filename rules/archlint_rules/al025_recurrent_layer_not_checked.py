"""AL025 recurrent-layer-not-checked"""

from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.recurrent import Recognition, RecurrentLayer

_KERAS = {"RNN": "SimpleRNN", "GRU": "GRU", "LSTM": "LSTM"}
# a two-gate cell (a minimal gated unit: speechbrain's LiGRU, flax's MGUCell): no ONNX op
_TWO_GATE = "two-gate (MGU)"


class RecurrentLayerNotChecked(Rule):
    """A recurrent layer computed by a Loop, an unrolled chain or a cell step: counted, not checked.

    ## What it does
    Reports, as information, every layer archlint recognised from its pattern rather than from
    an LSTM/GRU/RNN node: a ``Loop`` or ``Scan`` whose body computes one cell step (x_t @ kernel
    + h @ recurrent_kernel + bias, then the gates; or TF1's Concat([x_t, h]) @ kernel, each cell
    of a MultiRNNCell its own layer), an unrolled chain of per-step MatMuls that
    share one kernel and one recurrent kernel, or a single cell step per call (a streaming
    model: h, and c for an LSTM, read from the model's inputs, the new state returned through
    its outputs; torch writes ``nn.LSTMCell``, ``nn.GRUCell`` and ``nn.RNNCell`` this way with
    both exporters). It names the cell (SimpleRNN, GRU with its reset_after, LSTM, or a
    two-gate cell, MGU: speechbrain's LiGRU, Flax's MGUCell, for which ONNX has no op), I, H and
    the direction archlint recovered, and says what was not checked: the rules for the ONNX
    ops (slot shapes AL1xx, hidden size and attributes AL2xx, direction and state layout AL3xx,
    deployment targets AL6xx) read the op's X, W, R, B, Y and attributes, which such a layer
    does not have. The layer is still listed and counted by ``archlint params`` (and so seen
    by ``--max-params`` and the layer budgets).

    ## Why is this bad?
    Nothing is known to be wrong: this says which checks a clean result does not cover, instead
    of passing over the layer in silence. Such a layer also runs step by step (one Loop
    iteration, or one chain of small MatMuls, per time step) where a native LSTM/GRU/RNN node
    runs one fused kernel, and targets that accelerate the native ops (cuDNN, TensorRT's RNN
    layer, OpenVINO's sequence ops) do not accelerate it. tf2onnx folds a Keras layer into a
    native node only when its TF while loop is exactly the fused cell its rewriters know
    (``rewriter/lstm_tf2_rewriter.py``, ``rewriter/gru_tf2_rewriter.py``: LSTM, and GRU with
    reset_after=True); SimpleRNN, GRU with reset_after=False, masking, recurrent dropout and
    unroll=True leave a generic ``Loop`` (``rewriter/loop_rewriter.py``) or no loop at all.
    A TF1 ``dynamic_rnn`` in a frozen graph becomes a ``Scan`` (``custom_rnn_rewriter.py``)
    once TensorFlow's graph optimiser, which tf2onnx runs first, has rewritten the weights'
    reads that its TF1 LSTM and GRU rewriters look for; a BasicRNNCell or a peephole LSTMCell
    always does (fixtures/tf1_scan/).
    A step model is a sound design (the caller carries the state from call to call), but its
    Gemms, Split and gates are not an LSTM node to any rule or runtime.

    ## Example
    fixtures/AL025/bad.onnx.txt: ``Loop`` whose body is ``Tanh(MatMul(x_t, kernel) + bias +
    MatMul(h, rkernel))`` is reported as a SimpleRNN step with I=3, H=4. The same layer as a
    native ``RNN <hidden_size: int = 4>`` node (fixtures/AL025/good.onnx.txt) is checked by every
    rule and gives nothing here. fixtures/steps/ holds torch's exports of one ``nn.LSTMCell``,
    ``nn.GRUCell`` and ``nn.RNNCell`` step, each reported here.
    """

    code = "AL025"
    name = "recurrent-layer-not-checked"
    severity = Severity.INFO
    summary = ("A recurrent layer found as a Loop cell, unrolled chain or cell step: counted, op "
               "rules not run")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for layer in ctx.recognised:
            cell = layer.cell
            if cell is None:
                continue
            what = _KERAS.get(cell.cell, _TWO_GATE)
            if cell.cell == "GRU" and cell.reset_after is not None:
                what += f" (reset_after={cell.reset_after})"
            sizes = f"I={cell.input_size}, H={cell.hidden_size}"
            if cell.projection_size is not None:
                what += " with projection"
                sizes += f", P={cell.projection_size}"
            direction = cell.direction
            if layer.recognised_as is Recognition.LOOP_CELL:
                found, where = _loop_cell(layer)
            elif layer.recognised_as is Recognition.STEP:
                found = ("one step per iteration of the enclosing Loop, its state carried from "
                         "one iteration to the next (a decoding loop)"
                         if layer.in_loop_body else
                         "one step per call: the state read from the model's inputs and "
                         "returned through its outputs")
                found += ", as Gemm/MatMul, gates and elementwise ops"
                where = f"cell step from {layer.node.op_type} {layer.label!r}"
                direction = "one step"
            else:
                steps = f" {cell.steps}" if cell.steps is not None else ""
                found = f"an unrolled chain of{steps} per-step MatMuls"
                if cell.fed_back:
                    found += (", each step's input computed from the state before (an "
                              "autoregressive decoder)")
                where = f"unrolled chain from {layer.node.op_type} {layer.label!r}"
            yield ctx.finding(
                self, layer,
                f"{where} computes {_article(what)} {what} layer ({sizes}, "
                f"{direction}): recognised from its pattern and "
                f"counted by params; {_rules_for(cell.cell)} (slot shapes, "
                "attributes, state layout, targets) do not apply to it",
                expected=("a layer of an ONNX op, which every rule checks: ONNX's LSTM has "
                          "no projection" if cell.projection_size is not None
                          else f"an ONNX {cell.cell} node, which every rule checks"
                          if cell.cell in _KERAS else
                          "a layer of an ONNX op, which every rule checks: ONNX has LSTM, GRU "
                          "and RNN, no two-gate op"),
                actual=found,
                help=(_two_gate_help() if cell.cell not in _KERAS
                      else _projection_help() if cell.projection_size is not None
                      else _step_help(cell.cell) if layer.recognised_as is Recognition.STEP
                      else _decoder_help(cell.cell) if cell.fed_back
                      else _tf1_help(cell.cell, cell.peephole != ())
                      if cell.joint_kernel and layer.producer_name != "pytorch"
                      else _stacked_help(cell.cell) if layer.in_stack
                      else _help(cell.cell, cell.reset_after, _kept(layer),
                                 layer.producer_name)),
            )


def _rules_for(cell: str) -> str:
    return (f"the rules for ONNX {cell} nodes" if cell in _KERAS
            else "the rules for ONNX's recurrent nodes")


def _projection_help() -> str:
    return ("Nothing to fix if the layer is intended: ONNX's LSTM op has no projection, so no "
            "exporter can make an LSTM with projection (nn.LSTM(proj_size=P), TF1's "
            "LSTMCell(num_proj=P)) a node the rules check: torch refuses it (icefall writes it "
            "out step by step as its LSTMP) and tf2onnx keeps its loop. It is counted, and "
            "unrolled steps are checked against the sequence they cut (AL317). Without the "
            "projection, nn.LSTM and a Keras LSTM export as an ONNX LSTM node that every rule "
            "checks.")


def _two_gate_help() -> str:
    return ("Nothing to fix if the cell is intended: ONNX has no op for a two-gate cell (a "
            "minimal gated unit, speechbrain's LiGRU), so no exporter can make it a node the "
            "rules check; it is counted, and its unrolled steps are checked against the "
            "sequence they cut (AL317). A GRU (nn.GRU, a Keras GRU) exports as an ONNX GRU "
            "node that every rule checks.")


def _loop_cell(layer: RecurrentLayer) -> tuple[str, str]:
    """(what was found, where) for a Loop or Scan cell: the node is the Loop or Scan, or,
    when its body computes several cells (a MultiRNNCell), the cell's first MatMul/Gemm."""
    node, looping = layer.node, layer.loop_op
    if not layer.in_stack:
        return f"a {looping} whose body computes one step", f"{looping} {layer.label!r}"
    return (f"one of the cells a {looping} body computes at each step (a stacked cell)",
            f"cell from {node.op_type} {layer.label!r} in a {looping} body")


def _stacked_help(cell: str) -> str:
    fused = ("and has no SimpleRNN rewriter at all" if cell == "RNN" else
             f"and then only as its {cell} rewriter knows it")
    return ("Nothing to fix if the loop is intended. To have each layer checked and fused: "
            "stack RNN layers (one Keras layer per cell, return_sequences=True below the top) "
            "rather than cells in one RNN(StackedRNNCells([...])): tf2onnx fuses only a loop "
            f"that computes a single cell, {fused}.")


def _tf1_help(cell: str, peephole: bool) -> str:
    """A TF1 rnn_cell (one kernel over [x_t, h]), as tf2onnx converts a frozen graph."""
    if cell == "RNN" or peephole:
        what = "a BasicRNNCell" if cell == "RNN" else "a peephole LSTMCell"
        return (f"Nothing to fix if the loop is intended. tf2onnx has no rewriter for {what}: "
                "it stays a Scan or Loop. To have the layer checked and fused, use a cell "
                f"tf2onnx fuses (LSTMCell without peepholes, GRUCell) or the ONNX {cell} op.")
    return ("Nothing to fix if the loop is intended. To have the layer checked and fused: "
            f"tf2onnx's TF1 rewriters fuse a single {'LSTMCell' if cell == 'LSTM' else 'GRUCell'} "
            "only when they find its while loop as TensorFlow wrote it; converting a frozen "
            "graph runs TensorFlow's graph optimiser first, whose constant folding rewrites "
            "the weights' reads, and the loop becomes a Scan. Converting the frozen graph "
            "without that optimiser (tf2onnx.tfonnx.process_tf_graph on the imported graph, "
            "then tf2onnx.optimizer.optimize_graph) gave ONNX nodes in our exports, a "
            "MultiRNNCell of LSTMCells included; so did tf2onnx.convert.from_function for a "
            "single cell.")


def _kept(layer: RecurrentLayer) -> str:
    if layer.recognised_as is not Recognition.LOOP_CELL:
        return "the unrolled layer"
    return f"the {layer.loop_op}"


def _help(cell: str, reset_after: bool | None, kept: str, producer: str) -> str:
    """What would make the layer a native node, for the exporter that wrote the model
    (tf2onnx, torch.onnx), or for both when the producer says neither; ``kept``: what stays
    (the Loop, the Scan, the unrolled layer)."""
    keras = _keras_advice(cell, reset_after)
    torch = _torch_advice(cell, reset_after)
    if producer.startswith(("tf2onnx", "keras2onnx")):
        advice = keras
    elif producer == "pytorch":
        advice = torch
    else:
        advice = f"{keras}; {torch}"
    return f"Nothing to fix if {kept} is intended. To have the layer checked and fused: {advice}."


def _keras_advice(cell: str, reset_after: bool | None) -> str:
    if cell == "RNN":
        return "tf2onnx has no SimpleRNN rewriter, so a Keras SimpleRNN always stays a Loop"
    if cell == "GRU" and reset_after is False:
        return ("a Keras GRU with reset_after=False stays a Loop in tf2onnx (only a Keras 2 "
                "GRU with reset_after=True can become a GRU node)")
    kept = ("use_bias=False or activation='relu' on a GRU, " if cell == "GRU"
            else "a Keras 3 recurrent_activation='hard_sigmoid', ")
    return (f"tf2onnx fuses a Keras {'LSTM' if cell == 'LSTM' else '2 GRU'} into an ONNX {cell} "
            "node only when its while loop is the pattern its rewriters know (tf2onnx 1.17: "
            "rewriter/lstm_tf2_rewriter.py, gru_tf2_rewriter.py). Seen to keep the Loop: "
            f"recurrent_dropout, masking, unroll=True, {kept}a fixed input signature (export "
            "with a dynamic batch); Keras 3 with the torch backend unrolls every layer")


def _torch_advice(cell: str, reset_after: bool | None) -> str:
    if cell == "RNN":
        return ("PyTorch's nn.RNN exports as an RNN node with torch.onnx.export(..., "
                "dynamo=False) (the default exporter, and Keras 3 with the torch backend, "
                "unroll it)")
    if cell == "GRU" and reset_after is False:
        return ("nn.GRU applies the reset gate after the recurrent product: no PyTorch layer "
                "is this GRU (Keras 3 with the torch backend unrolls it)")
    return (f"in PyTorch use nn.{cell} rather than a cell called in a Python loop (Keras 3 "
            "with the torch backend unrolls every layer: build it in PyTorch, or export with "
            "the TensorFlow backend)")


def _step_help(cell: str) -> str:
    return (f"Nothing to fix if a step model is intended (the caller carries the state from "
            f"call to call). To have the layer checked by every rule: run nn.{cell} over a "
            f"sequence of length 1 with the state as its initial state (x.unsqueeze(0), "
            f"h.unsqueeze(0)...) instead of nn.{cell}Cell, or a Keras {_KERAS[cell]} with "
            "return_state=True and initial_state inputs: both export as an ONNX "
            f"{cell} node with the same weights.")


def _decoder_help(cell: str) -> str:
    return ("Nothing to fix if the decoder is intended: each step's input depends on the step "
            f"before, so no ONNX {cell} node over a whole sequence can compute it. To have the "
            "cell checked by every rule: export one decoder step as its own model (the state "
            f"and the previous prediction in, the new state out; nn.{cell} over a sequence of "
            "length 1 with the state as its initial state exports as an ONNX "
            f"{cell} node) and loop over it in the caller.")


def _article(word: str) -> str:
    return "an" if word.startswith("LSTM") else "a"
