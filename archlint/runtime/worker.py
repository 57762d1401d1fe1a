"""The child process: ``python -m archlint.runtime.worker REQUEST.json``.

It is the one place where onnxruntime sessions are created and run, so that a segfault, an
abort or a hang inside onnxruntime kills or stalls this process and never archlint. It reads a
request (jobs, each a model, providers and an inputs ``.npz``), and after each job writes
``<job id>.json`` (and ``<job id>.npz`` with the arrays) into the request's folder. Before each
step it prints ``stage <job> <step>`` on stdout, flushed, so the parent can say where a crash
happened. Nothing is ever written next to a model.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import ModelProto, ValueInfoProto, helper, numpy_helper

from archlint.inference_child import PARENT_FLAG, die_with_parent, parent_from

# A sequence input is saved element by element as ``<name><SEQUENCE_KEY><k>`` in the inputs
# file (an .npz holds arrays only) and handed to onnxruntime as the list of them.
SEQUENCE_KEY = "::sequence::"



# The timed runs after the first stop once they have taken this long, and are skipped where
# the first run took as long: a model whose one run takes seconds (a 3 MB U-Net on a busy
# machine: 8 s) made a lint --runtime six runs long for a median nobody asked of it.
TIMED_RUNS_BUDGET_S = 1.0

def load_feeds(path: Path) -> dict[str, Any]:
    """The feeds of an inputs file: arrays, and the lists of a sequence input's elements."""
    feeds: dict[str, Any] = {}
    elements: dict[str, list[tuple[int, np.ndarray[Any, Any]]]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            name, found, index = key.rpartition(SEQUENCE_KEY)
            if found and index.isdigit():
                elements.setdefault(name, []).append((int(index), data[key]))
            else:
                value = data[key]
                # text saved as unicode (check._save): onnxruntime takes an object array
                feeds[key] = value.astype(object) if value.dtype.kind == "U" else value
    feeds.update({name: [array for _, array in sorted(items, key=lambda item: item[0])]
                  for name, items in elements.items()})
    return feeds

TEXT_SUFFIXES = (".onnx.txt", ".onnxtxt")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parent, from_main_thread = parent_from(args)
    if parent is not None:  # never outlive archlint (it started us in a session of our own)
        die_with_parent(parent, pdeathsig=from_main_thread)
    args = [a for a in args if not a.startswith(PARENT_FLAG)]
    if len(args) != 1:
        print("usage: python -m archlint.runtime.worker REQUEST.json", file=sys.stderr)
        return 2
    request_path = Path(args[0])
    request = json.loads(request_path.read_text(encoding="utf-8"))
    workdir = request_path.parent
    for job in request["jobs"]:
        try:
            if job.get("kind") == "reference":
                result, arrays = _reference_job(job, workdir)
            else:
                result, arrays = _session_job(job, workdir)
        except Exception as exc:  # our own failure (a model onnx cannot load...): say so, go on
            result, arrays = {"status": "worker_error", "error": _error_text(exc)}, {}
        np.savez(workdir / f"{job['id']}.npz", **arrays)
        (workdir / f"{job['id']}.json").write_text(json.dumps(result), encoding="utf-8")
    _stage("all", "done")
    return 0


def _stage(job: str, step: str) -> None:
    print(f"stage {job} {step}", flush=True)


def _load(model: str) -> ModelProto | str:
    """A text model is parsed here; a binary one is given to onnxruntime by path, so that its
    external data resolves against its own folder."""
    if model.lower().endswith(TEXT_SUFFIXES):
        return onnx.parser.parse_model(Path(model).read_text(encoding="utf-8"))
    return model


def _session(
    job: dict[str, Any], model: ModelProto | str | bytes, profile_dir: Path | None,
    *, as_written: bool = False,
) -> Any:
    """A session on ``job``'s providers. ``as_written``: no graph optimisation, so that a
    tensor fetched as an output is what its node computes (the reference check): optimised,
    onnxruntime moves a QuantizeLinear/DequantizeLinear pair up to a GRU's Y, and the Y it
    returns is quantized, which onnx.reference's GRU is not."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about fallbacks are reported by us, from profiles
    if as_written:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if profile_dir is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_dir / f"profile_{job['id']}")
    source = model.SerializeToString() if isinstance(model, ModelProto) else model
    return ort.InferenceSession(source, options, providers=job["providers"])


def _error_text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _session_job(job: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    job_id = job["id"]
    feeds = load_feeds(workdir / job["inputs"])
    result: dict[str, Any] = {"status": "ok"}
    _stage(job_id, "create")
    try:
        model = _load(job["model"])
        started = time.perf_counter()
        session = _session(job, model, workdir if job.get("profile") else None)
        result["session_s"] = time.perf_counter() - started
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... classes
        return {"status": "session_failed", "error": _error_text(exc),
                "exception": type(exc).__name__}, {}
    result["providers_used"] = session.get_providers()
    missing = [p for p in job["providers"] if p not in result["providers_used"]]
    if missing:
        # onnxruntime drops a provider it cannot initialise (e.g. CUDA libraries absent) with
        # only a log line, and runs on CPU: we refuse to report such a run as a CUDA run.
        return {**result, "status": "provider_dropped", "missing": missing}, {}
    names = [o.name for o in session.get_outputs()]
    _stage(job_id, "run")
    try:
        started = time.perf_counter()
        outputs = session.run(names, feeds)
        result["first_run_s"] = time.perf_counter() - started
    except Exception as exc:
        return {**result, "status": "run_failed", "error": _error_text(exc),
                "exception": type(exc).__name__}, {}
    if job.get("profile"):
        result["placement"] = _placement(session.end_profiling())
    times: list[float] = []
    if result["first_run_s"] < TIMED_RUNS_BUDGET_S:
        for _ in range(int(job.get("runs", 1))):
            started = time.perf_counter()
            session.run(names, feeds)
            times.append(time.perf_counter() - started)
            if sum(times) >= TIMED_RUNS_BUDGET_S:
                break
    if times:
        result["median_run_s"] = statistics.median(times)
    result["runs"] = len(times)
    # a sequence output (a list of tensors of any shapes) is not an array: not kept
    kept = [(i, name) for i, (name, value) in enumerate(zip(names, outputs, strict=True))
            if not isinstance(value, list)]
    arrays = {f"o{i}": np.asarray(outputs[i]) for i, _ in kept}
    result["outputs"] = {name: f"o{i}" for i, name in kept}
    _stage(job_id, "done")
    return result, arrays


def _placement(profile_path: str) -> list[list[str]]:
    """(node name, op type, provider) for every node that ran, from onnxruntime's profile."""
    path = Path(profile_path)
    try:
        events = json.loads(path.read_text(encoding="utf-8"))
    finally:
        path.unlink(missing_ok=True)
    placed: dict[str, list[str]] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        args = event.get("args", {})
        name = str(event["name"])[: -len("_kernel_time")]
        placed.setdefault(name, [name, str(args.get("op_name", "")), str(args.get("provider", ""))])
    return list(placed.values())


def _reference_job(job: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Capture each recurrent node's inputs and outputs from an onnxruntime run, then run the
    node alone through onnx.reference.ReferenceEvaluator on the same inputs.

    A node in an If branch or a Loop body (``job["sub"]``, the owner a main-graph node) is
    captured in two steps: the owner's inputs and the outer values its body reads come from
    the run of the model; then the body runs alone in onnxruntime on them (the branch the
    condition took; a Loop's first iteration), its recurrent node's tensors as outputs."""
    job_id = job["id"]
    feeds = load_feeds(workdir / job["inputs"])
    _stage(job_id, "create")
    model = _load(job["model"])
    if not isinstance(model, ModelProto):
        model = onnx.load(model)  # external data loads relative to the model's folder
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    nodes = [graph.node[i] for i in job["nodes"]]
    subs = [(entry, _body(graph.node[entry["owner"]], entry["attr"]))
            for entry in job.get("sub", [])]
    wanted: list[str] = []
    for name in [n for node in nodes for n in [*node.input, *node.output]] + [
            n for entry, body in subs for n in _outer_reads(graph.node[entry["owner"]], body)]:
        if name and name not in initializers and name not in wanted:
            wanted.append(name)
    extended = ModelProto()
    extended.CopyFrom(model)
    present = {o.name for o in extended.graph.output}
    for name in wanted:
        if name not in present:
            extended.graph.output.append(ValueInfoProto(name=name))
    try:
        session = _session(job, extended, None, as_written=True)
        _stage(job_id, "run")
        values = dict(zip(wanted, session.run(wanted, feeds), strict=True))
    except Exception as exc:
        return {"status": "run_failed", "error": _error_text(exc)}, {}
    needed = {n for node in nodes for n in node.input} | {
        n for entry, body in subs for n in _outer_reads(graph.node[entry["owner"]], body)}
    for name in needed & set(initializers):  # only the weights read here: models can be big
        values.setdefault(name, numpy_helper.to_array(initializers[name]))
    arrays: dict[str, Any] = {}
    checked: list[dict[str, Any]] = []
    opsets = list(model.opset_import)
    for index, node in zip(job["nodes"], nodes, strict=True):
        _stage(job_id, f"reference:{index}")
        entry: dict[str, Any] = {"index": index, "inputs": {}, "outputs": {}}
        checked.append(_evaluate(node, values, opsets, f"n{index}", entry, arrays))
    for k, (sub, body) in enumerate(subs):
        _stage(job_id, f"reference_sub:{k}")
        entry = {"id": sub["id"], "inputs": {}, "outputs": {}}
        owner = graph.node[sub["owner"]]
        try:
            body_values = _run_body(job, model, owner, sub["attr"], body, sub["index"], values)
        except _NotRun as why:
            entry["skipped"] = str(why)
            checked.append(entry)
            continue
        except Exception as exc:
            entry["error"] = f"the body did not run alone: {_error_text(exc)}"
            checked.append(entry)
            continue
        checked.append(_evaluate(body.node[sub["index"]], body_values, opsets, f"s{k}", entry,
                                 arrays))
    _stage(job_id, "done")
    return {"status": "ok", "nodes": checked}, arrays


class _NotRun(Exception):
    """The body holding the node did not run on these inputs (the other branch; no iteration)."""


def _body(owner: onnx.NodeProto, attr: str) -> onnx.GraphProto:
    for attribute in owner.attribute:
        if attribute.name == attr:
            found: onnx.GraphProto = attribute.g
            return found
    raise KeyError(f"{owner.name or owner.op_type} has no subgraph {attr!r}")


def _outer_reads(owner: onnx.NodeProto, body: onnx.GraphProto) -> list[str]:
    """The owner's inputs and the names its body reads from the enclosing graph."""
    local = {i.name for i in body.input} | {t.name for t in body.initializer} | {
        o for node in body.node for o in node.output}
    outer = [n for node in body.node for n in node.input if n and n not in local]
    return [*owner.input, *dict.fromkeys(outer)]


def _run_body(job: dict[str, Any], model: ModelProto, owner: onnx.NodeProto, attr: str,
              body: onnx.GraphProto, index: int, values: dict[str, Any]) -> dict[str, Any]:
    """The values of the recurrent node's tensors as the body computed them on this run."""
    feeds: dict[str, Any] = {}
    if owner.op_type == "If":
        taken = "then_branch" if bool(np.asarray(values[owner.input[0]]).all()) else \
            "else_branch"
        if taken != attr:
            raise _NotRun(f"the run took the {taken.replace('_', ' ')}")
    elif owner.op_type == "Loop":
        trip = values.get(owner.input[0]) if owner.input[0] else None
        cond = values.get(owner.input[1]) if len(owner.input) > 1 and owner.input[1] else None
        if (trip is not None and int(np.asarray(trip)) <= 0) or (
                cond is not None and not bool(np.asarray(cond))):
            raise _NotRun("the Loop ran no iteration on these inputs")
        first = [np.array(0, np.int64), np.array(True)] + [
            values[name] for name in owner.input[2:]]
        feeds.update({i.name: np.asarray(v) for i, v in zip(body.input, first, strict=False)})
    else:
        raise _NotRun(f"a {owner.op_type} body is not re-run alone")
    local = {t.name for t in body.initializer} | {o for n in body.node for o in n.output}
    for name in _outer_reads(owner, body)[len(owner.input):]:
        if name not in local and name not in feeds:
            feeds[name] = np.asarray(values[name])
    node = body.node[index]
    outputs = [n for n in [*node.input, *node.output] if n and n not in feeds
               and n not in {t.name for t in body.initializer}]
    graph = helper.make_graph(
        list(body.node), "body",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype),
                                       value.shape) for name, value in feeds.items()],
        [ValueInfoProto(name=name) for name in dict.fromkeys(outputs)],
        list(body.initializer))
    single = helper.make_model(graph, opset_imports=list(model.opset_import))
    single.ir_version = model.ir_version
    single.functions.extend(model.functions)
    session = _session({**job, "id": f"{job['id']}_body"}, single, None, as_written=True)
    names = list(dict.fromkeys(outputs))
    found = dict(zip(names, session.run(names, feeds), strict=True))
    found.update(feeds)
    found.update({t.name: numpy_helper.to_array(t) for t in body.initializer})
    return found


