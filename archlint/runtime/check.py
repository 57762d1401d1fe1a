"""One model through onnxruntime: inputs, child process, and findings from what came back.

Data flow: load and analyse the model statically (the same views the rules read), bind its
symbolic dims and draw inputs, run the jobs in one child process (the requested providers; the
``--compare`` provider; the ``--compare-model``; the recurrent nodes for the reference
evaluator), then turn every result into a ``Finding`` with ``source="onnxruntime"``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archlint.api import Finding, Rule, RuleContext, Severity
from archlint.engine import analyse
from archlint.graph import NodeInfo
from archlint.loader import LoadError, load_model
from archlint.runtime.child import ChildOutcome, run_worker
from archlint.runtime.collector import Collector, node_named_in, trim
from archlint.runtime.compare import compare_arrays, non_finite
from archlint.runtime.inputs import Binding, InputSpec, bind_dims, fed_inputs, make_inputs
from archlint.runtime.placement import placement
from archlint.runtime.prediction import prediction_lines
from archlint.runtime.providers import CPU, PACKAGE_HINTS, resolve_provider, short_name
from archlint.runtime.reference import reference_findings, reference_nodes
from archlint.runtime.settings import RuntimeSettings
from archlint.shapes import Shape, format_shape

__all__ = ["RuntimeResult", "RuntimeUnavailable", "available_providers", "check_model"]

class RuntimeUnavailable(Exception):
    """onnxruntime is not installed: the runtime check cannot run at all."""


@dataclass(frozen=True)
class RuntimeResult:
    """What the runtime check learnt about one model: findings plus the facts the report shows."""

    path: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    providers: tuple[str, ...] = ()
    dims: str = ""
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()
    timing: str | None = None
    notes: tuple[str, ...] = ()
    nodes: int = 0
    recurrent_layers: int = 0
    elapsed_s: float = 0.0


def available_providers() -> tuple[str, ...]:
    """The installed onnxruntime's providers. Imports onnxruntime (the parent's only use)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailable(
            "onnxruntime is not installed; the runtime check needs it: "
            "pip install 'archlint[runtime]' (or onnxruntime-gpu for GPUs)"
        ) from exc
    return tuple(onnxruntime.get_available_providers())


def _external_data_findings(ctx: RuleContext) -> list[Finding]:
    from archlint.registry import load_rules

    ruleset = load_rules()
    found: list[Finding] = []
    for code in ("AL002", "AL003"):
        rule = ruleset.by_code(code)
        if rule is not None:
            found.extend(dataclasses.replace(f, severity=Severity.ERROR)
                         for f in rule().check(ctx))
    return found


