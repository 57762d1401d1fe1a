"""Shape inference isolated in a child process: an abort or a hang in onnx's C++ is a finding.

A hostile (or merely unlucky) model can make ``onnx.shape_inference`` abort, crash or loop
(tests/data/fuzz_regressions holds one), so it never runs in archlint's own process (a -j
worker, which the command does not need to survive, infers its small models itself: below,
``infer_small_models_here``). The child is a fresh interpreter (``sys.executable -I -S``)
running :mod:`archlint.inference_child`, started with :mod:`subprocess`: never ``os.fork`` of
this process, which is multi-threaded as soon as numpy is imported (OpenBLAS starts its thread
pool at import; a Jupyter kernel adds its own), where a forked child can deadlock on a lock
another thread held and CPython 3.12 warns (DeprecationWarning). It works wherever subprocess
does, Windows and macOS included.

The child loads only onnx's C++ extension and the standard library, and serves one model after
another: this process starts it once and reuses it (a new one after a crash or a timeout;
one child per model where ``select`` cannot wait on pipes, on Windows). Its stderr goes to a
temporary file: a C++ assertion text is kept for the finding, never printed over archlint's
output or pytest's. When the pass with data propagation kills the child, the model is tried
again without it: onnx's data propagation crashes on models that plain inference handles
(onnx issue #5212). Costs: docs/performance.md.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from archlint.cached import cached
from archlint.process_end import ends_after_command

if TYPE_CHECKING:  # imported where used: the CLI starts the worker before it imports onnx
    from onnx import ModelProto

__all__ = [
    "EARLY_INFERENCE_BYTES",
    "INFERENCE_TIMEOUT_S",
    "RAW_INFERENCE_BYTES",
    "InferenceOutcome",
    "PendingInference",
    "close_worker",
    "goes_early",
    "hand_over",
    "infer_isolated",
    "start_inference",
    "take_handed_over",
    "warm_up",
]

# Generous: inference of 100k nodes takes about 1 s.
INFERENCE_TIMEOUT_S = 300.0
# A file of at most this size without external data goes to inference as read (no
# serialization of its parsed model: archlint/loader.py's _inference_payload).
RAW_INFERENCE_BYTES = 64 * 1024**2
# A binary file from this size up goes to inference before this process parses it.
EARLY_INFERENCE_BYTES = 1024**2
# A request up to this size is written by the caller, and its answer read when it is asked
# for: no thread to start and no hand-over between threads (a small export's whole inference
# takes about 0.2 ms, a thread about 0.07 ms). Only up to what the request pipe holds (Linux:
# widened to this size where the system allows, else as it is; elsewhere PIPE_BUF), so the
# write never waits on the child: one that never reads (hung as it starts) is then cut at the
# deadline like any other, never waited for without end.
INLINE_REQUEST_BYTES = 256 * 1024

_CHILD = Path(__file__).with_name("inference_child.py")


@dataclass(frozen=True)
class InferenceOutcome:
    """What shape inference gave: the inferred model (main graph's initializers left out; None
    when no pass finished) and, one line each, why strict inference failed (``error``: with and
    without data propagation, or the child crashed or hung) and why the pass with data
    propagation failed (``data_prop_error``, set even when the pass without it succeeded).

    ``types`` is the answer as archlint/answer_types.py reads it (its graphs' declared types,
    nothing else decoded), where that reads it as onnx's schema would (:func:`_decode`); the
    whole model, ``inferred``, is then parsed from ``answer`` on first use. Otherwise
    ``whole`` holds it, parsed at once."""

    types: Any | None
    error: str | None
    data_prop_error: str | None
    answer: bytes = field(default=b"", repr=False)
    whole: ModelProto | None = field(default=None, repr=False)

    @cached
    def inferred(self) -> ModelProto | None:
        if self.whole is not None or self.types is None:
            return self.whole
        from archlint.onnx_protos import ModelProto

        inferred = ModelProto()
        try:
            inferred.ParseFromString(self.answer)
        except Exception:  # its types parsed, and protobuf's C++ wrote it: never seen
            return None
        return inferred


@dataclass(frozen=True)
class _ChildFailure:
    """Why the worker gave no answer: it crashed, hung or could not start."""

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
    return start_inference(prepare(model).SerializeToString(), timeout=timeout).outcome()


def start_inference(payload: bytes, *, timeout: float = INFERENCE_TIMEOUT_S) -> PendingInference:
    """Hand a serialized model (the file's own bytes, or the loader's skeleton) to the worker
    and return at once: the caller indexes the graph while the child infers, and waits only
    when it first needs a shape (:meth:`PendingInference.outcome`)."""
    return PendingInference(payload, timeout)


class PendingInference:
    """Shape inference under way in the worker; :meth:`outcome` waits for it (once).

    Every exchange with the worker happens under ``_LOCK``, and a worker holds at most one
    request: starting another inference first collects the answer still outstanding (into its
    own PendingInference), so an answer is never read by the wrong model."""

    def __init__(self, payload: bytes, timeout: float, *, data_prop: bool = True) -> None:
        self._payload = payload
        self._data_prop = data_prop
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._answer: bytes | _ChildFailure | None = None
        self._outcome: InferenceOutcome | None = None
        self._worker: _Worker | None = None
        self._exchange: _Exchange | None = None
        self._said_from = 0
        here = _answered_here(payload, data_prop, timeout)
        if here is not None:  # a -j worker's small model (infer_small_models_here)
            self._answer = here
            return
        if os.name != "posix":  # no select() on pipes: one child per request, now
            self._answer = b""  # decided in outcome()
            return
        request = _request(payload, data_prop=data_prop)
        with _LOCK:
            _settle_outstanding()
            worker = _shared_worker()
            if isinstance(worker, _ChildFailure):
                self._answer = worker
                return
            # a big model takes a while to pass through the pipe both ways, and this process
            # has the graph to index meanwhile: a thread writes it and reads the answer (a
            # child whose answer nobody reads would wait on a full pipe); a small one is
            # written now and its answer read when asked for (_Exchange)
            self._exchange = _Exchange(worker, request, self._deadline, self._timeout)
            self._said_from = self._exchange.said_from
            self._worker = worker
            _OUTSTANDING.append(self)

    def _collect(self) -> None:
        """Read this request's answer from the worker (called under ``_LOCK``)."""
        _OUTSTANDING.remove(self)
        worker, self._worker = self._worker, None
        assert worker is not None and self._exchange is not None
        try:
            answer = self._exchange.answer()
            if answer is None:  # still writing at the deadline: the child stopped reading
                answer = worker.hung(self._timeout)
        except BaseException:  # Ctrl-C or SIGTERM mid-inference: the child goes with us, now
            worker.process.kill()
            _close_worker()
            raise
        if isinstance(answer, _ChildFailure):
            _close_worker()  # a crashed or killed worker is never reused
        self._answer = answer

    def cancel(self) -> None:
        """Give this inference up (the model is not analysed after all, or goes as its
        skeleton): an answer already in is dropped; a worker still busy with it is killed,
        since it may be inferring what must not be inferred (a function that expands without
        end)."""
        with _LOCK:
            if self in _OUTSTANDING:
                assert self._exchange is not None
                if self._exchange.done():
                    self._collect()
                else:
                    _OUTSTANDING.remove(self)
                    worker, self._worker = self._worker, None
                    if worker is not None:
                        worker.process.kill()
                    _close_worker()
        self._answer = _ChildFailure("was cancelled", final=True)
        self._payload = b""

    def _abandon(self) -> None:
        """The worker is being closed with this request unanswered (called under ``_LOCK``)."""
        _OUTSTANDING.remove(self)
        self._worker = None
        self._answer = _ChildFailure("was stopped before it answered", final=True)

    def outcome(self) -> InferenceOutcome:
        if self._outcome is None:
            self._outcome = self._conclude(self.first_answer())
            self._payload = b""  # a second pass is no longer possible: free the model's bytes
        return self._outcome

    def first_answer(self) -> InferenceOutcome | _ChildFailure:
        """This pass's own answer (no second pass after a crash)."""
        if os.name != "posix":
            return _one_shot(_request(self._payload, data_prop=self._data_prop), self._timeout)
        with _LOCK:
            if self in _OUTSTANDING:
                self._collect()
        answer = self._answer
        assert answer is not None
        if isinstance(answer, _ChildFailure):
            return answer
        try:
            return _decode(answer)
        except ValueError:
            return _ChildFailure("returned an unreadable result")

    def _conclude(self, first: InferenceOutcome | _ChildFailure) -> InferenceOutcome:
        if isinstance(first, InferenceOutcome):
            return first
        if first.final:
            return InferenceOutcome(
                None, first.describe("(with data propagation)"), None)
        crashed_with = first.describe("with data propagation", "")
        second = _run_child(self._payload, data_prop=False, timeout=self._timeout)
        if isinstance(second, InferenceOutcome):
            return dataclasses.replace(second, data_prop_error=crashed_with)
        return InferenceOutcome(
            None,
            second.describe("with and without data propagation"),
            crashed_with)


