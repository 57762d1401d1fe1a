"""Issue 17's targets, judged from one run's measurements. See bench/README.md.

Pure functions of what ``run_bench.py`` measured: every ratio compares two numbers taken in
the same run (interleaved, medians), never a number from another day. A target whose
measurements are missing (not selected, a tool not installed, a model that failed) is
"not measured", never "met".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from measure import Sample

FLOOR = "onnx.load + infer_shapes (floor)"
LOAD = "onnx.load (floor)"
LINT = "archlint lint"
LINT_PROBE = "archlint lint (probe)"
PARAMS_PROBE = "archlint params (probe)"
PEERS = ("onnxslim --inspect", "polygraphy inspect model",
         "onnx.checker full_check", "onnx-tool model_profile")
IMPORT_ONNX = 'python -c "import onnx"'
IMPORT_ML_DTYPES = 'python -c "import ml_dtypes"'  # part of `import onnx` (onnx._mapping)
VERSION = "archlint --version"
LINT_ONE = "archlint lint (1-layer export)"

# (model label, tool name) -> the combined sample
Results = Mapping[tuple[str, str], Sample]


@dataclass(frozen=True)
class Verdict:
    group: str  # the --targets name that measures it
    target: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def word(self) -> str:
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]


@dataclass(frozen=True)
class JobsRun:
    """``archlint lint -j 1`` against ``-j 2`` on one folder, alternated run by run."""

    models: int
    serial: Sample  # whole process, medians
    parallel: Sample
    serial_lint_s: float  # the lint phase: the JSON report's summary.elapsed_s, medians
    parallel_lint_s: float
    same_output: bool
    # two `-j 1` processes, each on half of the folder, started together: what the machine
    # gives two processes that share nothing (no pool, no fork), to read the target against
    halves: Sample | None = None


@dataclass
class Measurements:
    results: dict[tuple[str, str], Sample] = field(default_factory=dict)
    startup: dict[str, Sample] = field(default_factory=dict)
    modules: dict[str, int] = field(default_factory=dict)  # python -v: modules loaded
    imports: str | None = None  # probe static-imports: "onnxruntime=no modules=N"
    jobs: JobsRun | None = None


def _ratio_target(
    group: str, results: Results, models: Sequence[str], tool: str, base: str, limit: float,
    target: str, value: Callable[[Sample], float | None] = lambda s: s.wall_s,
    work_too: bool = False,
) -> Verdict:
    """``work_too``: also print the work-time ratio beside each process ratio (not judged): a
    floor whose imports are slow (``import onnx`` pays ml_dtypes' start, 0.1-0.8 s by release
    and machine) flatters a process ratio, and the work ratio shows it."""
    parts, met = [], True
    for model in models:
        a, b = results.get((model, tool)), results.get((model, base))
        if a is None or b is None or not a.ok or not b.ok:
            return Verdict(group, target, f"{short(model)}: no measurement", None)
        va, vb = value(a), value(b)
        if va is None or not vb:
            return Verdict(group, target, f"{short(model)}: no measurement", None)
        work = (f" (work {a.work_s / b.work_s:.2f}x)" if work_too and a.work_s is not None
                and b.work_s else "")
        parts.append(f"{short(model)} {va / vb:.2f}x{work}")
        met = met and va / vb <= limit
    if not parts:
        return Verdict(group, target, "no model", None)
    return Verdict(group, target, ", ".join(parts), met)


def short(model: str) -> str:
    """scale_10000.onnx -> scale 10k."""
    stem = model.removesuffix(".onnx")
    kind, _, size = stem.rpartition("_")
    if size.isdigit():
        n = int(size)
        return f"{kind} {n // 1000}k" if n >= 1000 else f"{kind} {n}"
    return stem


def growth(results: Results, models: Sequence[str], tool: str) -> list[tuple[str, str, float]]:
    """(smaller, larger, work-time ratio) for every pair of models 10x apart in nodes."""
    sizes = {int(m.removesuffix(".onnx").rpartition("_")[2]): m for m in models}
    pairs = []
    for n, small in sorted(sizes.items()):
        large = sizes.get(n * 10)
        a, b = results.get((small, tool)), results.get((large or "", tool))
        if large and a and b and a.ok and b.ok and a.work_s and b.work_s is not None:
            pairs.append((small, large, b.work_s / a.work_s))
    return pairs


def judge(m: Measurements, scale: Sequence[str], realistic: Sequence[str],
          inline: str, sparse: str) -> list[Verdict]:
    r = m.results
    out = [
        _ratio_target("realistic", r, realistic, LINT, FLOOR, 1.2,
                      "realistic series: lint <= 1.2x floor (process)", work_too=True),
        _ratio_target("scale", r, scale, LINT, FLOOR, 1.5,
                      "scale series: lint <= 1.5x floor (process)", work_too=True),
    ]
    for tool, word in ((LINT_PROBE, "lint"), (PARAMS_PROBE, "params")):
        pairs = growth(r, scale, tool)
        out.append(Verdict(
            "growth", f"scale series: {word} growth per 10x nodes <= 11x (work)",
            ", ".join(f"{short(a)}->{short(b).split()[-1]} {g:.1f}x" for a, b, g in pairs)
            or "no pair measured",
            all(g <= 11 for _, _, g in pairs) if pairs else None))
    for peer in PEERS:
        out.append(_peer_target(r, [*scale, *realistic], peer))
    out += _startup_targets(m)
    out += _jobs_targets(m.jobs)
    out.append(_ratio_target("inline", r, [inline], LINT, FLOOR, 1.5,
                             "370 MB inline model: lint <= 1.5x floor (process)"))
    out.append(_ratio_target("inline", r, [inline], LINT, LOAD, 1.15,
                             "370 MB inline model: lint peak RSS <= 1.15x onnx.load's",
                             value=lambda s: s.peak_mb))
    sample = r.get((sparse, LINT))
    out.append(Verdict("external", "2 GB external-data model: lint peak RSS <= 100 MB",
                       f"{sample.peak_mb:.0f} MB" if sample and sample.ok else "no measurement",
                       sample.peak_mb <= 100 if sample and sample.ok else None))
    out.append(Verdict("imports", "static lint imports no onnxruntime",
                       m.imports or "no measurement",
                       None if m.imports is None else "onnxruntime=no" in m.imports))
    return out


def _peer_target(results: Results, models: Sequence[str], peer: str) -> Verdict:
    target = f"faster than {peer} at every size (process)"
    parts, failed, met = [], [], True
    for model in models:
        ours, theirs = results.get((model, LINT)), results.get((model, peer))
        if ours is None or theirs is None or not ours.ok:
            return Verdict("peers", target, f"{short(model)}: no measurement", None)
        if not theirs.ok:  # onnx-tool: compared where it finishes
            failed.append(f"{short(model)} ({theirs.status[:40]})")
            continue
        parts.append(f"{short(model)} {ours.wall_s / theirs.wall_s:.2f}x")
        met = met and ours.wall_s < theirs.wall_s
    text = "archlint/peer: " + (", ".join(parts) or "-")
    if failed:
        text += "; peer did not finish: " + ", ".join(failed)
    if not parts:  # nothing to beat is not a win: say so
        return Verdict("peers", target, text, None)
    return Verdict("peers", target, text, met)


def _startup_targets(m: Measurements) -> list[Verdict]:
    base = m.startup.get(IMPORT_ONNX)
    dtypes = m.startup.get(IMPORT_ML_DTYPES)
    # what `import onnx` spends on ml_dtypes alone: a slow release flatters these ratios
    of_which = (f"; import onnx holds import ml_dtypes, {dtypes.wall_s:.2f} s alone"
                if dtypes is not None and dtypes.ok else "")
    out = []
    for name in (VERSION, LINT_ONE):
        sample = m.startup.get(name)
        target = f"start-up: {name} <= 1.3x {IMPORT_ONNX}"
        if base is None or sample is None or not base.ok or not sample.ok:
            out.append(Verdict("startup", target, "no measurement", None))
            continue
        ratio = sample.wall_s / base.wall_s
        modules = (f" ({m.modules[name]} vs {m.modules[IMPORT_ONNX]} modules)"
                   if name in m.modules and IMPORT_ONNX in m.modules else "")
        out.append(Verdict("startup", target, f"{sample.wall_s:.2f} s vs {base.wall_s:.2f} s: "
                           f"{ratio:.2f}x{modules}{of_which}", ratio <= 1.3))
    return out


def _jobs_targets(jobs: JobsRun | None) -> list[Verdict]:
    process = "folder of exports: lint -j 2 >= 1.6x faster than -j 1 (process), same output"
    phase = "folder of exports: lint -j 2 >= 1.6x faster than -j 1 (lint phase), same output"
    if jobs is None or not jobs.serial.ok or not jobs.parallel.ok:
        return [Verdict("jobs", process, "no measurement", None),
                Verdict("jobs", phase, "no measurement", None)]
    same = "same output" if jobs.same_output else "OUTPUT DIFFERS"
    halves = ""
    if jobs.halves is not None and jobs.halves.ok:
        halves = (f"; two -j 1 processes, one per half of the folder, together: "
                  f"{jobs.halves.wall_s:.2f} s = {jobs.serial.wall_s / jobs.halves.wall_s:.2f}x")
    speed = jobs.serial.wall_s / jobs.parallel.wall_s
    lint_speed = jobs.serial_lint_s / jobs.parallel_lint_s
    n = jobs.models
    return [
        Verdict("jobs", process, f"{n} models: {jobs.serial.wall_s:.2f} s vs "
                f"{jobs.parallel.wall_s:.2f} s = {speed:.2f}x ({n / jobs.serial.wall_s:.0f} -> "
                f"{n / jobs.parallel.wall_s:.0f} models/s); {same}{halves}",
                speed >= 1.6 and jobs.same_output),
        Verdict("jobs", phase, f"{jobs.serial_lint_s:.2f} s vs {jobs.parallel_lint_s:.2f} s = "
                f"{lint_speed:.2f}x ({n / jobs.serial_lint_s:.0f} -> "
                f"{n / jobs.parallel_lint_s:.0f} models/s); {same}",
                lint_speed >= 1.6 and jobs.same_output),
    ]
