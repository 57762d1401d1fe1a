"""Shape inference isolated in a child process: an abort or a hang in onnx's C++ is a finding.

A hostile (or merely unlucky) model can make ``onnx.shape_inference`` abort, crash or loop
(tests/data/fuzz_regressions holds one), so it never runs in archlint's own process. The child
is a fresh interpreter (``sys.executable -I -S``) running :mod:`archlint.inference_child`,
started with :mod:`subprocess`: never ``os.fork`` of this process, which is multi-threaded as
soon as numpy is imported (OpenBLAS starts its thread pool at import; a Jupyter kernel adds
its own), where a forked child can deadlock on a lock another thread held and CPython 3.12
warns (DeprecationWarning). It works wherever subprocess does, Windows and macOS included.

The child loads only onnx's C++ extension and the standard library: about 0.05-0.1 s per model
(docs/performance.md), where ``import onnx`` alone would be 0.5 s. Its stderr goes to a
temporary file: a C++ assertion text is kept for the finding, never printed over archlint's
output or pytest's. When the pass with data propagation kills the child, a second child runs
without it: onnx's data propagation crashes on models that plain inference handles (onnx
issue #5212).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from onnx import ModelProto

__all__ = ["INFERENCE_TIMEOUT_S", "InferenceOutcome", "infer_isolated"]

# Generous: inference of 100k nodes takes about 1 s.
INFERENCE_TIMEOUT_S = 300.0

_CHILD = Path(__file__).with_name("inference_child.py")


@dataclass(frozen=True)
class InferenceOutcome:
    """What shape inference gave: the inferred model (main graph's initializers left out; None
    when no pass finished) and, one line each, why strict inference failed (``error``: with and
    without data propagation, or the child crashed or hung) and why the pass with data
    propagation failed (``data_prop_error``, set even when the pass without it succeeded)."""

    inferred: ModelProto | None
    error: str | None
    data_prop_error: str | None


@dataclass(frozen=True)
class _ChildFailure:
    how: str  # "crashed (SIGABRT)", "did not finish in 300 s"
    said: str = ""  # the child's last words on stderr (a C++ assertion), or ""
    # No second child: a hang could last as long again, a child that cannot start won't.
    final: bool = False

    def describe(self, passes: str, outcome: str = "; shapes were not inferred") -> str:
        said = f": {self.said}" if self.said else ""
        return f"onnx shape inference {self.how} {passes}{said}{outcome}"


def infer_isolated(
    model: ModelProto,
    prepare: Callable[[ModelProto], ModelProto] = lambda model: model,
    *,
    timeout: float = INFERENCE_TIMEOUT_S,
) -> InferenceOutcome:
    """Infer shapes of ``prepare(model)`` (the loader's skeleton: weights stripped) in a child
    process; one more child without data propagation when the first one crashed."""
    payload = prepare(model).SerializeToString()
    first = _run_child(payload, data_prop=True, timeout=timeout)
    if isinstance(first, InferenceOutcome):
        return first
    if first.final:
        return InferenceOutcome(
            None, first.describe("(with data propagation)"), None)
    crashed_with = first.describe("with data propagation", "")
    second = _run_child(payload, data_prop=False, timeout=timeout)
    if isinstance(second, InferenceOutcome):
        return InferenceOutcome(second.inferred, second.error, crashed_with)
    return InferenceOutcome(
        None,
        second.describe("with and without data propagation"),
        crashed_with)


def _run_child(
    payload: bytes, *, data_prop: bool, timeout: float
) -> InferenceOutcome | _ChildFailure:
    command = [sys.executable, "-I", "-S", str(_CHILD)]
    extension = _extension_path()
    if extension is not None:
        command.append(extension)
    if not data_prop:
        command.append("--no-data-prop")
    with tempfile.TemporaryFile() as child_stderr:
        try:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=child_stderr)
        except OSError as exc:  # no usable sys.executable (an embedding application)
            return _ChildFailure(f"could not be started ({exc.strerror or exc})", final=True)
        with child:
            try:
                data, _ = child.communicate(payload, timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                return _ChildFailure(f"did not finish in {timeout:g} s", final=True)
            status = child.wait()
        child_stderr.seek(0)
        last_words = child_stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
    if status != 0:
        return _ChildFailure(f"crashed ({_describe_exit(status)})",
                             _first_meaningful(last_words)[-200:])
    try:
        return _decode(data)
    except (ValueError, DecodeError):
        return _ChildFailure("returned an unreadable result")


def _extension_path() -> str | None:
    from onnx import onnx_cpp2py_export

    path = getattr(onnx_cpp2py_export, "__file__", None)
    return str(path) if path else None


def _decode(data: bytes) -> InferenceOutcome:
    if len(data) < 8:
        raise ValueError("short result")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    inferred = ModelProto()
    inferred.ParseFromString(data[8 + size :])
    # Readers take initializers (and their dims) from the model as read.
    del inferred.graph.initializer[:]
    return InferenceOutcome(inferred, header.get("error"), header.get("data_prop_error"))


def _first_meaningful(lines: list[str]) -> str:
    """The C++ message, not the Python traceback header a crash may print after it."""
    return next((line for line in lines if line.strip()), "")


def _describe_exit(status: int) -> str:
    """``status`` as subprocess reports it: negative for a signal on POSIX."""
    if status < 0:
        try:
            return signal.Signals(-status).name
        except ValueError:
            return f"signal {-status}"
    return f"exit status {status}"
