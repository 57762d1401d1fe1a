"""`archlint params`: output formats, exit codes, and external data that is never read."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import onnx
import pytest
from markdown_it import MarkdownIt
from onnx import TensorProto, helper

from archlint.params import CONVENTIONS_TEXT
from archlint.params_columns import MACS_TEXT, TRAINABLE_NOTE

from .conftest import FIXTURES, REPO, invoke, run_archlint

EXPORTED = FIXTURES / "exported"
SCHEMA = json.loads((REPO / "archlint" / "schemas" / "params-v1.schema.json").read_text())
MANIFEST = json.loads((EXPORTED / "manifest.json").read_text())
LSTM_4_2 = str(EXPORTED / "lstm_4_2.onnx")
EMBED = str(EXPORTED / "embed_lstm.onnx")
AL201_BAD = str(FIXTURES / "AL201" / "bad.onnx.txt")


def test_text_table_for_one_model() -> None:
    result = invoke("params", LSTM_4_2)
    assert result.exit_code == 0
    # nn.LSTM(4, 2): 64 float32 parameters = 256 bytes; 4·H·(I+H) = 4·2·6 = 48 MACs per step
    assert result.output.splitlines() == [
        LSTM_4_2,
        "  node       op    recognised  output              direction  D  I  H   W   R   B  "
        "ONNX  PyTorch  Keras  dtype    bytes  MACs/step",
        "  /rnn/LSTM  LSTM  native      [seq, 1, batch, 2]  forward    1  4  2  32  16  16    "
        "64       64     56  float32    256         48",
        "  total                                                                              "
        "64       64     56             256         48",
        "  Total params (ONNX): 64 (256 B, float32); MACs per step: 48",
        f"  {TRAINABLE_NOTE}",
    ]


def test_text_notes_say_why_a_convention_is_missing() -> None:
    result = invoke("params", AL201_BAD)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    gru = ("  gru_0   GRU   native      [seq, 1, batch, 2]  forward    1  4  2  24  12  18    54"
           "      n/a    n/a  float32    216         36")
    assert gru in lines
    assert ("  gru_0: PyTorch and Keras n/a: B disagrees with the other weights on H (AL201); "
            "only the ONNX count is certain") in lines


def test_summary_of_the_exported_folder() -> None:
    """The Makefile's demo runs exactly this."""
    result = invoke("params", str(EXPORTED), "--summary")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"Summary ({len(MANIFEST) - 1} models)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    for name, entry in MANIFEST.items():
        if name.endswith(".onnx"):
            _layers, _onnx, pytorch, _keras = rows[str(EXPORTED / name)]
            assert int(pytorch.replace(",", "")) == entry["torch_param_count"], name
    total_pytorch = sum(e["torch_param_count"] for n, e in MANIFEST.items() if n != "_generator")
    assert lines[-1].split()[:2] == ["all", "models"]
    assert int(lines[-1].split()[4].replace(",", "")) == total_pytorch


def _markdown() -> MarkdownIt:
    """CommonMark plus GFM tables: what a pull-request comment renders."""
    return MarkdownIt("commonmark").enable("table")


def _markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table in the rendered Markdown, as rows of cell texts (header row first)."""
    tokens = _markdown().parse(text)
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            inline = tokens[index + 1]
            assert row is not None
            row.append(inline.content if inline.type == "inline" else "")
        elif token.type == "tr_close":
            assert row is not None
            tables[-1].append(row)
    return tables


def test_markdown_renders_as_tables() -> None:
    result = invoke("params", LSTM_4_2, EMBED, "--format", "markdown")
    assert result.exit_code == 0
    tables = _markdown_tables(result.output)
    assert len(tables) == 3  # two models and the summary
    header, lstm, total = tables[0]
    assert header == ["node", "op", "recognised", "output", "direction", "D", "I", "H", "W", "R",
                      "B", "ONNX", "PyTorch", "Keras", "dtype", "bytes", "MACs/step"]
    # cells as written (brackets escaped: they render as [seq, 1, batch, 2])
    assert lstm == ["/rnn/LSTM", "LSTM", "native", "\\[seq, 1, batch, 2\\]", "forward", "1", "4",
                    "2", "32", "16", "16", "64", "64", "56", "float32", "256", "48"]
    assert total[0] == "**total**" and total[-6:-3] == ["**64**", "**64**", "**56**"]
    assert tables[2][0] == ["model", "layers", "ONNX", "PyTorch", "Keras"]
    assert tables[2][-1][-3:] == ["**212**", "**212**", "**192**"]
    assert "<table>" in _markdown().render(result.output)


def test_markdown_escapes_pipes_in_node_names(tmp_path: Path) -> None:
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[seq, batch, 4] X, float[1, 8, 4] W, float[1, 8, 2] R)
            => (float[seq, 1, batch, 2] Y)
        { [placeholder] Y = LSTM <hidden_size: int = 2> (X, W, R) }
    """)
    model.graph.node[0].name = "a|b_*c*"  # the text format cannot spell such a name
    onnx.save_model(model, tmp_path / "m.onnx")
    result = invoke("params", str(tmp_path / "m.onnx"), "--format", "markdown")
    (table,) = _markdown_tables(result.output)
    assert table[1][0] == r"a|b\_\*c\*"  # the table parser unescapes only the pipe
    assert len(table[1]) == len(table[0])
    assert "a|b_*c*" in _markdown().render(result.output)


