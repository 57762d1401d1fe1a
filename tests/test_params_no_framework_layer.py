"""When the PyTorch and Keras columns have a framework layer to count, and when not.

A PyTorch export's GRU without linear_before_reset still counts as the nn.GRU it was.

torch's dynamo exporter of torch 2.10 and 2.11 leaves linear_before_reset out of an nn.GRU
(onnxscript#2852): the node computes another GRU, which AL311 reports, and the PyTorch column
said n/a where the module's count is known (a public bi-GRU classifier exported by torch 2.11:
89,989). Another producer's GRU with linear_before_reset=0 (Keras reset_after=False, TF1's
GRUCell) has no nn.GRU equivalent and stays n/a. An LSTM with input_forget=1, or
activations nn.LSTM/GRU/RNN do not compute (inference-engine test models: glow's, MIGraphX's),
had counts where neither framework has such a layer. An all-zero B in a PyTorch export is
the module's zero biases (torch's exporters write none for bias=False), not bias=False.
"""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES


def _row(path: str):  # type: ignore[no-untyped-def]
    from archlint.app import count_paths

    [report] = count_paths([str(FIXTURES / path)])
    [row] = [r for r in report.layers if r.kind == "recurrent"]
    return report, row


def test_a_pytorch_gru_without_linear_before_reset_counts_the_module() -> None:
    from archlint.params import Convention

    report, row = _row("AL311/bad.onnx.txt")
    # nn.GRU(4, 3): 3·3·4 + 3·3·3 + 2·3·3 = 36 + 27 + 18
    assert (report.total(Convention.ONNX), report.total(Convention.PYTORCH)) == (81, 81)
    assert Convention.PYTORCH not in row.unsupported
    assert "linear_before_reset=0 in a PyTorch export, which nn.GRU never computes (AL311): " \
        "PyTorch counts the nn.GRU it was exported from, which holds these W, R and both " \
        "biases" in row.notes


def test_another_producers_gru_with_linear_before_reset_0_has_no_pytorch_count() -> None:
    from archlint.params import Convention

    report, row = _row("tf1_rnn/gru_bi.onnx")
    assert report.total(Convention.PYTORCH) is None
    assert row.unsupported[Convention.PYTORCH].startswith("nn.GRU always applies the reset gate")


def test_coupled_input_and_forget_gates_have_no_framework_layer() -> None:
    from archlint.params import Convention

    report, row = _row("onnxmltools/lstm_cifg_opdefault.onnx")
    assert (report.total(Convention.PYTORCH), report.total(Convention.KERAS)) == (None, None)
    assert row.unsupported[Convention.PYTORCH] == (
        "input_forget=1 couples the input and forget gates (f = 1 - i): nn.LSTM has no such "
        "gate")


def test_activations_nn_rnn_does_not_compute_have_no_pytorch_count() -> None:
    from archlint.params import Convention

    report, row = _row("onnxmltools/rnn_affine_opdefault.onnx")
    assert report.total(Convention.PYTORCH) is None
    assert report.total(Convention.KERAS) == 80
    assert row.unsupported[Convention.PYTORCH].endswith(
        "nn.RNN computes ['relu'] or ['tanh'] only, one for both directions")


ZERO_BIAS = json.loads((FIXTURES / "zero_bias" / "manifest.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(ZERO_BIAS))
def test_a_pytorch_exports_zero_bias_counts_as_the_modules(name: str) -> None:
    """nn.LSTM(3, 4, bidirectional) with its biases held at zero (288) and with bias=False
    (224): torch's exporters write an all-zero B for the first, none for the second."""
    from archlint.params import Convention

    report, row = _row(f"zero_bias/{name}")
    assert report.total(Convention.PYTORCH) == ZERO_BIAS[name]["torch_parameters"]
    if "zero_bias" in name:
        assert any(note.startswith("B (64 elements) is stored and every element is 0: "
                                   "torch's exporters write no B for bias=False")
                   for note in row.notes)
