"""A PyTorch export's GRU without linear_before_reset still counts as the nn.GRU it was.

torch's dynamo exporter of torch 2.10 and 2.11 leaves linear_before_reset out of an nn.GRU
(onnxscript#2852): the node computes another GRU, which AL311 reports, and the PyTorch column
said n/a where the module's count is known (a public bi-GRU classifier exported by torch 2.11:
89,989). Another producer's GRU with linear_before_reset=0 (Keras reset_after=False, TF1's
GRUCell) has no nn.GRU equivalent and stays n/a.
"""

from __future__ import annotations

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
