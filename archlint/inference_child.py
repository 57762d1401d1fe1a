"""The worker process of archlint/inference.py: ONNX shape inference in passes.

Run as ``python -I -S inference_child.py [EXTENSION]``, it serves requests on stdin until
stdin closes: each is a serialized model (its large weights already replaced by graph inputs)
and a flag for the data-propagation pass; each answer on stdout is a JSON header
``{"data_prop_error": ..., "error": ..., "as_sent": ...}`` and the inferred model (framing in
:func:`main`).

It loads onnx's C++ extension (``onnx.onnx_cpp2py_export``, path EXTENSION) by itself and
works on bytes: importing the onnx package would import numpy and protobuf and cost ten times
the interpreter's own start. Only the standard library is imported here.

The passes: strict inference with data propagation (the most shapes: Shape -> Gather ->
Reshape targets are followed); if it fails, strict inference without data propagation (what
onnxruntime runs at load, through each op's inference function); if both fail, a lenient pass
that keeps every shape it can still infer. Data propagation has bugs of its own (onnx issues
#5212, #3929), so its failure alone is not the model's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, BinaryIO

__all__ = [
    "AS_SENT", "PARENT_FLAG", "PROTOBUF_FLAG", "PYTHON_NONE", "SCHEMA_FLAG", "WEIGHTLESS_SCHEMA",
    "answerer", "die_with_parent", "extension_at", "main", "once", "run_passes",
]

# ``--parent=PID``: the process that started this one; this one never outlives it.
PARENT_FLAG = "--parent="
# ``--protobuf=DIR`` (the folder holding ``google.protobuf``): with it, big answers leave the
# initializers out; and ``--onnx-schema=FILE`` (onnx's ``onnx_ml_pb2.py``): with both, invented
# dims are made unknown before inference.
PROTOBUF_FLAG = "--protobuf="
SCHEMA_FLAG = "--onnx-schema="
_PR_SET_PDEATHSIG = 1

# The answer's header key that says the model came back as it was sent (every pass failed).
AS_SENT = "as_sent"

# (model bytes, strict_mode, data_prop) -> inferred model bytes; raises when a pass fails
Infer = Callable[[bytes, bool, bool], bytes]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def run_passes(
    model: bytes, infer: Infer, *, data_prop: bool = True
) -> tuple[bytes, dict[str, str | None]]:
    """The inferred model of the first strict pass that succeeds, and what failed before it.

    ``data_prop=False`` skips the first pass (the caller saw it crash a worker).
    """
    failed: dict[str, str | None] = {"data_prop_error": None, "error": None}
    # onnx raises InferenceError, ValidationError or RuntimeError: each means "this pass failed".
    if data_prop:
        try:
            return infer(model, True, True), failed
        except Exception as exc:
            failed["data_prop_error"] = _first_line(exc)
    try:
        return infer(model, True, False), failed
    except Exception as exc:
        failed["error"] = _first_line(exc)
    for lenient_data_prop in (True, False) if data_prop else (False,):
        try:
            return infer(model, False, lenient_data_prop), failed
        except Exception:
            continue
    return model, failed


def die_with_parent(parent: int, *, pdeathsig: bool = True) -> None:
    """Make this process end when ``parent`` does (Ctrl-C, SIGTERM, SIGKILL, a CI cancel):
    on Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``, set
    only when the parent started us from its main thread: the signal follows the thread);
    everywhere a watchdog thread checks every half second that the parent is still ours (an
    orphan is adopted by PID 1 or a subreaper). Also used by the runtime worker."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still ends us
    if os.getppid() != parent:  # the parent died before the lifeline was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="archlint-lifeline", daemon=True).start()


def parent_from(argv: list[str]) -> tuple[int | None, bool]:
    """The ``--parent=PID[:main]`` flag: the parent's pid and whether PDEATHSIG may be set."""
    for arg in argv:
        if arg.startswith(PARENT_FLAG):
            pid, _, thread = arg[len(PARENT_FLAG):].partition(":")
            return int(pid), thread == "main"
    return None, False