class _Exchange:
    """One request and its answer. A big request goes on a thread: the model goes into the
    pipe and the answer comes out of it while the caller works (select and the pipe reads
    release the GIL). A small one is written at once and its answer read when asked for
    (:data:`INLINE_REQUEST_BYTES`)."""

    def __init__(self, worker: _Worker, request: Request, deadline: float,
                 timeout: float) -> None:
        self.said_from = worker.stderr_position()
        self._answer: bytes | _ChildFailure | None = None
        self._deadline = deadline
        self._timeout = timeout
        self._worker: _Worker | None = None  # an inline request's, until its answer is read
        self._thread: threading.Thread | None = None
        if sum(len(part) for part in request) > worker.inline_bytes:
            self._thread = threading.Thread(
                target=self._run, args=(worker, request),
                name="archlint-inference-io", daemon=True)
            self._thread.start()
            return
        self._worker = worker
        try:
            sent = worker.send(request)
        except BaseException:  # Ctrl-C mid-write: a half-written request ends the worker
            worker.process.kill()
            _close_worker()  # (the caller holds _LOCK) the next request gets a new one
            raise
        if isinstance(sent, _ChildFailure):
            self._answer = worker.died(self.said_from)
            self._worker = None

    def _run(self, worker: _Worker, request: Request) -> None:
        try:
            if isinstance(worker.send(request), _ChildFailure):
                self._answer = worker.died(self.said_from)
            else:
                self._answer = worker.receive(self.said_from, self._deadline, self._timeout)
        except (OSError, ValueError):  # the caller killed the worker and closed its pipes
            self._answer = _ChildFailure("was stopped before it answered", final=True)

    def done(self) -> bool:
        if self._thread is not None:
            return not self._thread.is_alive()
        return self._worker is None  # an inline answer is in once read

    def answer(self) -> bytes | _ChildFailure | None:
        """The answer or why there is none; None when the request was still being written at
        the deadline."""
        if self._thread is None:
            if self._worker is not None:
                worker, self._worker = self._worker, None
                try:
                    self._answer = worker.receive(self.said_from, self._deadline, self._timeout)
                except (OSError, ValueError):  # its pipes were closed under it
                    self._answer = _ChildFailure("was stopped before it answered", final=True)
            return self._answer
        self._thread.join(max(self._deadline - time.monotonic(), 0.0) + 1.0)
        return None if self._thread.is_alive() else self._answer


