"""One analysed model through onnxruntime: inputs, one child process, a typed result.

Data flow: the caller hands over the model's static context (the same views the rules read);
this binds its symbolic dims and draws inputs, runs the jobs in one child process (the
requested providers; the ``--compare`` provider; the ``--compare-model``; the recurrent nodes
for the reference evaluator) and returns a :class:`~archlint.runtime.result.RuntimeRun`.
Runtime rules (``RuntimeRule.check_run``) turn it into findings; nothing here names a code.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archlint.api import RuleContext
from archlint.declared_types import type_of
from archlint.graph import NodeInfo, indexed
from archlint.loader import LoadError, load_model
from archlint.runtime.child import ChildOutcome, run_worker
from archlint.runtime.collector import node_named_in, trim
from archlint.runtime.compare import compare_arrays, non_finite
from archlint.runtime.inputs import (
    RETRY_MAX_BYTES,
    UNNAMED_BY_DEFAULT,
    Binding,
    GivenInputError,
    InputsError,
    InputSpec,
    batch_of_one,
    bind_dims,
    drawn_bytes,
    fed_inputs,
    joint_sweeps,
    load_given,
    longest_sequence,
    make_inputs,
    sequence_past,
    sizes_to_retry,
    sweep_bindings,
)
from archlint.runtime.placement import placement
from archlint.runtime.prediction import predict
from archlint.runtime.providers import CPU, resolve_provider, short_name
from archlint.runtime.reference import reference_diffs, reference_nodes
from archlint.runtime.result import (
    ChildEnd,
    JobOutcome,
    OutputCheck,
    OutputDiff,
    RuntimeRun,
    SizeRetry,
    SweepRun,
)
from archlint.runtime.settings import RuntimeSettings
from archlint.shapes import Shape

__all__ = ["RuntimeUnavailable", "available_providers", "run_model"]


class RuntimeUnavailable(Exception):
    """onnxruntime is not installed: the runtime check cannot run at all."""


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


def run_model(ctx: RuleContext, settings: RuntimeSettings,
              available: tuple[str, ...] | None = None, *,
              time_left: float | None = None) -> RuntimeRun:
    """Run one analysed model as ``settings`` say; ``available`` defaults to the installed
    onnxruntime's providers. ``time_left`` is what loading left of ``settings.timeout`` (one
    deadline for both); the findings still name the deadline the user set.

    When ``run`` fails at sizes archlint chose (a named dim's default), the model runs again
    with those dims at :data:`~archlint.runtime.inputs.RETRY_SIZE`, within the same deadline,
    and ``retried`` says how that went: when it succeeds its results are the check's (a model
    that needs a minimum length is not broken); otherwise the first run's are, and only the
    same failure at both sizes shows that the sizes are not the cause. When the failure
    stays, the batch archlint chose is tried once at 1 (:func:`_batch_to_retry`): where the
    model runs there and the batch sweep from 1 fails, that run is the check's, with a note
    naming the first failure."""
    started = time.monotonic()
    available = available_providers() if available is None else available
    budget = settings.timeout if time_left is None else time_left
    run, binding = _run_retried(ctx, settings, available, time_left, started)
    ones = _batch_to_retry(run, binding)
    left = budget - (time.monotonic() - started)
    if not ones or left < MIN_RETRY_S:
        return run
    at_one, _ = _run_once(ctx, settings, available, left, ones)
    if at_one.main is None or at_one.main.status != "ok" or not any(
            sweep.role == "batch" and sweep.status in ("session_failed", "run_failed")
            for sweep in at_one.sweep):
        return run
    assert run.main is not None
    note = (f"the run at {run.binding} failed ({trim(run.main.error)}); archlint ran the "
            f"model again at batch 1 ({', '.join(ones)}), the size exports are traced with, "
            "and it ran: the batch sweep says where it fails")
    return dataclasses.replace(at_one, notes=(*at_one.notes, note))


def _batch_to_retry(run: RuntimeRun, binding: Binding | None) -> dict[str, int]:
    """The batch dims to run at 1 after ``run`` failed at archlint's sizes, larger sizes of
    its other dims did not help, and no value it invented may be the cause: a model whose
    export wrote the batch into the graph runs at 1, and the batch sweep from there finds
    where it fails (a size-dependent run, the model's defect), where the first run's failure
    could only name the node."""
    main = run.main
    if binding is None or main is None or main.status != "run_failed" or run.invented:
        return {}
    if run.retried is not None and run.retried.outcome not in ("same_failure", "failed"):
        return {}
    return batch_of_one(binding)


def _run_retried(ctx: RuleContext, settings: RuntimeSettings, available: tuple[str, ...],
                 time_left: float | None, started: float,
                 ) -> tuple[RuntimeRun, Binding | None]:
    """The first run, and again at larger sizes where it failed at sizes archlint chose
    (see :func:`run_model`); with the binding of the first run."""
    first, binding = _run_once(ctx, settings, available, time_left)
    retried = _sizes_to_retry(first, binding)
    if not retried or binding is None:
        return first, binding
    dims = tuple(keys[0] for _, keys in binding.groups if keys and keys[0] in retried)
    if first.main is not None:
        on, error, node = first.main.on, first.main.error, first.main.node
    else:  # a crash running the inputs (_sizes_to_retry): what the child's end says
        assert first.child is not None
        on = ", ".join(short_name(p) for p in first.providers)
        error = f"onnxruntime crashed with {first.child.died} {first.child.where}"
        node = first.child.node

    def retry(outcome: str, second: str = "", detail: str = "") -> SizeRetry:
        return SizeRetry(first.binding, on, error, node, dims, outcome, second, trim(detail))

    budget = settings.timeout if time_left is None else time_left
    left = budget - (time.monotonic() - started)
    if left < MIN_RETRY_S:
        return dataclasses.replace(first, retried=retry(
            "not_run", detail="the deadline left no time for it")), binding
    second, _ = _run_once(ctx, settings, available, left, retried)
    main = second.main
    if main is not None and main.status == "ok":  # what came after it is reported as usual
        return _without_reference_verdicts(
            dataclasses.replace(second, retried=retry("ran", second.binding))), binding
    if second.not_run is not None:
        return dataclasses.replace(first, retried=retry("not_run", detail=second.not_run)), \
            binding
    if main is None or main.status != "run_failed":
        return dataclasses.replace(first, retried=retry("not_run", second.binding,
                                                        _why_not_run(second))), binding
    same = main.error == error and main.node == node
    return dataclasses.replace(first, retried=retry(
        "same_failure" if same else "failed", second.binding, main.error)), binding


def _without_reference_verdicts(run: RuntimeRun) -> RuntimeRun:
    """A run at the larger sizes archlint chose keeps its reference differences as notes.

    Over hundreds of steps, rounding grows through a recurrence whose weights amplify it (an
    LSTM with recurrent weights of gain 2 drifts by 2 at 640 steps, kernel and reference
    alike right), so a difference there may be archlint's choice of length, not the kernel's;
    the sizes the model is meant for (``--dim``) give a comparison that can be reported."""
    if not run.reference:
        return run
    drifted = tuple(
        f"reference: {d.layer.op_type} {d.layer.label!r} output {d.slot} differs from "
        f"onnx.reference at the larger sizes archlint chose ({d.diff.summary()}): not "
        "reported, as rounding grows over a long sequence; give the sizes with --dim to "
        "compare" for d in run.reference)
    return dataclasses.replace(run, reference=(), notes=(*run.notes, *drifted))


def _why_not_run(run: RuntimeRun) -> str:
    """Why a run that raised nothing has no result: onnxruntime's message, or the child's end."""
    if run.main is not None and run.main.error:
        return run.main.error
    child = run.child
    if child is None:
        return "no result"
    if child.timed_out:
        return f"the child was still running at the deadline, {child.where}"
    return f"the child died ({child.died}) {child.where}"


# The least time left worth a second run (a session and one run of a small model)
MIN_RETRY_S = 1.0


def _sizes_to_retry(run: RuntimeRun, binding: Binding | None) -> dict[str, int]:
    """The dims to bind larger after ``run``: only when ``run`` itself raised, or the child
    died running the inputs (onnxruntime crashed on them: an STFT shorter than its window
    divides by zero), and archlint chose some of its sizes; not after a timeout or a session
    that would not load or crashed being created."""
    if binding is None:
        return {}
    if run.child is not None:
        return sizes_to_retry(binding) if run.child.in_main_run else {}
    if run.main is None or run.main.status != "run_failed":
        return {}
    return sizes_to_retry(binding)


def _run_once(ctx: RuleContext, settings: RuntimeSettings, available: tuple[str, ...],
              time_left: float | None, retried: Mapping[str, int] | None = None,
              ) -> tuple[RuntimeRun, Binding | None]:
    """One run of the model in one child, and the binding it ran at (None when nothing
    could be drawn or run)."""
    model = ctx.model
    providers = tuple(resolve_provider(p) for p in settings.providers)
    base = RuntimeRun(model.display_path, settings, providers, available)
    unsafe = [ref for ref in model.external_data if ref.problem is not None]
    if unsafe:
        # Never hand onnxruntime a location that escapes the folder.
        return dataclasses.replace(
            base, not_run=f"external data of {unsafe[0].tensor!r} is unsafe or missing "
            f"({unsafe[0].problem}); see AL002/AL003"), None
    compare = resolve_provider(settings.compare) if settings.compare else None
    missing = [p for p in (*providers, *([compare] if compare else [])) if p not in available]
    if missing:
        return dataclasses.replace(base, unavailable=tuple(dict.fromkeys(missing))), None

    notes: list[str] = []
    try:
        given = load_given(ctx.graph, settings.inputs, settings.inputs_file)
    except GivenInputError as exc:
        return dataclasses.replace(base, not_run=str(exc)), None
    # the recognised Loop and Scan cells say which axes are seq and batch too
    binding = bind_dims(ctx.graph, (*ctx.layers, *ctx.recognised), settings.dims,
                        {name: array.shape for name, (array, _) in given.items()}, retried,
                        settings.dims_from_config, model.exporter)
    if retried and (size := drawn_bytes(ctx.graph, binding)) > RETRY_MAX_BYTES:
        return dataclasses.replace(base, not_run=f"its inputs would take {size:,} bytes at "
                                   f"{binding.short()} (at most {RETRY_MAX_BYTES:,})"), None
    try:
        feeds, specs = make_inputs(ctx.graph, ctx.layers, binding, settings.seed, given)
    except InputsError as exc:  # not run is not passed: AL501 reports it
        return dataclasses.replace(base, not_run=str(exc), not_run_needs=exc.needs), None
    notes.extend(f"--dim {name}: this model has no such symbolic dimension"
                 for name in binding.unused)
    with tempfile.TemporaryDirectory(prefix="archlint-run-") as tmp:
        workdir = Path(tmp)
        path = model.path
        if not path.is_file():  # a ModelProto held in memory: onnxruntime needs a file
            path = workdir / "model.onnx"
            path.write_bytes(model.proto.SerializeToString())
        _save(workdir / "inputs.npz", feeds)
        jobs = [_job("main", path, providers, "inputs.npz", runs=settings.runs, profile=True)]
        if compare is not None:
            jobs.append(_job("compare", path, (compare,), "inputs.npz"))
        other = _prepare_compare_model(settings, feeds, workdir, notes)
        if other is not None:
            jobs.append(_job("compare_model", other, providers, "inputs_other.npz"))
        nodes, subs = reference_nodes(ctx.graph, ctx.layers, notes) if settings.reference \
            else ([], [])
        if nodes or subs:
            jobs.append({**_job("reference", path, (CPU,), "inputs.npz"), "kind": "reference",
                         "nodes": [n.index for n in nodes], "sub": subs})
        sweeps = sweep_bindings(binding) if settings.sweep else []
        joints = joint_sweeps(sweeps, binding)
        runs = [(f"sweep{i}", b) for i, (*_, b) in enumerate(sweeps)] \
            + [(f"joint{j}", b) for j, (_, b) in enumerate(joints)]
        for job_id, other_binding in runs:
            try:
                other_feeds, _ = make_inputs(ctx.graph, ctx.layers, other_binding,
                                             settings.seed, given)
            except InputsError:
                continue  # a second size that cannot be drawn is not swept
            _save(workdir / f"inputs_{job_id}.npz", other_feeds)
            jobs.append(_job(job_id, path, providers, f"inputs_{job_id}.npz"))
        budget = settings.timeout if time_left is None else time_left
        outcome = run_worker({"jobs": jobs}, workdir, budget)
        past = _sequence_past_runs(ctx, settings, given, sweeps, outcome, path, providers,
                                   workdir, budget - outcome.elapsed_s)
        arrays = {j["id"]: _arrays(workdir / f"{j['id']}.npz") for j in jobs}
        non_negative = _finite_when_non_negative(
            outcome, arrays.get("main", {}), feeds, specs, path, providers, workdir,
            settings.timeout if time_left is None else time_left)
    alone = {i: _sweep_run(outcome.results.get(f"sweep{i}"), arrays.get(f"sweep{i}", {}),
                           ctx, sweep)
             for i, sweep in enumerate(sweeps) if outcome.results.get(f"sweep{i}") is not None}
    # the groups of each joint run that ran clean together
    ran_together = [members for j, (members, joint_binding) in enumerate(joints)
                    if outcome.results.get(f"joint{j}") is not None and _clean(_sweep_run(
                        outcome.results[f"joint{j}"], arrays.get(f"joint{j}", {}), ctx,
                        ("", "", 0, 0, joint_binding)))]
    swept = tuple(_below_sequence(_together(run, i, sweeps, ran_together, alone), past.get(i))
                  for i, run in alone.items())
    invented = [(spec.name, f"--input {spec.name}=VALUE") for spec in specs if spec.invented]
    invented += [(key, f"--dim {key}=SIZE") for key, origin in binding.origin.items()
                 if origin.startswith(UNNAMED_BY_DEFAULT)]
    run = dataclasses.replace(base, dims=binding.describe(), inputs=specs,
                              finite_when_non_negative=non_negative,
                              binding=binding.short(), sweep=swept,
                              invented=tuple(k for k, _ in invented),
                              invented_flags=tuple(f for _, f in invented),
                              child=_child_end(outcome, ctx, settings, providers, binding))
    main = outcome.results.get("main")
    if main is None and run.child is None:  # the child ended well but its result is unreadable
        main = {"status": "worker_error", "error": "its result file is missing or cut short"}
    if main is not None:
        run = _main_job(main, arrays["main"], ctx, binding, providers, run, notes)
        run = dataclasses.replace(run, outputs=tuple(
            _with_follows(check, binding, swept) for check in run.outputs))
        mismatches, lines = predict(main, ctx, providers, settings.profiles, notes, run.placed)
        run = dataclasses.replace(run, prediction=mismatches,
                                  placement_lines=run.placement_lines + lines)
        if main.get("status") == "ok":
            reference_outputs = _outputs(main, arrays["main"])
            diffs = [
                *_compare_job("compare", outcome, arrays, reference_outputs, ctx, settings,
                              f"on {short_name(compare or '')}", notes),
                *_compare_job("compare_model", outcome, arrays, reference_outputs, ctx,
                              settings, f"in {settings.compare_model}", notes),
            ]
            found = reference_diffs(outcome.results.get("reference"),
                                    arrays.get("reference", {}), ctx, settings, notes)
            run = dataclasses.replace(run, comparisons=tuple(diffs), reference=found)
    return dataclasses.replace(run, notes=tuple(notes)), binding


def _finite_when_non_negative(
    outcome: Any, main: Mapping[str, np.ndarray[Any, Any]], feeds: Mapping[str, Any],
    specs: Sequence[InputSpec], path: Path, providers: tuple[str, ...], workdir: Path,
    timeout: float,
) -> bool | None:
    """Where the main run's outputs hold NaN or Inf and archlint drew some float inputs at
    random in [-1, 1): whether one more run, those inputs made non-negative (their absolute
    values), gives finite outputs. A state that holds a running power or mean is never
    negative, and Sqrt or Log of it gives NaN on the random values only (DeepFilterNet's
    streaming state). None when not tried."""
    result = outcome.results.get("main") or {}
    if result.get("status") != "ok" or not any(
            non_finite(np.asarray(value)) for value in main.values()):
        return None
    drawn = [spec.name for spec in specs if spec.origin == "random" and spec.low == -1.0]
    if not drawn:
        return None
    flipped = {name: (np.abs(value) if name in drawn else value)
               for name, value in feeds.items()}
    _save(workdir / "inputs_non_negative.npz", flipped)
    again = run_worker({"jobs": [_job("non_negative", path, providers,
                                      "inputs_non_negative.npz")]}, workdir, timeout)
    found = again.results.get("non_negative") or {}
    if found.get("status") != "ok":
        return None
    values = _arrays(workdir / "non_negative.npz")
    return bool(values) and not any(non_finite(np.asarray(v)) for v in values.values())


def _job(job_id: str, model: Path | str, providers: tuple[str, ...], inputs: str, *,
         runs: int = 1, profile: bool = False) -> dict[str, Any]:
    return {"id": job_id, "model": str(Path(model).resolve()), "providers": list(providers),
            "inputs": inputs, "runs": runs, "profile": profile}


def _save(path: Path, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
    """The feeds as an .npz the worker loads without pickle: a text tensor (an object array
    of str, as onnxruntime takes it) is saved as a unicode array (worker.load_feeds makes it
    an object array again)."""
    saved = {name: (value.astype(str) if isinstance(value, np.ndarray)
                    and value.dtype.kind == "O" else value)
             for name, value in arrays.items()}
    # numpy's stub types savez(**kwds) as bool; the arrays are what it takes at run time
    np.savez(path, **saved)  # type: ignore[arg-type]


def _arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """A job's arrays; none when the file is missing or was cut short (the child was killed
    while writing it): the job's outputs are then not checked, and say so."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return {}


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


