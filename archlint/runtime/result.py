"""The typed result of one runtime check: what one child run of a model did.

``archlint.runtime.check.run_model`` fills a :class:`RuntimeRun`; runtime rules read it in
``RuntimeRule.check_run(run, ctx)`` and turn it into findings. Nothing here names a rule code:
the runtime package observes, the rules judge. Every record is frozen and checked when built,
so a rule can rely on the invariants (a failed job has a message, a crash has no result...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archlint.graph import NodeInfo
from archlint.recurrent import RecurrentLayer
from archlint.runtime.compare import Difference
from archlint.runtime.inputs import InputSpec
from archlint.runtime.settings import RuntimeSettings
from archlint.shapes import Shape

__all__ = [
    "ChildEnd",
    "JobOutcome",
    "OutputCheck",
    "OutputDiff",
    "Placed",
    "PredictionMismatch",
    "ReferenceDiff",
    "RuntimeRun",
    "SizeRetry",
    "SweepRun",
]

JOB_STATUSES = frozenset({"ok", "session_failed", "run_failed", "provider_dropped",
                          "worker_error"})


class RunResultError(ValueError):
    """A runtime result that contradicts itself (a bug in the runtime package)."""


@dataclass(frozen=True)
class ChildEnd:
    """How the child process ended when it did not complete: killed at the timeout, or died
    (a signal or a non-zero exit) ``where`` (a stage such as "during session creation (the
    requested providers)"), running ``on`` (providers and bound dims)."""

    timed_out: bool
    died: str  # "SIGABRT", "exit code 3"; "still running" when timed out
    where: str
    on: str
    stderr_tail: str = ""
    node: NodeInfo | None = None  # the recurrent node the reference stage was evaluating
    # (job, step) where it died: ("main", "create") before any input was fed, ("main", "run")
    # running the requested providers; None while starting
    stage: tuple[str, str] | None = None

    @property
    def at_creation(self) -> bool:
        """It died creating a session: before any input was fed."""
        return self.stage is not None and self.stage[1] == "create"

    @property
    def in_main_run(self) -> bool:
        """It died (not timed out) running the requested providers on the inputs."""
        return not self.timed_out and self.stage == ("main", "run")


@dataclass(frozen=True)
class JobOutcome:
    """The requested providers' job: its status, onnxruntime's message, the node it names."""

    status: str
    on: str  # the providers, short names: "cpu", "cuda, cpu"
    error: str = ""
    node: NodeInfo | None = None
    providers_used: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()  # installed providers onnxruntime could not initialise

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise RunResultError(f"unknown job status {self.status!r}")
        if self.status in ("session_failed", "run_failed") and not self.error:
            raise RunResultError(f"a {self.status} job needs onnxruntime's message")
        if self.status == "provider_dropped" and not self.dropped:
            raise RunResultError("a provider_dropped job names the dropped providers")