# A request as written to the worker: its 9-byte header and the model (not joined: a model of
# tens of megabytes is not copied once more).
Request = tuple[bytes, bytes]


def _request(payload: bytes, *, data_prop: bool) -> Request:
    return len(payload).to_bytes(8, "little") + bytes([int(data_prop)]), payload


def _run_child(
    payload: bytes, *, data_prop: bool, timeout: float
) -> InferenceOutcome | _ChildFailure:
    """One pass, waited for at once (the second pass, without data propagation)."""
    return PendingInference(payload, timeout, data_prop=data_prop).first_answer()


def lifeline_flag() -> str:
    """``--parent=PID[:main]`` for a child that must not outlive this process (PDEATHSIG
    follows the thread that started the child: set only when that is the main thread)."""
    main = threading.current_thread() is threading.main_thread()
    return f"--parent={os.getpid()}" + (":main" if main else "")


def _command() -> list[str]:
    onnx_folders = _package_folders("onnx")
    command = [sys.executable, "-I", "-S", str(_CHILD), lifeline_flag(),
               *_schema_flags(onnx_folders)]
    extension = _extension_path(onnx_folders)
    return command if extension is None else [*command, extension]


def _package_folders(name: str) -> list[Path]:
    """Where an installed package's modules lie, found without importing it (importing onnx
    takes longer than starting the worker)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    return [Path(f) for f in (spec.submodule_search_locations or ())] if spec else []


def _schema_flags(onnx_folders: list[Path]) -> list[str]:
    """Where the child finds protobuf, to answer without the weights (inference_child.
    _weight_stripper), and onnx's generated schema, to make invented dims unknown before it
    infers (inference_child._invented_dims_forgotten)."""
    protobuf_folders = _package_folders("google.protobuf")
    if not protobuf_folders or not onnx_folders:
        return []
    schema = onnx_folders[0] / "onnx_ml_pb2.py"
    if not schema.is_file():
        return []
    site = protobuf_folders[0].parent.parent  # .../site-packages/google/protobuf
    from archlint.inference_child import PROTOBUF_FLAG, SCHEMA_FLAG

    return [f"{PROTOBUF_FLAG}{site}", f"{SCHEMA_FLAG}{schema}"]


def _one_shot(request: Request, timeout: float) -> InferenceOutcome | _ChildFailure:
    with tempfile.TemporaryFile() as child_stderr:
        try:
            child = subprocess.Popen(_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=child_stderr)
        except OSError as exc:  # no usable sys.executable (an embedding application)
            return _ChildFailure(f"could not be started ({exc.strerror or exc})", final=True)
        with child:
            try:
                data, _ = child.communicate(b"".join(request), timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                return _ChildFailure(f"did not finish in {timeout:g} s", final=True)
            except BaseException:
                child.kill()
                raise
            status = child.wait()
        if status != 0 or len(data) < 8:
            return _ChildFailure(f"crashed ({_describe_exit(status)})",
                                 _last_words(child_stderr, 0))
    try:
        return _decode(data[8:])
    except ValueError:
        return _ChildFailure("returned an unreadable result")


# --- one worker per process, reused across models ----------------------------------------------
# Starting a child costs more than inferring most models (docs/performance.md), so one worker
# serves every model this process lints. It is replaced after a crash or a timeout, never
# shared with a forked copy of this process (its pipes would be read twice), and closed at exit;
# it also exits by itself when this process dies (its stdin closes).

_LOCK = threading.Lock()
_WORKER: list[_Worker] = []  # zero or one
_OUTSTANDING: list[PendingInference] = []  # zero or one: a request the worker has not answered


def _settle_outstanding() -> None:
    """Collect the answer still owed to an earlier request (under ``_LOCK``)."""
    while _OUTSTANDING:
        _OUTSTANDING[0]._collect()


class _Worker:
    def __init__(self) -> None:
        self.owner = os.getpid()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        try:
            self.process = subprocess.Popen(_command(), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self.stderr)
        except OSError:
            self.stderr.close()
            raise
        self.inline_bytes = _widen_pipes(self.process)  # the biggest request sent inline

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def stderr_position(self) -> int:
        return os.fstat(self.stderr.fileno()).st_size

    def send(self, request: Request) -> int | _ChildFailure:
        """Write one request; returns where the child's stderr stood before it."""
        assert self.process.stdin is not None
        said_from = self.stderr_position()
        try:
            for part in request:
                self.process.stdin.write(part)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # ValueError: closed by a kill
            return _ChildFailure("stopped reading its input")
        return said_from

    def receive(self, said_from: int, deadline: float, timeout: float) -> bytes | _ChildFailure:
        """The answer to the request sent last, or why there is none by ``deadline``."""
        assert self.process.stdout is not None
        answers = self.process.stdout.fileno()
        head = _read_exactly(answers, 8, deadline)
        if head is None or len(head) < 8:
            return self.died(said_from) if head is not None else self.hung(timeout)
        body = _read_exactly(answers, int.from_bytes(head, "little"), deadline)
        if body is None:
            return self.hung(timeout)
        return body

    def died(self, said_from: int) -> _ChildFailure:
        status = self.process.wait()
        return _ChildFailure(f"crashed ({_describe_exit(status)})",
                             _last_words(self.stderr, said_from))

    def hung(self, timeout: float) -> _ChildFailure:
        self.process.kill()
        return _ChildFailure(f"did not finish in {timeout:g} s", final=True)

    def close(self, *, wait: bool = True) -> None:
        """End the child: its input closed, it exits. ``wait=False`` (this process is about to
        end) kills it instead and leaves it to the kernel, which frees its memory (10-30 ms
        on a big model) while this process's caller goes on; init reaps it."""
        if self.owner == os.getpid():
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            if not wait:
                with contextlib.suppress(OSError):
                    self.process.kill()
                self.stderr.close()
                return
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def _shared_worker() -> _Worker | _ChildFailure:
    if _WORKER and not _WORKER[0].alive():
        _close_worker()
    if not _WORKER:
        try:
            _WORKER.append(_Worker())
        except OSError as exc:  # no usable sys.executable (an embedding application)
            return _ChildFailure(f"could not be started ({exc.strerror or exc})", final=True)
    return _WORKER[0]