def test_csv_opens_with_the_csv_module() -> None:
    result = invoke("params", LSTM_4_2, AL201_BAD, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["node"], r["op_type"], r["onnx"], r["pytorch"], r["keras"]) for r in rows] == [
        ("/rnn/LSTM", "LSTM", "64", "64", "56"),
        ("lstm_0", "LSTM", "84", "84", "84"),
        ("gru_0", "GRU", "54", "", ""),
    ]
    assert rows[0]["W"] == "32" and rows[0]["B"] == "16" and rows[0]["P"] == ""
    assert rows[2]["notes"].startswith("pytorch n/a: B disagrees")
    summary = list(csv.DictReader(io.StringIO(
        invoke("params", LSTM_4_2, "--format", "csv", "--summary").output)))
    assert summary == [{"model": LSTM_4_2, "layers": "1", "onnx": "64", "pytorch": "64",
                        "keras": "56", "error": ""}]


@pytest.mark.parametrize("folder", ["dynamic_quantized", "matmul_nbits", "qoperator",
                                    "quantized_lookup", "quantized_ops"])
def test_quantized_models_json_validates_against_the_documented_schema(folder: str) -> None:
    """A quantized product's slots (quantize_dynamic's weight, w_scale, w_zero_point; a
    QLinearMatMul's bias, b_scale, b_zero_point; MatMulNBits' blocks) are in the schema's
    slot names: they were not, and every quantized model's JSON failed the schema."""
    report = json.loads(invoke("params", str(FIXTURES / folder), "--format", "json").stdout)
    jsonschema.validate(report, SCHEMA)
    slots = {slot["slot"] for model in report["models"] for layer in model["layers"]
             for slot in layer["slots"]}
    assert slots & {"w_scale", "w_zero_point", "b_scale", "b_zero_point"}