def extension_at(path: str) -> ModuleType | None:
    """onnx's C++ extension loaded from ``path`` without the onnx package (a -j worker loads
    it so too: archlint/inference.py); None where it cannot be loaded on its own."""
    try:
        spec = importlib.util.spec_from_file_location("onnx.onnx_cpp2py_export", path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:
        return None
    return module


def _load_extension(path: str | None) -> ModuleType:
    module = extension_at(path) if path else None
    if module is not None:
        return module
    # A build whose extension cannot be loaded on its own: the slow way, through site-packages.
    import site

    site.main()
    from onnx import onnx_cpp2py_export

    return onnx_cpp2py_export


def _fill_schema_table(extension: ModuleType) -> None:
    """Have onnx fill its operator schema table now (14-18 ms, once per process), which it
    does on first use: the worker starts before the parent's imports, so this is done by the
    time a small model's request comes, instead of on that request's clock."""
    with contextlib.suppress(Exception):  # without the call, the first inference fills it
        extension.defs.has_schema("Relu", "")


def _flag(argv: list[str], prefix: str) -> str | None:
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), None)


# Answers smaller than this go back whole: reading and writing them again in this process
# would cost more than passing them on (and protobuf is imported only for a big one).
STRIP_ABOVE_BYTES = 4 * 1024**2


def once(make: Callable[[], Any]) -> Callable[[], Any]:
    """What returns ``make()``, made on the first call only; None where that raised (a class
    this process cannot make: what needs it does without)."""
    made: list[Any] = []  # [the value or None], once tried

    def value() -> Any:
        if not made:
            try:
                made.append(make())
            except Exception:
                made.append(None)
        return made[0]

    return value


def _model_class(site: str | None, schema: str | None) -> Callable[[], Any]:
    """onnx's ModelProto class, loaded on first use: protobuf from ``site`` (the folder that
    holds ``google``) and onnx's generated ``onnx_ml_pb2`` by path, without the onnx package;
    None where either cannot be loaded."""
    return once(lambda: _load_schema(site, schema))


def _weight_stripper(model_class: Callable[[], Any]) -> Callable[[bytes], bytes]:
    """What sends a big inferred model back without the main graph's initializers: the parent
    reads only its types, and a model's weights are most of its bytes (44 of 48 MB on a
    100k-node graph), which would otherwise cross the pipe and be parsed again.
    ``model_class``: :func:`_weightless_class`'s. Where protobuf cannot be loaded, or a model
    does not parse, it goes back whole (the parent reads it the same way)."""

    def strip(model: bytes) -> bytes:
        if len(model) <= STRIP_ABOVE_BYTES or model_class() is None:
            return model
        try:
            parsed = model_class().FromString(model)
            if not len(parsed.graph.initializer):
                return model
            del parsed.graph.initializer[:]
            stripped: bytes = parsed.SerializeToString()
            return stripped
        except Exception:  # a model protobuf cannot parse goes back as it came
            return model

    return strip


# A ModelProto as the weight stripper reads it: its graph (field 7) with only the graph's
# initializers (field 5) declared, as bytes. Every other field of both is kept as an unknown
# field, its bytes as they were, and written back: no node, tensor or type is decoded, so the
# strip costs 5 ms at 30k nodes, not the 25 ms of onnx's whole schema (90 ms at 100k nodes).
# Made by WEIGHTLESS_SCHEMA's test from descriptor_pb2 (tests/test_inference_isolation.py).
WEIGHTLESS_SCHEMA = (
    b'\n\x19archlint_weightless.proto\x12\x13archlint_weightless"\x1c\n\x05Graph\x12\x13\n'
    b'\x0binitializer\x18\x05 \x03(\x0c"2\n\x05Model\x12)\n\x05graph\x18\x07 \x01(\x0b2\x1a'
    b'.archlint_weightless.Graphb\x06proto2'
)