def warm_up() -> None:
    """Start this process's worker now (it loads onnx's extension while the caller reads and
    parses the first model); a no-op where one runs, where each request gets its own, or in a
    -j worker that infers its small models itself (a big one starts the child then)."""
    if os.name == "posix" and not _HERE:
        with _LOCK:
            _shared_worker()


def _close_worker(*, wait: bool = True) -> None:
    _HANDED_OVER.clear()
    while _OUTSTANDING:
        _OUTSTANDING[0]._abandon()
    while _WORKER:
        _WORKER.pop().close(wait=wait)


def close_worker() -> None:
    """Stop this process's inference worker (the next inference starts a new one)."""
    with _LOCK:
        _close_worker()


def _close_at_exit() -> None:
    """At exit: a process that ends right after its command (the console script) does not
    wait for its worker to end as well (archlint/process_end.py)."""
    with _LOCK:
        _close_worker(wait=not ends_after_command())


atexit.register(_close_at_exit)


# --- a -j worker's small models, inferred in the worker itself ---------------------------------
# A -j worker (archlint/engine.py) is a process of its own that the command does not need to
# survive: a crash there ends the worker, not archlint. For a small model, a child of the worker
# costs more than the inference (a round trip through two pipes, and a second process a worker
# on a machine whose cores the workers already fill), so the worker infers it itself, with the
# child's own code (inference_child.answerer: the same answer, byte for byte). What the child
# turns into a finding ends the worker instead: an abort or a crash in onnx's C++ (its words
# silenced, as the child's are kept from the terminal), or a pass that runs past
# IN_PROCESS_LIMIT_S (SIGALRM, whose default action ends the process). The engine then lints
# every model the pool has not reported again in workers that infer in a child each, as -j 1
# does (the finding, its words and the second pass without data propagation come from there).