def _child_end(outcome: ChildOutcome, ctx: RuleContext, settings: RuntimeSettings,
               providers: tuple[str, ...], binding: Binding) -> ChildEnd | None:
    if outcome.completed:
        return None
    job = outcome.stage[0] if outcome.stage else "main"
    if job == "compare" and settings.compare:
        providers = (resolve_provider(settings.compare),)
    elif job == "reference":
        providers = (CPU,)  # the reference capture always runs on the CPU provider
    on = ", ".join(short_name(p) for p in providers)
    if binding.values:
        on += f" with {binding.describe()}"
    died = "still running" if outcome.timed_out else (
        outcome.signal or f"exit code {outcome.returncode}")
    return ChildEnd(outcome.timed_out, died, _where(outcome), on, outcome.stderr_tail,
                    _node_for_stage(outcome, ctx),
                    stage=outcome.stage)


def _node_for_stage(outcome: ChildOutcome, ctx: RuleContext) -> NodeInfo | None:
    if outcome.stage is not None and outcome.stage[1].startswith("reference:"):
        index = int(outcome.stage[1].split(":", 1)[1])
        return ctx.graph.nodes.get(f"main/{index}")
    return None


# --- the requested providers' run -----------------------------------------------------------

def _main_job(
    main: Mapping[str, Any], arrays: Mapping[str, Any], ctx: RuleContext, binding: Binding,
    providers: tuple[str, ...], run: RuntimeRun, notes: list[str],
) -> RuntimeRun:
    status = str(main.get("status"))
    on = ", ".join(short_name(p) for p in providers)
    if status == "worker_error":  # not checked is not passed: AL501 reports it
        job = JobOutcome(status, on, f"the worker failed before onnxruntime ran: "
                         f"{trim(str(main.get('error', '')))}")
        return dataclasses.replace(run, main=job)
    if status in ("session_failed", "run_failed"):
        message = str(main.get("error", ""))
        job = JobOutcome(status, on, message, node_named_in(message, ctx.graph))
        return dataclasses.replace(run, main=job, timings=_timings(main),
                                   timing=_timing(main) if status == "run_failed" else None)
    if status == "provider_dropped":
        job = JobOutcome(status, on, providers_used=tuple(main["providers_used"]),
                         dropped=tuple(main.get("missing", [])))
        return dataclasses.replace(run, main=job)
    if main.get("outputs") and not arrays:  # results written, arrays cut short
        return dataclasses.replace(run, main=JobOutcome(
            "worker_error", on, "its output arrays are missing or cut short"))
    checks = tuple(_check_output(name, value, ctx, binding)
                   for name, value in _outputs(main, arrays).items())
    placed, lines = placement(main.get("placement", []), ctx, providers)
    return dataclasses.replace(
        run, main=JobOutcome("ok", on, providers_used=tuple(main.get("providers_used", ()))),
        timing=_timing(main), timings=_timings(main), outputs=checks,
        output_lines=tuple(c.line for c in checks),
        placed=placed, placement_lines=lines)