def _weightless_class(site: str | None) -> Callable[[], Any]:
    """The class of WEIGHTLESS_SCHEMA's Model, loaded on first use with protobuf from
    ``site`` (the folder that holds ``google``); None where it cannot be loaded."""
    return once(lambda: _load_weightless(site))


def _load_weightless(site: str | None, *, fast: bool = True) -> Any:
    if not site:
        return None
    try:
        if site not in sys.path:
            sys.path.append(site)
        # archlint/answer_types.py makes the class (it needs protobuf alone): loaded by its
        # path, as this process imports nothing of archlint's package (nor pathlib: 8 ms)
        here = os.path.dirname(__file__)  # noqa: PTH120
        spec = importlib.util.spec_from_file_location(
            "archlint_answer_types", os.path.join(here, "answer_types.py"))  # noqa: PTH118
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.message_class(WEIGHTLESS_SCHEMA, "archlint_weightless.Model", fast=fast)
    except Exception:  # no usable protobuf: models go back whole
        return None


# Names tools give dims nobody named, as archlint/shapes.py reads them (a test holds the two
# equal): tf2onnx's and onnx's ``unk__7``, paddle2onnx's ``DynamicDimension.3``.
INVENTED_SYMBOL = r"^(?:unk__\d+|(?:p2o\.)?DynamicDimension\.\d+)$"
_GRAPH, _GRAPHS = 5, 10  # AttributeProto.GRAPH, AttributeProto.GRAPHS


# str(None): keras2onnx (opset <= 8) names every unknown dim so, the batch and the time axis
# alike; archlint/declared_types.py reads it as unknown (a test holds the two equal)
PYTHON_NONE = "None"
# How a dim_param "None" is written (Dimension's field 2, a 4-byte string): every model that
# has one holds these bytes, where "None" alone is in 4 models of 10 (torch's doc strings)
_NONE_DIM_PARAM = b"\x12\x04" + PYTHON_NONE.encode()


def _none_dims_named(graph: Any) -> bool:
    """Give each main-graph input dim named ``None`` its own name, ``input:axis`` (the name
    archlint/runtime/inputs.py's ``axis_key`` gives an unnamed dim), so that inference
    carries each axis through the graph apart; whether any was renamed."""
    renamed = False
    for info in graph.input:
        if info.type.WhichOneof("value") != "tensor_type":
            continue
        for axis, dim in enumerate(info.type.tensor_type.shape.dim):
            if dim.WhichOneof("value") == "dim_param" and dim.dim_param == PYTHON_NONE:
                dim.dim_param = f"{info.name}:{axis}"
                renamed = True
    return renamed


def _invented_dims_forgotten(model_class: Callable[[], Any]) -> Callable[[bytes], bytes]:
    """What makes the invented dims a tool saved in value_info unknown before inference.

    A simplifier that ran its own inference (onnx-simplifier, onnxslim, a float16 or opset
    converter) saves the ``unk__3`` it got where a Reshape's target was computed; onnx's
    inference keeps a declared symbol rather than the one it would propagate (``seq`` from the
    graph input, through Shape -> Gather -> Concat), so what the tool did not know stays
    unknown to every rule. An invented name says nothing (no two of them are known equal):
    made unknown, onnx's inference fills in what it can. Only intermediate value_info is
    touched, in every graph; graph inputs and outputs keep their declarations, but for dims
    named ``None`` (:data:`PYTHON_NONE`): unknown in outputs and value_info, each input axis
    its own name (:func:`_none_dims_named`)."""

    def forget(model: bytes) -> bytes:
        if b"unk__" not in model and b"DynamicDimension." not in model \
                and _NONE_DIM_PARAM not in model:
            return model
        cls = model_class()
        if cls is None:
            return model
        import re

        invented = re.compile(INVENTED_SYMBOL)
        try:
            parsed = cls.FromString(model)
        except Exception:  # inference will say what is wrong with it
            return model
        changed = _none_dims_named(parsed.graph)
        graphs = [parsed.graph]
        while graphs:
            graph = graphs.pop()
            # value_info's invented names and Nones; the outputs' Nones only
            for infos, names in ((graph.value_info, invented), (graph.output, None)):
                for info in infos:
                    if info.type.WhichOneof("value") != "tensor_type":
                        continue
                    for dim in info.type.tensor_type.shape.dim:
                        symbol = dim.dim_param  # bytes when not UTF-8: never one onnx invented
                        if dim.WhichOneof("value") == "dim_param" and isinstance(symbol, str) \
                                and (symbol == PYTHON_NONE
                                     or (names is not None and names.match(symbol))):
                            dim.ClearField("dim_param")
                            changed = True
            for node in graph.node:
                for attr in node.attribute:
                    if attr.type == _GRAPH:
                        graphs.append(attr.g)
                    elif attr.type == _GRAPHS:
                        graphs.extend(attr.graphs)
        if not changed:
            return model
        forgotten: bytes = parsed.SerializeToString()
        return forgotten

    return forget