def _evaluate(node: onnx.NodeProto, values: dict[str, Any], opsets: list[Any], key: str,
              entry: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    """Run ``node`` alone in onnx.reference on its captured inputs; keys of both outputs."""
    from onnx.reference import ReferenceEvaluator

    node_feeds = {name: values[name] for name in node.input if name}
    if any(np.asarray(value).dtype == np.float16 for value in node_feeds.values()):
        # onnx.reference computes a float16 node in float16 (numpy's), far less precisely
        # than onnxruntime's CPU kernels, which compute it in float32 (its InsertCast pass):
        # the reference is computed in float32 from the same inputs instead
        node_feeds = {name: np.asarray(value).astype(np.float32)
                      if np.asarray(value).dtype == np.float16 else value
                      for name, value in node_feeds.items()}
        entry["upcast"] = "float16"
    single = helper.make_model(
        helper.make_graph(
            [node], "single",
            [ValueInfoProto(name=n) for n in node_feeds],
            [ValueInfoProto(name=n) for n in node.output if n],
        ),
        opset_imports=opsets,
    )
    try:
        reference = ReferenceEvaluator(single).run(None, node_feeds)
    except Exception as exc:
        entry["error"] = _error_text(exc)
        return entry
    for slot, name in enumerate(node.input):
        if name and slot == 4:  # sequence_lens: the parent decides whether it was honoured
            arrays[f"{key}_seq"] = np.asarray(node_feeds[name])
            entry["inputs"]["sequence_lens"] = f"{key}_seq"
    x = node_feeds.get(node.input[0])
    entry["x_shape"] = list(np.shape(x)) if x is not None else None
    produced = [n for n in node.output if n]
    for slot, (name, ref_value) in enumerate(zip(produced, reference, strict=True)):
        arrays[f"{key}_ort{slot}"] = np.asarray(values[name])
        arrays[f"{key}_ref{slot}"] = np.asarray(ref_value)
        entry["outputs"][name] = [f"{key}_ort{slot}", f"{key}_ref{slot}"]
    return entry


if __name__ == "__main__":
    sys.exit(main())
