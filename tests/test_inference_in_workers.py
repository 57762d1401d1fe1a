"""A -j worker infers its small models itself (archlint/inference.py, infer_small_models_here).

It answers what the child answers, byte for byte; an abort in onnx or a pass past the limit
ends the worker, silently, and the engine lints the models the pool had not reported again in
workers that infer in a child each: the report is -j 1's, that model's finding included.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archlint import inference

from .conftest import FIXTURES, REPO, run_archlint, without_timings

# a model whose inference aborts onnx (a -1 declared in value_info), twice in a folder: a
# -1 on a model input no longer aborts it (the loader infers it as a free dim)
ABORTS = [REPO / "tests" / "data" / "fuzz_regressions" / "onnx_inference_abort_value_info.onnx"
          ] * 2


def _run_python(script: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter: the mode is set for the whole process, and SIGALRM ends it."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, cwd=REPO, timeout=300, check=False)


def _folder(tmp_path: Path, extra: list[Path]) -> Path:
    """Real exports with ``extra`` among them (not first, not last)."""
    root = tmp_path / "models"
    exports = sorted((FIXTURES / "exported").glob("*.onnx"))[:5] \
        + sorted((FIXTURES / "keras").glob("*.onnx"))[:5]
    ordered = [*exports[:3], *extra, *exports[3:]]
    for i, src in enumerate(ordered):
        dest = root / f"group{i % 2}" / f"{i:02d}_{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    return root


def test_in_the_worker_the_answer_is_the_childs_for_every_committed_model(
    tmp_path: Path,
) -> None:
    """Every committed model below the size (fixtures and tests/data, binary and text; not the
    fuzz regressions that abort onnx): the same answer bytes and errors as the child's, and no
    child is started for them. The text models are serialized by another process (reading
    them loads onnx's extension, and a worker of such a process infers in a child)."""
    made = _run_python(f"""
        from pathlib import Path
        from archlint.loader import load_model
        out = Path({str(tmp_path)!r})
        for k, path in enumerate(sorted([*Path("fixtures").glob("**/*.onnx.txt"),
                                         *Path("tests/data").glob("**/*.onnx.txt")])):
            try:
                data = load_model(path, infer_shapes=False).proto.SerializeToString()
            except Exception:  # not a model: the loader says so before inference
                continue
            (out / f"{{k:04d}}.bin").write_bytes(data)
    """)
    assert made.returncode == 0, made.stderr
    proc = _run_python(f"""
        from pathlib import Path
        from archlint import inference, onnx_protos
        onnx_protos.prefer_standalone()  # as the console script: no onnx package
        payloads = []
        for path in sorted([*Path("fixtures").glob("**/*.onnx"),
                            *Path("tests/data").glob("**/*.onnx"),
                            *Path({str(tmp_path)!r}).glob("*.bin")]):
            if "fuzz_regressions" in path.parts:
                continue
            data = path.read_bytes()
            if len(data) < inference.IN_PROCESS_BYTES:
                payloads.append((path, data))
        child = [inference.start_inference(data).outcome() for _, data in payloads]
        inference.close_worker()
        assert inference.infer_small_models_here()
        here = [inference.start_inference(data).outcome() for _, data in payloads]
        assert not inference._WORKER, "a child was started"
        for (path, _), a, b in zip(payloads, child, here, strict=True):
            assert a.answer is not None, path
            assert (a.answer, a.error, a.data_prop_error) \\
                == (b.answer, b.error, b.data_prop_error), path
        print(len(payloads), sum(a.error is not None for a in child),
              sum(a.data_prop_error is not None for a in child))
    """)
    assert proc.returncode == 0, proc.stderr
    models, failed, data_prop_failed = map(int, proc.stdout.split())
    assert models > 450
    assert failed > 5 and data_prop_failed > 5  # the failing passes are compared too


def test_a_model_at_the_size_goes_to_the_child() -> None:
    proc = _run_python(f"""
        from archlint import inference
        assert inference.infer_small_models_here()
        data = open({str(ABORTS[0])!r}, "rb").read()
        size = inference.IN_PROCESS_BYTES  # a doc_string (field 6) that long makes it bigger
        big = data + b"\\x32" + bytes([size & 127 | 128, size >> 7 & 127 | 128, size >> 14]) \\
            + b"a" * size
        assert size < 1 << 21 and len(big) >= size
        outcome = inference.start_inference(big).outcome()
        assert inference._WORKER or outcome.error, "no child"
        print(outcome.error)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "crashed (SIGABRT)" in proc.stdout  # the child's finding, not this process's end


def test_an_abort_ends_the_worker_and_prints_nothing() -> None:
    proc = _run_python(f"""
        from archlint import inference
        assert inference.infer_small_models_here()
        inference.start_inference(open({str(ABORTS[0])!r}, "rb").read())
        print("survived")
    """)
    assert proc.returncode == -signal.SIGABRT
    assert proc.stdout == "" and proc.stderr == ""


def test_a_pass_past_the_limit_ends_the_worker() -> None:
    proc = _run_python(f"""
        from archlint import inference
        assert inference.infer_small_models_here(1e-6)
        inference.start_inference(open({str(FIXTURES / "exported" / "lstm_4_2.onnx")!r},
                                       "rb").read())
        print("survived")
    """)
    assert proc.returncode == -signal.SIGALRM
    assert proc.stdout == ""


def test_under_a_runtime_deadline_a_model_goes_to_the_child() -> None:
    """A runtime check's deadline counts from the request to the answer read, the caller's
    own work between them included (inference.PendingInference): only the child keeps it."""
    proc = _run_python(f"""
        from archlint import inference
        assert inference.infer_small_models_here()
        data = open({str(FIXTURES / "exported" / "lstm_4_2.onnx")!r}, "rb").read()
        outcome = inference.start_inference(data, timeout=5.0).outcome()
        assert inference._WORKER and outcome.error is None, outcome
        print("child")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "child"


def test_where_the_caller_imported_onnx_models_go_to_the_child() -> None:
    """The Python API's caller may have registered schemas of its own in onnx's extension
    (onnx.defs.register_schema), which the child does not have: a worker forked from it
    infers in a child, as -j 1 does."""
    proc = _run_python("""
        import onnx
        from archlint import inference
        print(inference.infer_small_models_here())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_without_the_extension_models_go_to_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "_extension_path", lambda folders: None)
    monkeypatch.delitem(sys.modules, "onnx.onnx_cpp2py_export", raising=False)
    monkeypatch.setattr(inference, "_HERE", [])
    assert not inference.infer_small_models_here()
    assert not inference._HERE


def test_two_jobs_report_an_abort_as_one_job_does_and_print_nothing(tmp_path: Path) -> None:
    """The console script on a folder where two models abort onnx: the worker that infers the
    first one ends; the rest are linted in workers with a child each. The JSON is -j 1's,
    with both AL001 findings and the child's last words; stderr stays empty."""
    root = _folder(tmp_path, ABORTS)
    serial = run_archlint("lint", str(root), "--format", "json", "--exit-zero", "-q", "-j", "1")
    parallel = run_archlint("lint", str(root), "--format", "json", "--exit-zero", "-q", "-j", "2")
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    assert parallel.stderr == ""
    assert without_timings(parallel.stdout) == without_timings(serial.stdout)
    crashed = [f for m in json.loads(parallel.stdout)["models"] for f in m["findings"]
               if f["code"] == "AL001" and "crashed (SIGABRT)" in f["message"]]
    assert len(crashed) == 2
    assert all("Assertion" in f["message"] for f in crashed)


def test_a_broken_pool_ends_while_a_worker_sends_back_big_reports(tmp_path: Path) -> None:
    """200 exports whose reports are big, the aborting model among them: when its worker ends,
    the other one may be blocked sending results into a pipe nobody reads any more. It is
    stopped (it once ignored the pool's SIGTERM through the CLI's handler, and -j 2 hung for
    ever); the report is -j 1's."""
    root = tmp_path / "models"
    root.mkdir()
    export = (FIXTURES / "stacked_cells" / "bi_gru_gru.onnx").read_bytes()  # 4 findings
    for i in range(200):
        (root / f"m{i:03d}.onnx").write_bytes(export)
    (root / "m100a.onnx").write_bytes(ABORTS[0].read_bytes())
    args = ("lint", str(root), "--format", "json", "--exit-zero", "-q")
    serial = run_archlint(*args, "-j", "1")
    parallel = run_archlint(*args, "-j", "2", timeout=120)  # TimeoutExpired: the hang
    assert parallel.returncode == 0, parallel.stderr
    assert parallel.stderr == ""
    assert without_timings(parallel.stdout) == without_timings(serial.stdout)
    assert len(json.loads(serial.stdout)["models"]) == 201


def test_workers_that_run_past_the_limit_are_replaced(tmp_path: Path) -> None:
    """Every worker of the first pool ends on its first model (a limit no pass can meet): the
    second pool's workers lint every model, and the report, in order, is -j 1's. Through the
    Python API in a process that has not imported onnx, as the CLI's."""
    root = _folder(tmp_path, [])
    proc = _run_python(f"""
        import dataclasses, sys
        from archlint import inference, onnx_protos
        onnx_protos.prefer_standalone()  # as the console script: no onnx package
        from archlint.app import lint
        def timeless(report):
            return [dataclasses.replace(m, elapsed_s=0.0) for m in report.models]
        assert "onnx.onnx_cpp2py_export" not in sys.modules  # the workers infer in themselves
        inference.IN_PROCESS_LIMIT_S = 1e-6
        seen = []
        parallel, _ = lint([{str(root)!r}], respect_gitignore=False, jobs=2,
                           on_model=lambda report: seen.append(report.path))
        serial, _ = lint([{str(root)!r}], respect_gitignore=False, jobs=1)
        assert len(serial.models) == 10
        assert timeless(parallel) == timeless(serial)
        assert seen == [m.path for m in serial.models]
        print("same")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "same"