def _together(
    run: SweepRun, index: int, sweeps: list[tuple[str, str, int, int, Binding]],
    ran_together: list[tuple[int, ...]], alone: Mapping[int, SweepRun],
) -> SweepRun:
    """``run`` (sweep ``index``), marked with the dims it ran with when every one of them
    failed alone but all ran when they moved together (``ran_together``, of
    :func:`joint_sweeps`): one size the inputs name apart. Where only some fail alone, the
    sizes are not one: a model that runs only where batch <= seq fails at batch 5 and runs at
    seq 5, and runs at both 5."""
    if _clean(run):
        return run
    for members in ran_together:
        if index in members and not any(i not in alone or _clean(alone[i]) for i in members):
            return dataclasses.replace(run, together=", ".join(
                sweeps[i][0] for i in members if i != index))
    return run


def _sequence_past_runs(
    ctx: RuleContext, settings: RuntimeSettings, given: Mapping[str, Any],
    sweeps: list[tuple[str, str, int, int, Binding]], outcome: ChildOutcome, path: Path,
    providers: tuple[str, ...], workdir: Path, left: float,
) -> dict[int, str]:
    """Sweep index -> the dims it ran at, for each batch sweep that failed at a batch past
    the sequence (:func:`~archlint.runtime.inputs.sequence_past`) and ran clean once the
    sequence passed the batch in turn: one more child, made only for such a failure."""
    tries: dict[int, Binding] = {}
    for index, (_, role, _, size, swept) in enumerate(sweeps):
        result = outcome.results.get(f"sweep{index}") or {}
        if role == "batch" and result.get("status") in ("session_failed", "run_failed") \
                and (longer := sequence_past(swept, size)) is not None \
                and size > (longest_sequence(swept) or 0):
            tries[index] = longer
    if not tries or left < MIN_RETRY_S:
        return {}
    jobs = []
    for index, longer in tries.items():
        try:
            feeds, _ = make_inputs(ctx.graph, ctx.layers, longer, settings.seed, given)
        except InputsError:
            continue
        _save(workdir / f"inputs_past{index}.npz", feeds)
        jobs.append(_job(f"past{index}", path, providers, f"inputs_past{index}.npz"))
    second = run_worker({"jobs": jobs}, workdir, left) if jobs else None
    found = {}
    for index, longer in tries.items():
        ran = second.results.get(f"past{index}") if second is not None else None
        if ran is not None and _clean(_sweep_run(
                ran, _arrays(workdir / f"past{index}.npz"), ctx, ("", "", 0, 0, longer))):
            found[index] = longer.short()
    return found