def check_model(
    path: Path,
    shown: str,
    settings: RuntimeSettings,
    rules: Mapping[str, type[Rule]],
    available: tuple[str, ...],
) -> RuntimeResult:
    """Run one model as ``settings`` say. ``rules`` maps the selected runtime codes to classes."""
    import time

    started = time.perf_counter()
    try:
        model = load_model(path, shown)
    except LoadError as exc:
        return RuntimeResult(shown, error=exc.reason)
    ctx = analyse(model)
    out = Collector(ctx, rules)
    providers = tuple(resolve_provider(p) for p in settings.providers)
    base = RuntimeResult(shown, providers=providers, nodes=len(ctx.graph.nodes),
                         recurrent_layers=len(ctx.layers))
    unsafe = [ref for ref in model.external_data if ref.problem is not None]
    if unsafe:
        # Never hand onnxruntime a location that escapes the folder; a model that was not run
        # must not pass silently either: the static findings say why, as errors.
        out.notes.append(f"not run: external data of {unsafe[0].tensor!r} is unsafe or missing "
                         f"({unsafe[0].problem}); see AL002/AL003")
        out.findings.extend(_external_data_findings(ctx))
        return _finish(base, out, started)
    compare = resolve_provider(settings.compare) if settings.compare else None
    missing = [p for p in (*providers, *([compare] if compare else [])) if p not in available]
    for provider in dict.fromkeys(missing):
        out.add("AL505", None,
                f"execution provider {provider} is not available in the installed onnxruntime "
                f"(available: {', '.join(available)}); nothing was run in its place",
                expected=provider, actual=", ".join(available),
                help=f"Install {PACKAGE_HINTS.get(provider, 'a build of onnxruntime with it')}, "
                "or choose another --provider (see docs/runtime.md).")
    if missing:
        return _finish(base, out, started)

    binding = bind_dims(ctx.graph, ctx.layers, settings.dims)
    feeds, specs = make_inputs(ctx.graph, ctx.layers, binding, settings.seed)
    for name in binding.unused:
        out.notes.append(f"--dim {name}: this model has no such symbolic dimension")
    with tempfile.TemporaryDirectory(prefix="archlint-run-") as tmp:
        workdir = Path(tmp)
        _save(workdir / "inputs.npz", feeds)
        jobs = [_job("main", path, providers, "inputs.npz", runs=settings.runs, profile=True)]
        if compare is not None:
            jobs.append(_job("compare", path, (compare,), "inputs.npz"))
        other = _prepare_compare_model(settings, feeds, workdir, out)
        if other is not None:
            jobs.append(_job("compare_model", other, providers, "inputs_other.npz"))
        nodes = reference_nodes(ctx.layers, out) if settings.reference else []
        if nodes:
            jobs.append({**_job("reference", path, (CPU,), "inputs.npz"), "kind": "reference",
                         "nodes": [n.index for n in nodes]})
        outcome = run_worker({"jobs": jobs}, workdir, settings.timeout)
        arrays = {j["id"]: _arrays(workdir / f"{j['id']}.npz") for j in jobs}
    result = dataclasses.replace(base, dims=binding.describe(), inputs=specs)
    main = outcome.results.get("main")
    _child_failure(outcome, out, settings, providers, binding)
    if main is not None:
        result = _main_job(main, arrays["main"], ctx, out, binding, providers, result)
        result = dataclasses.replace(result, placement=result.placement + prediction_lines(
            main, out, providers, settings.profiles))
        if main.get("status") == "ok":
            reference_outputs = _outputs(main, arrays["main"])
            _compare_job("compare", "AL509", outcome, arrays, reference_outputs, out, settings,
                         f"on {short_name(compare or '')}")
            _compare_job("compare_model", "AL511", outcome, arrays, reference_outputs, out,
                         settings, f"in {settings.compare_model}")
            reference_findings(outcome.results.get("reference"), arrays.get("reference", {}),
                           nodes, ctx, out, settings)
    return _finish(result, out, started)


def _finish(result: RuntimeResult, out: Collector, started: float) -> RuntimeResult:
    import time

    return dataclasses.replace(result, findings=tuple(out.findings),
                               notes=result.notes + tuple(out.notes),
                               elapsed_s=time.perf_counter() - started)


def _job(job_id: str, model: Path | str, providers: tuple[str, ...], inputs: str, *,
         runs: int = 1, profile: bool = False) -> dict[str, Any]:
    return {"id": job_id, "model": str(Path(model).resolve()), "providers": list(providers),
            "inputs": inputs, "runs": runs, "profile": profile}