@dataclass(frozen=True)
class OutputCheck:
    """One graph output as it came back: shape against the static shape, non-finite values."""

    name: str
    shape: tuple[int, ...]
    static: Shape | None
    expected: str | None  # the static shape with the bound dims written in
    mismatch: bool
    nans: int
    infs: int
    size: int
    producer: NodeInfo | None
    binding: str  # the bound dims, described
    line: str  # what the run report shows for it
    # where the output disagrees only on axes whose static shape holds a number and whose
    # size moved with a swept dim: (axis, the dim, its size in that run, the axis's size
    # there). Empty otherwise: the values follow the dim and only the declaration is wrong
    follows: tuple[tuple[int, str, int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.mismatch and self.static is None:
            raise RunResultError("an output without a static shape cannot mismatch it")


@dataclass(frozen=True)
class Placed:
    """A recurrent node in onnxruntime's profile: the provider that ran it."""

    name: str
    op_type: str
    provider: str
    node: NodeInfo | None

    @property
    def label(self) -> str:
        """The node as the model names it (``<LSTM #3>`` without a name), else the profile's."""
        return self.node.label if self.node is not None else self.name


@dataclass(frozen=True)
class OutputDiff:
    """An output that differs from its counterpart (another provider, or another model)."""

    job: str  # "compare" (--compare PROVIDER) or "compare_model" (--compare-model)
    output: str
    where: str  # "on cuda", "in fp32.onnx"
    diff: Difference
    producer: NodeInfo | None

    def __post_init__(self) -> None:
        if self.job not in ("compare", "compare_model"):
            raise RunResultError(f"unknown comparison job {self.job!r}")


@dataclass(frozen=True)
class ReferenceDiff:
    """A recurrent node's output that differs from onnx.reference on the same inputs."""

    layer: RecurrentLayer
    slot: str
    diff: Difference


@dataclass(frozen=True)
class PredictionMismatch:
    """A recurrent node placed where its target profile did not predict."""

    layer: RecurrentLayer
    target: str
    observed: str
    predicted: str
    actual: str
    reasons: str  # the profile entries behind the prediction
    attribute: str | None
    input: str | None
    version: str  # the installed onnxruntime's


@dataclass(frozen=True)
class SweepRun:
    """The model run again with one group of tied dims (``dim``: its names) at another size:
    ``base`` is the size of the main run, ``size`` this run's. ``status`` is a job status;
    ``mismatched`` the outputs whose shape disagreed with the static shape at this size;
    ``declared_only`` whether each of them differs only where the declaration holds ``base``."""

    dim: str
    role: str
    base: int
    size: int
    binding: str  # every dim of this run, "seq=7, batch=2"
    status: str
    error: str = ""
    node: NodeInfo | None = None
    mismatched: tuple[str, ...] = ()
    run_s: float | None = None
    # every mismatch is a declared number equal to ``base`` where the output has ``size``: the
    # values follow the dim, and only the declaration holds the export example's size
    declared_only: bool = False
    # the run failed (or mismatched) with this group alone at ``size``, and ran clean with
    # these dims (their names) at their second size too: one size the inputs name apart
    together: str = ""
    # a batch sweep that failed past the sequence ran clean at these dims, the sequence past
    # the batch in turn: the model runs only where batch <= seq
    below_sequence: str = ""
    # each output's shape at this size (a run that returned): which axes follow the dim
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise RunResultError(f"unknown sweep status {self.status!r}")
        if self.status in ("session_failed", "run_failed") and not self.error:
            raise RunResultError(f"a {self.status} sweep run needs onnxruntime's message")


# How a second run at larger sizes went (SizeRetry.outcome)
RETRY_OUTCOMES = frozenset({
    "ran",  # it succeeded: the check's results are its own
    "same_failure",  # it failed on the same node with the same message: not the sizes
    "failed",  # it failed otherwise: the sizes may be the cause
    "not_run",  # no time left, inputs too big, a crash or the deadline: nothing learnt
})


@dataclass(frozen=True)
class SizeRetry:
    """The run failed at the sizes archlint chose first (``first``, a binding such as
    ``"batch=2, samples=3"``; ``error`` and ``node`` what onnxruntime said of it) and was run
    again with those dims larger (``second``). ``outcome`` is one of RETRY_OUTCOMES, and
    ``detail`` the second run's message or why it did not run; ``dims`` name the retried
    dims, one per group."""

    first: str
    on: str
    error: str
    node: NodeInfo | None
    dims: tuple[str, ...]
    outcome: str
    second: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if not self.error or not self.dims:
            raise RunResultError("a size retry has the first run's message and its dims")
        if self.outcome not in RETRY_OUTCOMES:
            raise RunResultError(f"unknown size retry outcome {self.outcome!r}")

    @property
    def flags(self) -> tuple[str, ...]:
        """How to give the retried dims: ``--dim samples=SIZE``."""
        return tuple(f"--dim {dim}=SIZE" for dim in self.dims)


@dataclass(frozen=True)
class RuntimeRun:
    """One model's runtime check. ``not_run`` says why nothing ran (then only it, the
    providers and ``unavailable`` are set); ``child`` is set when the child did not complete;
    ``main`` is the requested providers' job when it reported back."""

    model: str
    settings: RuntimeSettings
    providers: tuple[str, ...]  # full onnxruntime names, in priority order
    available: tuple[str, ...]
    not_run: str | None = None
    # why ``not_run``: inputs only the caller can give (a text tensor: no value is drawn)
    not_run_needs: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()  # requested (or --compare) providers not installed
    dims: str = ""
    inputs: tuple[InputSpec, ...] = ()
    child: ChildEnd | None = None
    main: JobOutcome | None = None
    outputs: tuple[OutputCheck, ...] = ()
    placed: tuple[Placed, ...] = ()
    comparisons: tuple[OutputDiff, ...] = ()
    reference: tuple[ReferenceDiff, ...] = ()
    prediction: tuple[PredictionMismatch, ...] = ()
    sweep: tuple[SweepRun, ...] = ()
    # what archlint made up with nothing to show it valid: "sr" (an integer no consumer
    # bounds), "input:1" (a dim without a name or a role); the flags to give them
    invented: tuple[str, ...] = ()
    invented_flags: tuple[str, ...] = ()
    binding: str = ""  # the main run's dims, short: "seq=5, batch=2"
    # where the main run gave NaN or Inf from random float inputs: whether the outputs were
    # all finite with those inputs' absolute values (the model may expect non-negative
    # ones: a power spectrum, a running mean); None when not tried
    finite_when_non_negative: bool | None = None
    # set when this run is the second, at larger sizes, after a failure at the defaults
    retried: SizeRetry | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds, from the child
    timing: str | None = None
    output_lines: tuple[str, ...] = ()
    placement_lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.providers:
            raise RunResultError("a run names at least one provider")
        ran = (self.dims, self.child, self.main, self.outputs, self.placed)
        if (self.not_run is not None or self.unavailable) and any(ran):
            raise RunResultError("a model that was not run has no run results")
        if self.outputs and (self.main is None or self.main.status != "ok"):
            raise RunResultError("outputs come only from a run that succeeded")
        if self.retried is not None:
            succeeded = self.main is not None and self.main.status == "ok"
            if succeeded != (self.retried.outcome == "ran"):
                raise RunResultError("a size retry that ran carries the second run's results; "
                                     "one that did not, the first run's failure")

    @property
    def invented_inputs(self) -> tuple[tuple[str, str], ...]:
        """(input, the flag that gives it) for each fed input archlint made up with nothing to
        show its values valid (``invented`` without the dims)."""
        names = {spec.name for spec in self.inputs if spec.invented}
        return tuple((name, flag) for name, flag in zip(self.invented, self.invented_flags,
                                                        strict=True) if name in names)

    def sweep_lines(self) -> tuple[str, ...]:
        """One line per run of the size sweep, for the text report."""
        lines = []
        for sweep in self.sweep:
            verdict = "ok" if sweep.status == "ok" and not sweep.mismatched else (
                f"output shape mismatch ({', '.join(sweep.mismatched)})" if sweep.mismatched
                else sweep.status.replace("_", " ")
                + (f" in {sweep.node.op_type} {sweep.node.name!r}" if sweep.node else ""))
            if sweep.together:
                verdict += (f"; ran when {sweep.together} moved with it: one size the inputs "
                            "name apart")
            if sweep.below_sequence:
                verdict += (f"; ran at {sweep.below_sequence}: it fails only where the "
                            "batch passes the sequence")
            lines.append(f"{sweep.dim} {sweep.base} -> {sweep.size} ({sweep.binding}): {verdict}")
        return tuple(lines)

    def to_dict(self) -> dict[str, Any]:
        """The run's facts as JSON data: what was fed, each binding, placement, timings."""
        return {
            "providers": list(self.providers),
            "not_run": self.not_run,
            "seed": self.settings.seed,
            "binding": self.binding,
            "dims": self.dims,
            "inputs": [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape),
                        "values": s.values, "low": s.low, "high": s.high, "origin": s.origin,
                        "invented": s.invented} for s in self.inputs],
            "status": None if self.main is None else self.main.status,
            "invented": list(self.invented),
            "retried": None if self.retried is None else {
                "first_binding": self.retried.first, "error": self.retried.error,
                "node": None if self.retried.node is None else self.retried.node.label,
                "outcome": self.retried.outcome, "second_binding": self.retried.second,
                "detail": self.retried.detail},
            "sweep": [{"dim": s.dim, "role": s.role, "base": s.base, "size": s.size,
                       "binding": s.binding, "status": s.status, "error": s.error or None,
                       "node": None if s.node is None else s.node.name,
                       "mismatched_outputs": list(s.mismatched), "run_s": s.run_s,
                       "together": s.together or None,
                       "below_sequence": s.below_sequence or None}
                      for s in self.sweep],
            "outputs": [{"name": o.name, "shape": list(o.shape), "expected": o.expected,
                         "mismatch": o.mismatch, "nans": o.nans, "infs": o.infs}
                        for o in self.outputs],
            "placement": [{"node": p.name, "op_type": p.op_type, "provider": p.provider}
                          for p in self.placed],
            "placement_lines": list(self.placement_lines),
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
        }
