"""Views x rules -> findings.

The engine loads a model, builds its graph and recurrent views once, and hands the same
read-only context to every selected rule. A rule that raises does not stop the lint: its
exception becomes an AL000 internal-error finding naming the rule, so one bad rule (or one
model a rule does not understand) never hides the findings of the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from archlint.api import Finding, Location, Rule, RuleContext, RuntimeRule, Severity
from archlint.core_rules import InternalError, UnusedSuppression
from archlint.graph import indexed
from archlint.layers import build_layers, unseen_recurrent
from archlint.loader import INVALID_UTF8, LoadedModel, LoadError, load_model
from archlint.process_end import keep_until_exit, release
from archlint.report import ModelReport, Report, RunFacts
from archlint.suppress import Suppressions

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from archlint.runtime.result import RuntimeRun
    from archlint.runtime.settings import RuntimeSettings

__all__ = ["Linter", "ModelReport", "Report", "analyse", "internal_error", "no_cyclic_gc"]


def recurrent_looking_unseen(ctx: RuleContext) -> tuple[str, ...]:
    """Nodes that may compute a recurrence but gave no layer (layers.unseen_recurrent)."""
    return unseen_recurrent(ctx.graph, (*ctx.layers, *ctx.recognised))


def analyse(model: LoadedModel, options: Mapping[str, object] | None = None) -> RuleContext:
    model, graph = indexed(model)  # structural: the inference child works meanwhile
    layers = build_layers(graph, model.exporter)
    ops = tuple(layer for layer in layers if layer.cell is None)
    return RuleContext(model=model, graph=graph, layers=ops, options=dict(options or {}),
                       recognised=tuple(layer for layer in layers if layer.cell is not None))


def _lifeline(parent: int) -> None:
    """A pool worker never outlives the linting process (nor, then, its inference child)."""
    from archlint.inference_child import die_with_parent

    if os.getppid() == parent:  # started by us (fork or spawn), not by a forkserver
        die_with_parent(parent)


# The linter a pool worker lints with: handed over once, when the worker starts (inherited
# through fork, pickled once per worker under spawn), so a task carries only its paths.
_POOL_LINTER: list[Linter] = []


def _start_worker(linter: Linter, parent: int, in_process_limit: float | None) -> None:
    """A pool worker's start. ``in_process_limit``: its small models are inferred in the worker
    itself, each pass for at most this long (inference.infer_small_models_here); None: in a
    child, as -j 1 does (the engine's second pool, after a worker ended, and every pool of a
    runtime check, whose workers a broken pool would kill in the middle of a run)."""
    # The CLI's SIGTERM handler (inherited through fork) turns SIGTERM into SystemExit, which
    # the pool's own code catches where a worker blocks sending a result back: a worker the
    # pool ends after another one died would then never end, and the pool would wait for it
    # for ever. A worker ends at once instead; the command's process stops the pool itself.
    # SIGTERM is blocked while the workers start (_pool_start), so none comes before this.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _lifeline(parent)
    _POOL_LINTER[:] = [linter]
    if in_process_limit is not None:
        from archlint.inference import infer_small_models_here

        infer_small_models_here(in_process_limit)


def _lint_chunk(targets: Sequence[tuple[str, Path]]) -> list[ModelReport]:
    return _POOL_LINTER[0]._lint_targets(targets)


# Models per task: small enough that the last tasks share out evenly (a 500-model folder of
# small exports is ~3 ms a model), large enough that a task's round trip (~0.3 ms) stays noise.
_MAX_CHUNK = 8


def _chunks(
    targets: Sequence[tuple[str, Path]], workers: int
) -> list[Sequence[tuple[str, Path]]]:
    size = max(1, min(_MAX_CHUNK, -(-len(targets) // (workers * 4))))
    return [targets[i:i + size] for i in range(0, len(targets), size)]


@contextlib.contextmanager
def _pool_start() -> Iterator[None]:
    """While workers fork: SIGTERM held (a worker sets its own action before it takes one,
    _start_worker), and the heap frozen (_frozen_heap)."""
    blocks = hasattr(signal, "pthread_sigmask")
    if blocks:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        with _frozen_heap():
            yield
    finally:
        if blocks:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """While workers fork: the parent's objects (onnx, numpy, the rules) leave the collector's
    care, so a worker's collections never touch them and copy their pages (copy-on-write)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Kill the workers now: ``shutdown(wait=True)`` would wait for their current models.
    The executor keeps its processes in ``_processes`` (CPython 3.8-3.13); without it, the
    workers' lifeline ends them when this process exits."""
    pool.shutdown(wait=False, cancel_futures=True)
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.kill()