def _save(path: Path, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
    # numpy's stub types savez(**kwds) as bool; the arrays are what it takes at run time
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _outputs(result: Mapping[str, Any], arrays: Mapping[str, Any]) -> dict[str, Any]:
    return {name: arrays[key] for name, key in result.get("outputs", {}).items() if key in arrays}


# --- the child's fate ---------------------------------------------------------------------------

_JOB_LABEL = {"main": "the requested providers", "compare": "the --compare provider",
              "compare_model": "the --compare-model", "reference": "the reference capture"}
_STEP_LABEL = {"create": "session creation", "run": "run", "done": "clean-up"}


def _where(outcome: ChildOutcome) -> str:
    if outcome.stage is None:
        return "while starting"
    job, step = outcome.stage
    label = _STEP_LABEL.get(step, "the reference evaluator" if step.startswith("reference")
                            else step)
    return f"during {label} ({_JOB_LABEL.get(job, job)})"


def _child_failure(outcome: ChildOutcome, out: Collector, settings: RuntimeSettings,
                   providers: tuple[str, ...], binding: Binding) -> None:
    if outcome.completed:
        return
    job = outcome.stage[0] if outcome.stage else "main"
    if job == "compare" and settings.compare:
        providers = (resolve_provider(settings.compare),)
    elif job == "reference":
        providers = (CPU,)  # the reference capture always runs on the CPU provider
    on = ", ".join(short_name(p) for p in providers)
    if binding.values:
        on += f" with {binding.describe()}"
    node = _node_for_stage(outcome, out)
    if outcome.timed_out:
        out.add("AL504", node,
                f"onnxruntime did not finish within {settings.timeout:g}s {_where(outcome)} on "
                f"{on}; the child process was killed",
                expected=f"<= {settings.timeout:g}s", actual="still running",
                help="Bound the model's loops and sequence length, or raise --timeout if the "
                "model is only slow.")
        return
    said = f": {outcome.stderr_tail}" if outcome.stderr_tail else ""
    died = outcome.signal or f"exit code {outcome.returncode}"
    out.add("AL503", node,
            f"onnxruntime crashed with {died} {_where(outcome)} on {on}{said}",
            expected="a result or a Python exception", actual=died,
            help="The runtime aborted instead of raising: find the input that triggers it (an "
            "empty batch or sequence for LSTM/GRU on onnxruntime's CPU kernels is a known one) "
            "and reject it before inference.")


def _node_for_stage(outcome: ChildOutcome, out: Collector) -> NodeInfo | None:
    if outcome.stage is not None and outcome.stage[1].startswith("reference:"):
        index = int(outcome.stage[1].split(":", 1)[1])
        return out.ctx.graph.nodes.get(f"main/{index}")
    return None


# --- the requested providers' run -----------------------------------------------------------

def _main_job(
    main: Mapping[str, Any], arrays: Mapping[str, Any], ctx: RuleContext, out: Collector,
    binding: Binding, providers: tuple[str, ...], result: RuntimeResult,
) -> RuntimeResult:
    status = main.get("status")
    on = ", ".join(short_name(p) for p in providers)
    if status == "worker_error":
        out.notes.append(f"not checked: the worker failed before onnxruntime ran: "
                         f"{trim(str(main.get('error', '')))}")
        return result
    if status == "session_failed":
        message = main.get("error", "")
        out.add("AL501", node_named_in(message, out),
                f"onnxruntime could not create a session on {on}: {trim(message)}",
                help="Fix what onnxruntime names (see docs/runtime.md for the usual recurrent "
                "causes: layout=1, missing hidden_size, clip <= 0, activation counts).")
        return result
    if status == "provider_dropped":
        for provider in main.get("missing", []):
            out.add("AL505", None,
                    f"execution provider {provider} is installed but onnxruntime could not "
                    f"initialise it and would have run on {', '.join(main['providers_used'])}; "
                    "nothing was reported as run on it",
                    expected=provider, actual=", ".join(main["providers_used"]),
                    help="Check the provider's libraries (CUDA, cuDNN, TensorRT) match the "
                    f"installed {PACKAGE_HINTS.get(provider, 'onnxruntime build')}.")
        return result
    timing = _timing(main)
    if status == "run_failed":
        message = main.get("error", "")
        out.add("AL502", node_named_in(message, out),
                f"onnxruntime failed to run the model on {on}: {trim(message)}",
                help="The session loaded but the first run on valid inputs failed; fix the "
                "node it names (shapes are only checked at run time for LSTM/GRU/RNN).")
        return dataclasses.replace(result, timing=timing)
    outputs = _outputs(main, arrays)
    lines = tuple(_check_output(name, value, ctx, out, binding) for name, value in outputs.items())
    placed = placement(main.get("placement", []), ctx, out, providers)
    return dataclasses.replace(result, timing=timing, outputs=lines, placement=placed)


def _timing(main: Mapping[str, Any]) -> str | None:
    if "session_s" not in main:
        return None
    text = f"session creation {main['session_s'] * 1000:.1f} ms"
    if "first_run_s" in main:
        text += f", first run {main['first_run_s'] * 1000:.2f} ms"
    if "median_run_s" in main:
        text += f", median of {main['runs']} runs {main['median_run_s'] * 1000:.3f} ms"
    return text


def _bound_shape(shape: Shape, binding: Binding) -> str:
    dims = []
    for dim in shape:
        if isinstance(dim, str) and dim in binding.values:
            dims.append(f"{dim}={binding.values[dim]}")
        else:
            dims.append("?" if dim is None else str(dim))
    return "[" + ", ".join(dims) + "]"


def _check_output(name: str, value: np.ndarray[Any, Any], ctx: RuleContext, out: Collector,
                  binding: Binding) -> str:
    info = ctx.graph.tensor(name)
    actual = list(value.shape)
    producer = ctx.graph.producer(name)
    static: Shape | None = info.shape if info is not None else None
    if static is None:
        line = f"{name} {value.dtype}{actual} (static shape unknown: not checked)"
    else:
        expected = _bound_shape(static, binding)
        wrong = len(static) != len(actual) or any(
            (isinstance(d, int) and d != a)
            or (isinstance(d, str) and d in binding.values and binding.values[d] != a)
            for d, a in zip(static, actual, strict=False)
        )
        unchecked = [str(d) for d in static if d is None or (isinstance(d, str)
                                                             and d not in binding.values)]
        verdict = "MISMATCH" if wrong else "ok" if not unchecked else "ok where known"
        line = f"{name} {value.dtype}{actual}, static {expected}: {verdict}"
        if wrong:
            out.add("AL507", producer,
                    f"output {name!r} has shape {actual} at run time but static analysis "
                    f"inferred {format_shape(static)} (with {binding.describe()})",
                    expected=expected, actual=str(actual), tensor=name,
                    help="Fix the declared output shape (graph output or value_info) or the "
                    "node that produces it; consumers size their buffers from it.")
    counts = non_finite(value)
    if counts is not None:
        nans, infs = counts
        out.add("AL508", producer,
                f"output {name!r} has {nans} NaN and {infs} Inf values of {value.size} from "
                "finite inputs",
                expected="finite values", actual=f"{nans} NaN, {infs} Inf", tensor=name,
                help="Check the weights for NaN/Inf and the ops after the recurrence (Log, Sqrt, "
                "Div, Pow) for inputs outside their domain.")
    return line


# --- comparisons --------------------------------------------------------------------------------

def _compare_job(job: str, code: str, outcome: ChildOutcome,
                 arrays: Mapping[str, Mapping[str, Any]], reference: Mapping[str, Any],
                 out: Collector, settings: RuntimeSettings, where: str) -> None:
    result = outcome.results.get(job)
    if result is None:
        return
    if result.get("status") != "ok":
        out.notes.append(f"{job}: not compared, {result.get('status')}: "
                         f"{trim(str(result.get('error', result.get('missing', ''))))}")
        return
    other = _outputs(result, arrays[job])
    for name, value in reference.items():
        if name not in other:
            out.notes.append(f"{job}: output {name!r} has no counterpart {where}")
            continue
        diff = compare_arrays(value, other[name], settings.rtol, settings.atol)
        if diff.ok:
            out.notes.append(f"{job}: output {name!r} agrees {where} ({diff.describe()}, "
                             f"rtol={settings.rtol:g}, atol={settings.atol:g})")
            continue
        out.add(code, out.ctx.graph.producer(name),
                f"output {name!r} differs {where}: {diff.summary()} "
                f"(rtol={settings.rtol:g}, atol={settings.atol:g})",
                expected=f"|a - b| <= {settings.atol:g} + {settings.rtol:g}·|b|",
                actual=f"max abs {diff.max_abs:.3g}, max rel {diff.max_rel:.3g}", tensor=name,
                help="Compare per layer to find where the difference starts; loosen --rtol/--atol "
                "only if this precision is acceptable for the deployment.")


def _prepare_compare_model(settings: RuntimeSettings, feeds: Mapping[str, Any], workdir: Path,
                           out: Collector) -> Path | None:
    if not settings.compare_model:
        return None
    other_path = Path(settings.compare_model)
    try:
        other = analyse(load_model(other_path, settings.compare_model))
    except LoadError as exc:
        out.notes.append(f"--compare-model {exc}: not compared")
        return None
    names = fed_inputs(other.graph)
    missing = [n for n in names if n not in feeds]
    if missing:
        out.notes.append(f"--compare-model {settings.compare_model}: its inputs "
                         f"{', '.join(missing)} are not inputs of this model; not compared")
        return None
    import onnx

    cast = {}
    for name in names:
        info = other.graph.tensor(name)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(info.dtype) if info and info.dtype else None
        cast[name] = feeds[name].astype(dtype) if dtype is not None else feeds[name]
    _save(workdir / "inputs_other.npz", cast)
    return other_path


