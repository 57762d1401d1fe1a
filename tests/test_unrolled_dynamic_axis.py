"""AL317 on a real export: an nn.LSTMCell called in a Python loop, exported by torch's classic
exporter with the time axis declared dynamic, traced at 6 steps
(fixtures/AL317/make_torch_cell_loop.py; its manifest records what onnxruntime does)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import FIXTURES, run_archlint

HERE = FIXTURES / "AL317"


def test_a_cell_loop_traced_at_six_steps_is_an_error_where_time_is_dynamic() -> None:
    runs = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert runs["time=6"]["max_abs_diff_vs_torch"] < 1e-6
    assert runs["time=9"]["max_abs_diff_vs_torch"] > 0.01  # runs, reading 6 of 9 steps
    assert "out of data bounds" in runs["time=4"]["onnxruntime_error"]
    proc = run_archlint("lint", str(HERE / "torch_lstm_cell_loop.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [model] = json.loads(proc.stdout)["models"]
    found = [(f["code"], f["severity"], f["location"]["node"], f["location"]["tensor"],
              f["actual"]) for f in model["findings"]]
    assert found == [
        ("AL025", "info", "/cell/Gemm", None, "an unrolled chain of 6 per-step MatMuls"),
        ("AL317", "error", "/cell/Gemm", "x", "6 steps unrolled over dynamic 'time'")]


def test_the_runtime_warning_at_too_short_a_length_names_the_unrolled_steps() -> None:
    """The default time (5) is below the 6 traced steps: onnxruntime fails, and AL514 asked
    for other sizes as if the model needed them. Its help now says the layer is unrolled to
    6 steps (AL317): no size makes it right."""
    proc = run_archlint("lint", "--runtime", "--select", "AL514", "--format", "json",
                        str(HERE / "torch_lstm_cell_loop.onnx"))
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert finding["code"] == "AL514"
    assert finding["help"].endswith(
        "This model holds recurrent layers unrolled to 6 steps (AL317): below that length "
        "they fail and above it they read only the first steps, whatever sizes are given.")


def test_the_same_steps_over_a_fixed_axis_are_no_finding() -> None:
    """Keras 3 with the torch backend and a fixed time axis (6): the chain is the sequence."""
    proc = run_archlint("lint", str(FIXTURES / "keras3_torch" / "lstm_dynamic.onnx"),
                        "--select", "AL317", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"][0]["findings"] == []


def test_a_window_of_the_last_steps_is_no_finding(tmp_path: Path) -> None:
    """Three steps cut as x[:, -3], x[:, -2], x[:, -1]: a window of the last steps of a
    dynamic sequence, which a model may mean (it runs at every length of 3 or more). AL317
    reports only a chain over the head of the axis, x_0 ... x_{N-1}."""
    text = (HERE / "bad.onnx.txt").read_text(encoding="utf-8")
    for k, index in enumerate((-3, -2, -1)):
        text = text.replace(f"i{k} = Constant <value: tensor = int64 {{{k}}}>",
                            f"i{k} = Constant <value: tensor = int64 {{{index}}}>")
    assert "{-3}" in text and "{-1}" in text
    path = tmp_path / "window.onnx.txt"
    path.write_text(text, encoding="utf-8")
    proc = run_archlint("lint", str(path), "--format", "json")
    model = json.loads(proc.stdout)["models"][0]
    assert (model["recurrent_layers"], [f["code"] for f in model["findings"]]) == (1, ["AL025"])


def test_steps_cut_from_their_own_cast_of_the_sequence_are_one_sequence(tmp_path: Path) -> None:
    """A float16 converter that keeps the inputs float gives each reader of x its own Cast
    (onnxconverter-common's keep_io_types): each step then cuts a different tensor, Cast_k(x),
    and the chain was no longer cut from one sequence. AL317 reads through the casts."""
    text = (HERE / "bad.onnx.txt").read_text(encoding="utf-8")
    for k in range(3):
        text = text.replace(f"[x{k}] x{k} = Gather <axis: int = 1> (x, i{k})",
                            f"[c{k}] c{k} = Cast <to: int = 1> (x)\n"
                            f"  [x{k}] x{k} = Gather <axis: int = 1> (c{k}, i{k})")
    assert text.count("Cast <to") == 3
    path = tmp_path / "casts.onnx.txt"
    path.write_text(text, encoding="utf-8")
    proc = run_archlint("lint", str(path), "--format", "json")
    findings = json.loads(proc.stdout)["models"][0]["findings"]
    assert [(f["code"], f["actual"]) for f in findings] == [
        ("AL025", "an unrolled chain of 3 per-step MatMuls"),
        ("AL317", "3 steps unrolled over dynamic 'seq'")]


def test_a_traced_loop_that_is_no_recurrent_layer_is_found_by_its_step_reads() -> None:
    """fixtures/AL317/make_torch_crf_loop.py: a BiLSTM-CRF's forward algorithm, a Python loop
    over the emissions with no weight product per step, traced at 7 steps (the torch library
    sweep: pytorch-crf passed lint, and lint --runtime gave only AL514 blaming archlint's
    sizes). The steps are read one by one at constant indices 0..6 of the dynamic T, and
    nothing else reads the emissions: an error; the CRF's mask steps are the same loop."""
    runs = json.loads((HERE / "manifest_crf.json").read_text(encoding="utf-8"))["runs"]
    assert runs["T=7"]["max_abs_diff_vs_torch"] < 1e-5
    assert runs["T=12"]["max_abs_diff_vs_torch"] > 1.0  # runs, wrong: steps 7.. ignored
    assert "out of data bounds" in runs["T=4"]["onnxruntime_error"]
    proc = run_archlint("lint", str(HERE / "torch_crf_loop.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["location"]["tensor"], finding["expected"], finding["actual"]) == (
        "AL317", "error", "/Gather_6", "/emit/Add_output_0", "a loop over 'T', or 'T' fixed at 7",
        "steps 0..6 read at constant indices")
    assert finding["message"].endswith(
        "one at a time at constant indices: a loop traced at 7 steps; at T < 7 onnxruntime "
        "fails, and at T > 7 the steps after 6 are never read")


def test_steps_read_at_constant_indices_need_three_from_the_head(tmp_path: Path) -> None:
    """x[:, 0] and x[:, 1] (two steps), or steps 2, 3, 4 (not from the head), or the last
    steps from the end (negative indices) are no finding; 0, 1, 2 is, and a warning where
    another node reads x whole."""
    def model(indices: list[int], whole: bool) -> Path:
        lines = [f"    s{k} = Gather <axis = 1> (x, i{k})" for k in range(len(indices))]
        inits = ", ".join(f"int64 i{k} = {{{index}}}" for k, index in enumerate(indices))
        adds = " ".join(f"s{k}," for k in range(len(indices))).rstrip(",")
        extra = ", float[batch, seq, 2] z" if whole else ""
        text = ("<ir_version: 8, opset_import: [\"\" : 17]>\n"
                f"g (float[batch, seq, 2] x) => (float[batch, 2] y{extra})\n"
                f"<{inits}>\n{{\n" + "\n".join(lines)
                + f"\n    y = Sum ({adds})\n" + ("    z = Relu (x)\n" if whole else "") + "}\n")
        path = tmp_path / f"m{'_'.join(map(str, indices))}{'_w' if whole else ''}.onnx.txt"
        path.write_text(text)
        return path

    def found(path: Path) -> list[tuple[str, str]]:
        proc = run_archlint("lint", str(path), "--select", "AL317", "--format", "json",
                            "--exit-zero")
        return [(f["code"], f["severity"])
                for f in json.loads(proc.stdout)["models"][0]["findings"]]

    assert found(model([0, 1], False)) == []
    assert found(model([2, 3, 4], False)) == []
    assert found(model([-1, -2, -3], False)) == []
    assert found(model([0, 1, 2], False)) == [("AL317", "error")]
    assert found(model([0, 1, 2], True)) == [("AL317", "warning")]


def test_a_traced_loop_over_unbind_is_found_by_its_split_into_steps_of_one() -> None:
    """fixtures/AL317/make_torch_unbind_loop.py: a stabilised exponential-gated recurrence
    (sLSTM-like, no weight product per step) over x.unbind(1), traced at 6 steps: one Split
    into six steps of one for x and one for its gates. onnxruntime runs at T=6 only (the
    torch library sweep's xLSTM sLSTM: "no recurrent layer", no finding)."""
    runs = json.loads((HERE / "manifest_unbind.json").read_text(encoding="utf-8"))["runs"]
    assert runs["T=6"]["max_abs_diff_vs_torch"] < 1e-5
    assert "Split" in runs["T=4"]["onnxruntime_error"]
    assert "Split" in runs["T=9"]["onnxruntime_error"]
    proc = run_archlint("lint", str(HERE / "torch_unbind_loop.onnx"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["models"][0]["findings"]
    assert (finding["code"], finding["severity"], finding["location"]["node"],
            finding["expected"], finding["actual"]) == (
        "AL317", "error", "/Split", "a loop over 'T', or 'T' fixed at 6",
        "split into 6 steps of one")