@pytest.mark.parametrize("summary", [False, True])
def test_json_validates_against_the_documented_schema(summary: bool, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    args = ["params", LSTM_4_2, EMBED, AL201_BAD, str(EXPORTED / "gru_linear_head.onnx"),
            "--format", "json", "--max-params", "100", "--layer-limit", "/rnn/*=50",
            "--convention", "keras"]
    result = invoke(*args, *(["--summary"] if summary else []))
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["convention"] == "keras"
    assert report["budgets"] == {"max-params": 100, "layer-limits": {"/rnn/*": 50}}
    by_path = {m["path"]: m for m in report["models"]}
    assert by_path[LSTM_4_2]["totals"] == {"onnx": 64, "pytorch": 64, "keras": 56}
    assert by_path[AL201_BAD]["totals"] == {"onnx": 138, "pytorch": None, "keras": None}
    assert [f["check"] for f in by_path[EMBED]["budget_failures"]] == ["max-params",
                                                                        "layer-limits"]
    assert result.exit_code == 1
    assert (by_path[LSTM_4_2]["layers"] == []) is summary
    # An unreadable model is part of the JSON too, and still validates.
    with_error = json.loads(invoke("params", LSTM_4_2, str(broken), "--format", "json").stdout)
    jsonschema.validate(with_error, SCHEMA)
    assert with_error["summary"]["unreadable"] == 1


def test_exit_codes() -> None:
    assert invoke("params", LSTM_4_2, "--max-params", "64").exit_code == 0
    over = invoke("params", LSTM_4_2, "--max-params", "63")
    assert over.exit_code == 1
    assert f"{LSTM_4_2}: max-params: 64 ONNX parameters exceed max-params=63 by 1" in over.output
    keras = invoke("params", LSTM_4_2, "--expect-params", "64", "--convention", "keras")
    assert keras.exit_code == 1
    assert "expected 64 Keras parameters, found 56 (8 fewer)" in keras.output
    assert invoke("params", LSTM_4_2, "--expect-params", "56", "--convention",
                  "keras").exit_code == 0
    assert invoke("params", LSTM_4_2, "--max-params", "lots").exit_code == 2
    assert invoke("params", LSTM_4_2, "--layer-limit", "nothing").exit_code == 2
    assert invoke("params").exit_code == 2


def test_unreadable_model_is_one_line_and_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    proc = run_archlint("params", LSTM_4_2, str(broken))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"archlint: error: {broken}: not an ONNX model")
    assert proc.stdout.startswith(LSTM_4_2)  # the readable model is still reported
    missing = run_archlint("params", str(tmp_path / "nope.onnx"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2, f"archlint: error: {tmp_path / 'nope.onnx'}: no such file or folder")


def test_explain_prints_the_conventions_and_docs_carry_them() -> None:
    result = invoke("params", "--explain")
    assert result.exit_code == 0 and result.output == CONVENTIONS_TEXT + "\n" + MACS_TEXT
    assert "LSTM(2) on 4 input features = 32 + 16 + 8 = 56" in result.output
    docs = (REPO / "docs" / "params.md").read_text()
    assert CONVENTIONS_TEXT in docs, "docs/params.md must quote `archlint params --explain`"
    assert MACS_TEXT in docs


def test_unmatched_layer_limit_is_a_note_not_a_failure() -> None:
    result = invoke("params", LSTM_4_2, "--layer-limit", "encoder*=10")
    assert result.exit_code == 0
    assert "note: layer limit 'encoder*' matches no layer" in result.output


# --- external data: counted from dims, never read -----------------------------------------------


def _external(name: str, dims: list[int], location: str) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    size = 4
    for dim in dims:
        size *= dim
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _big_external_model(folder: Path) -> Path:
    """Bidirectional LSTM(512, 256) plus a 2 GiB MatMul weight, all in external data.

    weights.bin is a FIFO without a writer (opening it for reading blocks forever); big.bin is
    a sparse 2 GiB file (reading it would take 2 GiB of memory).
    """
    os.mkfifo(folder / "weights.bin")
    with (folder / "big.bin").open("wb") as handle:
        handle.truncate(2**31)
    inits = [
        _external("W", [2, 1024, 512], "weights.bin"),
        _external("R", [2, 1024, 256], "weights.bin"),
        _external("B", [2, 2048], "weights.bin"),
        _external("big", [256, 2**21], "big.bin"),
    ]
    nodes = [
        helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h"], name="bilstm",
                         hidden_size=256, direction="bidirectional"),
        helper.make_node("MatMul", ["Y_h", "big"], ["Z"], name="huge_head"),
    ]
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "b", 512])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "model.onnx"
    onnx.save_model(model, path)
    return path


_MEASURE = """
import resource, sys
from archlint.cli import main
try:
    main(sys.argv[1:])
finally:
    sys.stderr.write("maxrss_kib=%d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a POSIX FIFO")
def test_external_data_is_counted_from_dims_without_reading(tmp_path: Path) -> None:
    path = _big_external_model(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    proc = run_archlint("params", str(path), "--format", "json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (model,) = report["models"]
    lstm, head = model["layers"]
    assert lstm["params"] == {"onnx": 1_576_960, "pytorch": 1_576_960, "keras": 1_574_912}
    assert head["params"]["onnx"] == 2**29  # 2 GiB of float32
    assert model["totals"]["pytorch"] == 1_576_960 + 2**29
    # Memory: the child never held the 2 GiB tensor (nor a copy for shape inference).
    measured = subprocess.run([sys.executable, "-c", _MEASURE, "params", str(path), "--summary"],
                              capture_output=True, text=True, timeout=120, check=False)
    assert measured.returncode == 0, measured.stderr
    found = re.search(r"maxrss_kib=(\d+)", measured.stderr)
    assert found is not None, measured.stderr
    assert int(found.group(1)) // 1024 < 1024  # MiB
    # archlint wrote nothing next to the model.
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_readme_shows_real_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the README's paths are relative to the repository root
    readme = (REPO / "README.md").read_text()
    command = "archlint params fixtures/exported/embed_lstm.onnx fixtures/exported/lstm_4_2.onnx"
    block = readme.split(f"Real output (`{command}`):\n\n```text\n", 1)[1].split("```", 1)[0]
    args = command.split()[1:]
    assert invoke(*args).output == block


def test_docs_quote_real_output() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_params_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "params.md"
    result = invoke("params", LSTM_4_2, "--format", "markdown", "-o", str(target))
    assert (result.exit_code, result.stdout) == (0, "")
    assert target.read_text().startswith("### ")


@pytest.mark.parametrize("module", ["archlint.cli.params", "archlint.cli.run", "archlint.app",
                                    "archlint.params", "archlint.reporters.params_report"])
def test_modules_import_first_in_a_fresh_interpreter(module: str) -> None:
    """Every module imports on its own in a fresh interpreter (no import cycle through the CLI)."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