def _load_schema(site: str | None, schema: str | None) -> Any:
    """onnx's ModelProto class from its generated module, or None."""
    if not site or not schema:
        return None
    try:
        sys.path.append(site)
        spec = importlib.util.spec_from_file_location("onnx_ml_pb2", schema)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.ModelProto
    except Exception:  # no usable protobuf: models go back whole
        return None


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def main(argv: list[str]) -> int:
    """Serve requests until stdin closes: 8-byte length, a flag byte (1: with data
    propagation) and the model; each answer is an 8-byte length and the result."""
    parent, from_main_thread = parent_from(argv)
    if parent is not None:
        die_with_parent(parent, pdeathsig=from_main_thread)
    paths = [a for a in argv if not a.startswith("--")]
    extension = _load_extension(paths[0] if paths else None)
    _fill_schema_table(extension)
    site = _flag(argv, PROTOBUF_FLAG)
    answer_to = answerer(extension, _model_class(site, _flag(argv, SCHEMA_FLAG)),
                         _weightless_class(site))
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while (head := _read_exactly(requests, 9)) is not None:
        model = _read_exactly(requests, int.from_bytes(head[:8], "little"))
        if model is None:
            return 2
        answer = answer_to(model, head[8] == 1)
        answers.write(len(answer).to_bytes(8, "little") + answer)
        answers.flush()
    return 0


# (model bytes, data propagation) -> the answer: the JSON header's length (8 bytes), the
# header and the inferred model
Answerer = Callable[[bytes, bool], bytes]


def answerer(
    extension: ModuleType, model_class: Callable[[], Any], weightless_class: Callable[[], Any]
) -> Answerer:
    """What answers one request: its invented dims forgotten, its passes run by
    ``extension`` (onnx's C++), a big result stripped of its weights. This process's loop
    serves it over the pipe; a -j worker calls it on its own small models
    (archlint/inference.py, ``infer_small_models_here``), so both answer the same bytes.
    ``model_class``, ``weightless_class``: onnx's ModelProto and WEIGHTLESS_SCHEMA's Model,
    each made on first use (None where it cannot be)."""
    weightless = _weight_stripper(weightless_class)
    forget = _invented_dims_forgotten(model_class)

    def infer(model: bytes, strict: bool, with_data_prop: bool) -> bytes:
        result: bytes = extension.shape_inference.infer_shapes(
            model, False, strict, with_data_prop)
        return result

    def answer(model: bytes, data_prop: bool) -> bytes:
        request = forget(model)
        inferred, failed = run_passes(request, infer, data_prop=data_prop)
        # AS_SENT: no pass finished and this is the request itself, as the caller wrote it
        # (not as protobuf's C++ writes a model: a field may come twice, to be merged)
        header = json.dumps({**failed, AS_SENT: inferred is request}).encode("utf-8")
        return len(header).to_bytes(8, "little") + header + weightless(inferred)

    return answer


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # Every answer is flushed and there is nothing else to keep: end without the interpreter's
    # teardown (unloading onnx's extension takes longer than this process's whole start), so
    # the parent, which waits for this exit when it closes the worker, is not kept waiting.
    sys.stdout.flush()
    os._exit(status)