# A request below this size is inferred in the worker: a model that does not go early.
IN_PROCESS_BYTES = EARLY_INFERENCE_BYTES
# Small models infer in milliseconds; one that takes this long goes to a child after all.
IN_PROCESS_LIMIT_S = 10.0


@dataclass
class _Here:
    answer: Callable[[bytes, bool], bytes]  # inference_child.answerer's
    limit_s: float
    silent: int  # a descriptor on os.devnull: stderr while onnx works


_HERE: list[_Here] = []  # zero or one: set in a -j worker


def infer_small_models_here(limit_s: float = IN_PROCESS_LIMIT_S) -> bool:
    """Infer this process's small models in the process itself from now on (a -j worker,
    archlint/engine.py, as it starts: nothing else may, as a crash in onnx then ends the
    caller). Posix only (SIGALRM); False where it cannot be set up (onnx's extension not
    found), and models go to a child as before."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        return False
    extension = _extension_here()
    if extension is None:
        return False
    from archlint.answer_types import message_class
    from archlint.inference_child import WEIGHTLESS_SCHEMA, answerer, once
    from archlint.onnx_protos import ModelProto

    # made only for a big answer; where it cannot be, the answer goes back whole, as the child's
    weightless_class = once(lambda: message_class(WEIGHTLESS_SCHEMA, "archlint_weightless.Model"))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a pass past the limit ends the worker
    _HERE[:] = [_Here(answerer(extension, lambda: ModelProto, weightless_class),
                      max(limit_s, 1e-6), os.open(os.devnull, os.O_WRONLY))]  # 0: no timer
    return True


def _extension_here() -> Any:
    """onnx's C++ extension in this process: loaded by its path as the child loads it (the
    onnx package's import costs more than a small model's whole lint), and registered under
    its name, since onnx's modules, imported later, import it again (a second load of it
    fails; ``onnx.onnx_cpp2py_export`` as an attribute of the package is then missing, which
    onnx's own code never reads). None where it cannot be found or loaded, and where this
    process had loaded it already (the Python API's caller imported onnx): schemas the caller
    registered would change what it infers, and the child's is onnx's own."""
    name = "onnx.onnx_cpp2py_export"
    if name in sys.modules:
        return None
    path = _extension_path(_package_folders("onnx"))
    from archlint.inference_child import extension_at

    module = None if path is None else extension_at(path)
    if module is not None:
        sys.modules[name] = module
    return module


def _answered_here(payload: bytes, data_prop: bool, timeout: float) -> bytes | None:
    """The answer to a small request, inferred in this process where that is set up; None
    where the request goes to the child: also under a runtime check's deadline, which counts
    from the request to the answer read, the caller's own work between them included."""
    if not _HERE or len(payload) >= IN_PROCESS_BYTES or timeout < INFERENCE_TIMEOUT_S \
            or threading.current_thread() is not threading.main_thread():
        return None
    here = _HERE[0]
    saved = os.dup(2)
    os.dup2(here.silent, 2)  # an abort's words: the child's go to a file nobody shows
    signal.setitimer(signal.ITIMER_REAL, here.limit_s)
    try:
        return here.answer(payload, data_prop)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.dup2(saved, 2)
        os.close(saved)


# --- a model handed over before its reader is imported ----------------------------------------
def goes_early(data: bytes) -> bool:
    """Whether a binary file goes to inference as read, before it is parsed: big enough for
    the parse to matter, small enough to go whole, and without the key that external data
    carries (archlint/loader.py checks exactly once it has parsed the file; a wrong guess is
    cancelled)."""
    return EARLY_INFERENCE_BYTES <= len(data) <= RAW_INFERENCE_BYTES and b"location" not in data


@dataclass(frozen=True)
class _HandedOver:
    """A model file handed to the inference worker before the imports that read it."""

    path: str  # as os.path.realpath gives it
    data: bytes
    pending: PendingInference


_HANDED_OVER: list[_HandedOver] = []  # zero or one


def hand_over(path: str) -> None:
    """Start inference of the ONNX file at ``path`` now, as read, when :func:`goes_early`.

    The command line names the model before the modules that read it are imported (0.3-0.4 s:
    onnx, the engine, the rules), and the worker would sit idle meanwhile. The loader takes the
    inference only for the same bytes read from the same file (:func:`take_handed_over`); any
    other load, or a ``-j`` pool, cancels it, so a wrong guess costs time, never a result.
    Anything unusual (not a regular ``.onnx`` file, unreadable) is left to the loader."""
    if os.name != "posix" or _HANDED_OVER or not path.lower().endswith(".onnx"):
        return
    try:
        file_path = Path(path)
        status = file_path.stat()
        if not stat.S_ISREG(status.st_mode) \
                or not EARLY_INFERENCE_BYTES <= status.st_size <= RAW_INFERENCE_BYTES:
            return
        with file_path.open("rb") as file:
            data = file.read(RAW_INFERENCE_BYTES + 1)
    except (OSError, ValueError):
        return
    if goes_early(data):
        _HANDED_OVER.append(_HandedOver(os.path.realpath(path), data, start_inference(data)))


def take_handed_over(path: Path, data: bytes) -> tuple[bytes, PendingInference] | None:
    """The inference :func:`hand_over` started, when ``data`` (the loader's read of ``path``)
    is the very model it infers: returned with the handed-over bytes, so only one copy stays
    alive. Any other model cancels it (the worker serves one request at a time)."""
    with _LOCK:
        if not _HANDED_OVER:
            return None
        handed = _HANDED_OVER.pop()
    if handed.path == os.path.realpath(path) and handed.data == data:
        return handed.data, handed.pending
    handed.pending.cancel()
    return None


# Bytes the worker's answer pipe holds (Linux: F_SETPIPE_SZ, up to /proc/sys/fs/pipe-max-size,
# 1 MiB by default; 64 KiB otherwise).
PIPE_BYTES = 1 << 20
# What a pipe takes in one write without blocking, where its size cannot be asked for.
_PIPE_BUF: int = getattr(select, "PIPE_BUF", 512)


def _widen_pipes(process: subprocess.Popen[bytes]) -> int:
    """An answer pipe of 1 MiB rather than 64 KiB: a big answer (10-20 MB at 100k nodes) comes
    back in 16 times fewer reads, and the thread that reads it needs the GIL for each, which the
    main thread, busy indexing, yields only every switch interval (5 ms). The request pipe is
    widened to INLINE_REQUEST_BYTES only (the child, single-threaded, reads a big request
    without waiting on anyone), so a worker holds 1.25 MiB of the user's pipe allowance
    (pipe-user-pages-soft, 64 MiB by default), not 2. Best effort: the default sizes work,
    only slower. Returns what the request pipe holds (the biggest request written inline)."""
    if not sys.platform.startswith("linux") or process.stdout is None or process.stdin is None:
        return _PIPE_BUF
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    with contextlib.suppress(OSError):
        fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, INLINE_REQUEST_BYTES)
    try:
        held: int = fcntl.fcntl(process.stdin.fileno(), fcntl.F_GETPIPE_SZ)
    except OSError:
        return _PIPE_BUF
    return min(held, INLINE_REQUEST_BYTES)