def _below_sequence(run: SweepRun, ran: str | None) -> SweepRun:
    """``run`` marked with the dims it ran at once the sequence passed the batch (a model
    that runs only where batch <= seq takes one axis for the other)."""
    return dataclasses.replace(run, below_sequence=ran) if ran else run


def _clean(run: SweepRun) -> bool:
    return run.status == "ok" and not run.mismatched


def _sweep_run(result: Mapping[str, Any] | None, arrays: Mapping[str, Any], ctx: RuleContext,
               sweep: tuple[str, str, int, int, Binding]) -> SweepRun:
    dim, role, base, size, binding = sweep
    result = result or {}
    status = str(result.get("status", "worker_error"))
    message = str(result.get("error", "")) or (status if status != "ok" else "")
    node = node_named_in(message, ctx.graph) if message else None
    checks: list[OutputCheck] = []
    if status == "ok":
        checks = [_check_output(name, value, ctx, binding)
                  for name, value in _outputs(result, arrays).items()]
    wrong = [check for check in checks if check.mismatch]
    if status == "provider_dropped":
        message = ""
    return SweepRun(dim, role, base, size, binding.short(), status, message, node,
                    tuple(check.name for check in wrong), result.get("first_run_s"),
                    declared_only=bool(wrong) and all(
                        _only_the_declaration(check, binding, base, size) for check in wrong),
                    shapes={check.name: check.shape for check in checks})