# the run always gets this long, even when static inference used up the deadline
MIN_RUN_TIMEOUT_S = 1.0

class Linter:
    """Runs a fixed set of rules over models, then the one filter every finding passes.

    With ``runtime`` settings, each readable model also goes through one runtime check
    (onnxruntime in a child process) and the selected runtime rules read its result; their
    findings join the static ones *before* suppressions, severity overrides and the baseline.
    """

    def __init__(
        self,
        rules: Sequence[type[Rule]],
        severity_overrides: Mapping[str, Severity] | None = None,
        options: Mapping[str, object] | None = None,
        suppressions: Suppressions | None = None,
        runtime: RuntimeSettings | None = None,
    ) -> None:
        self.rule_classes = tuple(rules)
        instances = [rule() for rule in self.rule_classes]
        self.rules = tuple(r for r in instances if not isinstance(r, RuntimeRule))
        self.runtime_rules = tuple(r for r in instances if isinstance(r, RuntimeRule))
        self.severity_overrides = dict(severity_overrides or {})
        self.options = dict(options or {})
        self.suppressions = suppressions or Suppressions()
        self.runtime = runtime

    def lint_targets(
        self,
        targets: Sequence[tuple[str, Path]],
        jobs: int = 1,
        on_model: Callable[[ModelReport], None] | None = None,
    ) -> Report:
        """Lint (display path, path) pairs, found once by the caller (``archlint.app.discover``).

        ``jobs`` > 1 lints in that many processes; the report keeps the given order either
        way. ``on_model`` is called as each model finishes (a progress bar).
        """
        started = time.perf_counter()
        reports: list[ModelReport] = []
        if jobs > 1 and len(targets) > 1:
            from archlint.inference import close_worker

            close_worker()  # the CLI started one for this process, which infers nothing now
            reports = self._lint_in_pool(targets, min(jobs, len(targets)), on_model)
        else:
            for target in targets:
                reports.extend(self._lint_targets([target]))
                if on_model is not None:
                    on_model(reports[-1])
        return Report(tuple(reports), self.rule_classes, time.perf_counter() - started)

    def _lint_in_pool(
        self, targets: Sequence[tuple[str, Path]], workers: int,
        on_model: Callable[[ModelReport], None] | None,
    ) -> list[ModelReport]:
        """Lint in ``workers`` processes, reports in the order of ``targets``.

        The workers infer their small models themselves (inference.infer_small_models_here).
        When one of them ends (onnx aborted, crashed or ran past the limit on a model), the
        models the pool has not reported are linted again in workers that infer in a child
        each, as -j 1 does: so the report is -j 1's, that model's finding included. With a
        runtime check, every worker infers in a child."""
        from archlint.inference import IN_PROCESS_LIMIT_S

        chunks = _chunks(targets, workers)
        done: list[list[ModelReport] | None] = [None] * len(chunks)
        reports: list[ModelReport] = []
        told = [0]  # chunks whose reports are out

        def report_ready() -> None:  # in submission order, so output is deterministic
            while told[0] < len(chunks) and (chunk := done[told[0]]) is not None:
                for report in chunk:
                    reports.append(report)
                    if on_model is not None:
                        on_model(report)
                told[0] += 1

        limits = (IN_PROCESS_LIMIT_S, None) if self.runtime is None else (None,)
        for limit in limits:  # None: each model's inference in a child
            if self._lint_in_one_pool(chunks, done, report_ready, workers, limit):
                break
        return reports

    def _lint_in_one_pool(
        self, chunks: list[Sequence[tuple[str, Path]]], done: list[list[ModelReport] | None],
        report_ready: Callable[[], None], workers: int, limit: float | None,
    ) -> bool:
        """Lint the chunks not ``done`` in one pool; False when a worker ended (what finished
        before is kept in ``done``), and the caller goes on with another pool."""
        from concurrent.futures import Future, ProcessPoolExecutor  # only -j pays for them
        from concurrent.futures.process import BrokenProcessPool

        futures: dict[int, Future[list[ModelReport]]] = {}
        with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                                 initargs=(self, os.getpid(), limit)) as pool:
            try:
                with _pool_start():  # submit() starts the workers
                    for k, chunk in enumerate(chunks):
                        if done[k] is None:
                            futures[k] = pool.submit(_lint_chunk, chunk)
                for k, future in futures.items():
                    done[k] = future.result()
                    report_ready()
            except BrokenProcessPool:
                if limit is None:
                    _stop_pool(pool)
                    raise
                for k, future in futures.items():  # what finished before it broke
                    if future.done() and not future.cancelled() \
                            and future.exception() is None:
                        done[k] = future.result()
                _stop_pool(pool)  # the others, busy or blocked on a full pipe: now
                return False
            except BaseException:  # Ctrl-C, SIGTERM: the workers (and their children) too
                _stop_pool(pool)
                raise
        return True

    def _lint_targets(self, targets: Sequence[tuple[str, Path]]) -> list[ModelReport]:
        return [self.lint_file(path, shown) for shown, path in targets]

    def lint_file(self, path: Path, shown: str | None = None) -> ModelReport:
        shown = shown or str(path)
        with no_cyclic_gc():
            # the model and its views are freed inside: the collector, back on, never scans
            # them
            return self._lint_file(path, shown)

    def _lint_file(self, path: Path, shown: str) -> ModelReport:
        release()  # the last model's views, kept for a quick exit: freed before this one
        try:
            # `run --timeout T` is one deadline: static inference gets at most T too, and
            # the run what is left of it (lint_model)
            limit = None if self.runtime is None else self.runtime.timeout
            loading_started = time.monotonic()
            model = load_model(path, shown, inference_timeout=limit)
        except LoadError as exc:
            return ModelReport(shown, error=exc.reason)
        except UnicodeDecodeError:
            return ModelReport(shown, error=INVALID_UTF8)
        return self.lint_model(model, loading_started)

    def lint_model(self, model: LoadedModel, loading_started: float | None = None) -> ModelReport:
        """Lint a model already loaded (from a file, or a ModelProto held in memory)."""
        started = time.perf_counter()
        try:
            ctx = analyse(model, self.options)
            findings = list(self.run_rules(ctx))
            facts = None
            if self.runtime is not None and self.runtime_rules:
                found, facts = self.run_runtime_rules(ctx, self.runtime, loading_started)
                known = {f.fingerprint() for f in findings}
                findings.extend(f for f in found if f.fingerprint() not in known)
            filtered = self.suppressions.apply(
                ctx, findings, report_unused=UnusedSuppression in self.rule_classes
            )
        except LoadError as exc:
            return ModelReport(model.display_path, error=exc.reason)
        except UnicodeDecodeError:
            return ModelReport(model.display_path, error=INVALID_UTF8)
        keep_until_exit(ctx)  # the console script exits without freeing it (process_end.py)
        return ModelReport(
            path=model.display_path,
            # once, after suppression: the AL010 findings it adds are overridable too
            findings=tuple(sorted(set(self._apply_overrides(filtered.findings)),
                                  key=_finding_order)),
            suppressed=filtered.suppressed,
            baselined=filtered.baselined,
            recurrent_layers=len(ctx.layers) + len(ctx.recognised),
            unchecked_layers=len(ctx.recognised),
            unseen=recurrent_looking_unseen(ctx),
            nodes=len(ctx.graph.nodes),
            elapsed_s=time.perf_counter() - started,
            runtime=facts,
        )

    def run_rules(self, ctx: RuleContext) -> tuple[Finding, ...]:
        findings: list[Finding] = []
        for rule in self.rules:
            if not all(ctx.options.get(key) for key in rule.requires_options):
                continue  # does nothing without them (the reporters say it did not run)
            try:
                findings.extend(rule.check(ctx))
            except UnicodeDecodeError:
                raise  # a corrupt model, not a rule bug: reported as unreadable
            except Exception as exc:  # a rule bug must not hide other rules' findings
                findings.append(internal_error(ctx, rule, exc))
        return tuple(sorted(set(findings), key=_finding_order))

    def run_runtime_rules(
        self, ctx: RuleContext, settings: RuntimeSettings, started: float | None = None
    ) -> tuple[list[Finding], RunFacts]:
        """One runtime check of the model (a child process), read by every runtime rule."""
        from archlint.runtime.check import run_model

        left = None
        if started is not None:  # what the static inference left of the one deadline
            left = max(settings.timeout - (time.monotonic() - started), MIN_RUN_TIMEOUT_S)
        run = run_model(ctx, settings, time_left=left)
        findings = self.check_run(run, ctx)
        notes = (f"not run: {run.not_run}",) if run.not_run else ()
        facts = RunFacts(
            providers=run.providers, dims=run.dims,
            inputs=tuple(spec.describe() for spec in run.inputs), outputs=run.output_lines,
            placement=run.placement_lines, timing=run.timing, notes=notes + run.notes,
            sweep=run.sweep_lines(), detail=run.to_dict())
        return findings, facts

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> list[Finding]:
        """The selected runtime rules' findings on one run (``source="onnxruntime"``)."""
        findings: list[Finding] = []
        for rule in self.runtime_rules:
            try:
                findings.extend(dataclasses.replace(f, source="onnxruntime")
                                for f in rule.check_run(run, ctx))
            except Exception as exc:  # a rule bug must not hide other rules' findings
                findings.append(internal_error(ctx, rule, exc))
        return sorted(set(findings), key=_finding_order)

    def _apply_overrides(self, findings: Iterable[Finding]) -> list[Finding]:
        result = []
        for finding in findings:
            override = self.severity_overrides.get(finding.code)
            if override is not None and override is not finding.severity:
                finding = dataclasses.replace(finding, severity=override)
            result.append(finding)
        return result


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while one model is analysed.

    Analysis allocates one object per node, tensor and view and frees them together (they form
    no cycles: reference counting frees them). Left on, the collector rescans that growing heap
    again and again: a quarter of the time on a 100k-node model.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def internal_error(ctx: RuleContext, rule: Rule, exc: Exception) -> Finding:
    where = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return Finding(
        code=InternalError.code,
        name=InternalError.name,
        severity=InternalError.severity,
        message=f"rule {rule.code} ({rule.name}) crashed on this model: {where}",
        location=Location(model=ctx.model.display_path),
        help="This is a bug in the rule, not in your model. Please report it with the model, "
        "or run with --ignore " + rule.code + " meanwhile.",
    )


def _finding_order(f: Finding) -> tuple[str, int, str, str, str, str]:
    loc = f.location
    index = -1 if loc.node_index is None else loc.node_index
    # the message breaks ties, so the order never depends on set() iteration
    return (loc.graph, index, f.code, loc.input or loc.output or "", loc.attribute or "",
            f.message)