def _read_exactly(fd: int, size: int, deadline: float) -> bytes | None:
    """``size`` bytes, fewer at EOF, or None when the deadline passes first."""
    chunks: list[bytes] = []
    missing = size
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _last_words(stderr: IO[bytes], start: int) -> str:
    """The first line the child wrote to stderr after ``start`` (a C++ assertion)."""
    stderr.seek(start)
    lines = stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
    return next((line for line in lines if line.strip()), "")[-200:]


def _extension_path(onnx_folders: list[Path]) -> str | None:
    """Where onnx's C++ extension lies: the child loads it by path."""
    import importlib.machinery

    for folder in onnx_folders:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidate = folder / f"onnx_cpp2py_export{suffix}"
            if candidate.is_file():
                return str(candidate)
    return None


# An AttributeProto whose ``type`` (field 20, a varint: tag bytes A0 01) is GRAPH (5) or
# GRAPHS (10), as protobuf writes it: where neither occurs, the answer holds no subgraph.
_SUBGRAPH_MARKS = (b"\xa0\x01\x05", b"\xa0\x01\x0a")


def _decode(data: bytes) -> InferenceOutcome:
    if len(data) < 8:
        raise ValueError("short result")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    from google.protobuf.message import DecodeError

    from archlint.answer_types import parse_types
    from archlint.inference_child import AS_SENT

    answer = data[8 + size :]
    error, data_prop_error = header.get("error"), header.get("data_prop_error")
    try:
        # Only its declared types are read (nodes and initializers come from the model as
        # read), through the types-only schema where it reads them as onnx's schema would:
        # a model as protobuf's C++ writes it (each field once) and without subgraphs (their
        # nesting, deeper once inferred, may pass protobuf's depth limit for the whole model
        # only, and an attribute's type may come twice, the unknown value last). Else the
        # whole model now, as before.
        if not header.get(AS_SENT) and not any(mark in answer for mark in _SUBGRAPH_MARKS):
            types = parse_types(answer)
            if types is not None:
                return InferenceOutcome(types, error, data_prop_error, answer)
        from archlint.onnx_protos import ModelProto

        whole = ModelProto()
        whole.ParseFromString(answer)
    except DecodeError as exc:
        raise ValueError(str(exc)) from None
    return InferenceOutcome(None, error, data_prop_error, whole=whole)


def _describe_exit(status: int) -> str:
    """``status`` as subprocess reports it: negative for a signal on POSIX."""
    if status < 0:
        try:
            return signal.Signals(-status).name
        except ValueError:
            return f"signal {-status}"
    return f"exit status {status}"