def _with_follows(check: OutputCheck, binding: Binding,
                  sweeps: Sequence[SweepRun]) -> OutputCheck:
    """``check`` (a main-run output) with ``follows`` set where it disagrees with its static
    shape only on axes that shape holds as a number and that moved in a sweep run: the
    output follows a dynamic dim, and only the declaration holds another size. Unchanged
    where a symbol is bound to another size, the rank differs, or a number disagrees on an
    axis no sweep moved (a state the graph lost: the declaration is right, the graph not)."""
    static = check.static
    if not check.mismatch or static is None or len(static) != len(check.shape):
        return check
    follows = []
    for axis, (dim, actual) in enumerate(zip(static, check.shape, strict=True)):
        if isinstance(dim, str):
            if binding.values.get(dim, actual) != actual:
                return check
            continue
        if dim is None or dim == actual:
            continue
        moved = next((sweep for sweep in sweeps if sweep.status == "ok"
                      and len(sweep.shapes.get(check.name, ())) == len(static)
                      and sweep.shapes[check.name][axis] != actual), None)
        if moved is None:
            return check
        follows.append((axis, moved.dim, moved.size, moved.shapes[check.name][axis]))
    return dataclasses.replace(check, follows=tuple(follows))


def _only_the_declaration(check: OutputCheck, binding: Binding, base: int, size: int) -> bool:
    """Whether ``check`` disagrees with its static shape only where that shape holds the main
    run's size as a number and the output has this run's: the output follows the swept dim,
    and its declaration was written with the export example's size (AL316 without a run). A
    regrouped output (a baked Reshape that still divides: [4, 25] for [batch, 25]) is not."""
    static = check.static
    if static is None or len(static) != len(check.shape):
        return False
    written = False
    for dim, actual in zip(static, check.shape, strict=True):
        if isinstance(dim, int) and dim != actual:
            if dim != base or actual != size:
                return False
            written = True
        elif isinstance(dim, str) and binding.values.get(dim, actual) != actual:
            return False
    return written


