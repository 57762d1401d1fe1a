"""Children die with archlint (issue 18): SIGINT, SIGTERM and SIGKILL to `archlint run` on a
model that loops, and to `archlint lint` during a slow shape inference. Every process the test
starts carries a marker in its environment, which its children inherit; the process table is
then searched for that marker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from .hostile_support import long_chain, marked

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir() or sys.platform != "linux",
                                reason="reads the process table from /proc")


def _looping_model() -> onnx.ModelProto:
    """A Loop of 2^62 iterations: onnxruntime runs it until it is killed."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Identity", ["v"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "c", "X"], ["Y"], body=body, name="forever")],
        "loop",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])],
        [helper.make_tensor("M", TensorProto.INT64, [], [2**62]),
         helper.make_tensor("c", TensorProto.BOOL, [], [True])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("interrupts")
    onnx.save_model(_looping_model(), folder / "loop.onnx")
    onnx.save_model(long_chain(), folder / "chain.onnx")
    return {"run": folder / "loop.onnx", "lint": folder / "chain.onnx"}


CHILD = {"run": "archlint.runtime.worker", "lint": "inference_child.py"}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a shell that starts the tests in the background
    (``pytest &``) hands them SIGINT ignored, which Python, and so archlint, then keeps."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(command: str, model: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    marker = f"ARCHLINT_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "archlint", command, str(model)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    # wait (bounded) until the child we mean to orphan is at work
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(CHILD[command] in _cmdline(pid) for pid in marked(marker)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    # the child is now running the model (the Loop never ends) or inferring it: the chain's
    # inference takes most of a second on a fast machine, so a lint is caught well within it
    time.sleep(PAUSE[command])
    return proc, marker


PAUSE = {"run": 1.0, "lint": 0.25}


@pytest.mark.parametrize("command", ["run", "lint"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_no_child_and_no_temp_folder(
    models: dict[str, Path], tmp_path: Path, command: str, signum: int
) -> None:
    proc, marker = _start(command, models[command], tmp_path)
    assert any(CHILD[command] in _cmdline(pid) for pid in marked(marker))
    if command == "run":  # the run's folder of inputs and results exists while it runs
        assert [p.name[:13] for p in tmp_path.iterdir()
                if p.name.startswith("archlint")] == ["archlint-run-"]
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"Traceback" not in err
    time.sleep(1.0)
    assert marked(marker) == [], [_cmdline(pid) for pid in marked(marker)]
    # archlint-run-* removed (onnxruntime leaves a `.ses` file of its own in TMPDIR)
    assert [p for p in tmp_path.iterdir() if p.name.startswith("archlint")] == []


@pytest.mark.parametrize("command", ["run", "lint"])
def test_children_die_when_archlint_is_killed(
    models: dict[str, Path], tmp_path: Path, command: str
) -> None:
    """SIGKILL leaves archlint no chance to clean up: the kernel's PDEATHSIG (and the
    children's own watchdog) end them."""
    proc, marker = _start(command, models[command], tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    time.sleep(1.0)
    assert marked(marker) == [], [_cmdline(pid) for pid in marked(marker)]


def test_sigterm_to_a_parallel_lint_leaves_no_worker(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """`lint -j 2`: the pool's workers, and their inference children, end with archlint."""
    marker = f"ARCHLINT_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "TMPDIR": str(tmp_path)}
    second = tmp_path / "chain2.onnx"
    second.write_bytes(models["lint"].read_bytes())
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlint", "lint", "-j", "2", str(models["lint"]), str(second)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(CHILD["lint"] in _cmdline(pid) for pid in marked(marker)) == 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    time.sleep(1.0)
    assert marked(marker) == [], [_cmdline(pid) for pid in marked(marker)]


def test_a_finished_lint_leaves_no_worker_though_it_does_not_wait_for_its_end(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """The console script kills its inference worker at exit and leaves its teardown to the
    kernel (archlint/inference.py, _close_at_exit): nothing of it outlives the lint."""
    marker = f"ARCHLINT_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "archlint", "lint", str(models["lint"])],
                          env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    deadline = time.monotonic() + 10
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked(marker) == [], [_cmdline(pid) for pid in marked(marker)]
