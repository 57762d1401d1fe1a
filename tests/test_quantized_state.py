"""A recurrence whose Loop or Scan carries its state quantized (fixtures/quantized_state/).

tract's test LSTM of a Kaldi model (converted by snips) is a Scan whose state travels as
int8: archlint took only floating-point carried values as states, said "no recurrent
layer" and did not list the Scan as not checked. An 8- or 16-bit integer carried value is
now a state too: a cell the matcher knows is a loop cell, one it does not is listed.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import FIXTURES, invoke

SCAN = FIXTURES / "quantized_state" / "int8_state_scan.onnx.txt"


def test_a_scan_carrying_an_int8_state_is_a_loop_cell() -> None:
    from archlint.app import count_paths

    [report] = count_paths([str(SCAN)])
    [row] = [r for r in report.layers if r.kind == "recurrent"]
    assert (row.node, row.op_type, row.recognised_as, row.direction) == (
        "scan", "RNN", "loop-cell", "forward")
    assert (row.input_size, row.hidden_size or row.implied_hidden_size, row.output_shape) \
        == (2, 3, (6, 1, 3))


def test_a_scan_carrying_an_int8_state_it_cannot_read_is_listed(tmp_path: Path) -> None:
    """Sin is no activation of an ONNX cell: no layer, but the Scan is named as not
    checked rather than passed over."""
    path = tmp_path / "sine.onnx.txt"
    path.write_text(SCAN.read_text().replace("h_out = Tanh (z)", "h_out = Sin (z)"))
    result = invoke("lint", str(path))
    assert result.exit_code == 0, result.output
    assert (f"not checked: {path}: recurrent-looking ops archlint cannot see into: "
            "main/scan (Scan)") in result.output.splitlines()