def _timings(main: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(main[key]) for key in ("session_s", "first_run_s", "median_run_s")
            if key in main}


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


def _declared_outputs(ctx: RuleContext) -> Mapping[str, Shape]:
    """The main graph outputs' shapes as the file declares them (declared_types.type_of:
    symbols, sizes, None for a dim without either), before inference merged its own in."""
    def read() -> dict[str, Shape]:
        return {output.name: shape for output in ctx.model.proto.graph.output
                if (shape := type_of(output)[1]) is not None}

    return ctx.memo("runtime.declared_outputs", read)


def _check_output(name: str, value: np.ndarray[Any, Any], ctx: RuleContext,
                  binding: Binding) -> OutputCheck:
    info = ctx.graph.tensor(name)
    actual = tuple(int(d) for d in value.shape)
    static: Shape | None = info.shape if info is not None else None
    declared = _declared_outputs(ctx).get(name)
    if static is not None and declared is not None and len(declared) == len(static):
        # an input's symbol the output declares where inference computed a number: the
        # output must follow that input (an LSTMCell chain traced at 5 steps, declared
        # [seq, batch, 4], returns 5 steps at seq 7)
        static = tuple(
            dim if isinstance(dim, str) and isinstance(own, int) and dim in binding.values
            else own for own, dim in zip(static, declared, strict=True))
    expected = None if static is None else _bound_shape(static, binding)
    wrong = static is not None and (len(static) != len(actual) or any(
        (isinstance(d, int) and d != a)
        or (isinstance(d, str) and d in binding.values and binding.values[d] != a)
        for d, a in zip(static, actual, strict=False)
    ))
    if static is None:
        line = f"{name} {value.dtype}{list(actual)} (static shape unknown: not checked)"
    else:
        unchecked = [d for d in static if d is None or (isinstance(d, str)
                                                        and d not in binding.values)]
        verdict = "MISMATCH" if wrong else "ok" if not unchecked else "ok where known"
        line = f"{name} {value.dtype}{list(actual)}, static {expected}: {verdict}"
    nans, infs = non_finite(value) or (0, 0)
    return OutputCheck(name, actual, static, expected, wrong, nans, infs, int(value.size),
                       ctx.graph.producer(name), binding.describe(), line)


# --- comparisons --------------------------------------------------------------------------------

def _compare_job(job: str, outcome: ChildOutcome, arrays: Mapping[str, Mapping[str, Any]],
                 reference: Mapping[str, Any], ctx: RuleContext, settings: RuntimeSettings,
                 where: str, notes: list[str]) -> list[OutputDiff]:
    result = outcome.results.get(job)
    if result is None:
        return []
    if result.get("status") != "ok":
        notes.append(f"{job}: not compared, {result.get('status')}: "
                     f"{trim(str(result.get('error', result.get('missing', ''))))}")
        return []
    other = _outputs(result, arrays[job])
    diffs = []
    for name, value in reference.items():
        if name not in other:
            notes.append(f"{job}: output {name!r} has no counterpart {where}")
            continue
        diff = compare_arrays(value, other[name], settings.rtol, settings.atol)
        if diff.ok:
            notes.append(f"{job}: output {name!r} agrees {where} ({diff.describe()}, "
                         f"rtol={settings.rtol:g}, atol={settings.atol:g})")
            continue
        diffs.append(OutputDiff(job, name, where, diff, ctx.graph.producer(name)))
    return diffs


def _prepare_compare_model(settings: RuntimeSettings, feeds: Mapping[str, Any], workdir: Path,
                           notes: list[str]) -> Path | None:
    if not settings.compare_model:
        return None
    other_path = Path(settings.compare_model)
    try:
        _, other = indexed(load_model(other_path, settings.compare_model))
    except LoadError as exc:
        notes.append(f"--compare-model {exc}: not compared")
        return None
    names = fed_inputs(other)
    missing = [n for n in names if n not in feeds]
    if missing:
        notes.append(f"--compare-model {settings.compare_model}: its inputs "
                     f"{', '.join(missing)} are not inputs of this model; not compared")
        return None
    import onnx

    cast = {}
    for name in names:
        info = other.tensor(name)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(info.dtype) if info and info.dtype else None
        cast[name] = feeds[name].astype(dtype) if dtype is not None else feeds[name]
    _save(workdir / "inputs_other.npz", cast)
    return other_path
