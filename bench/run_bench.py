"""archlint against the floor and its peers, in one run, judged against issue 17's targets.

    python bench/run_bench.py [--models DIR] [--repeat N] [--quick] [--targets NAME ...]
                              [--tools WORD ...] [--sizes N ...] [--markdown FILE]

Every measurement is a fresh process (``os.wait4`` gives its wall time and peak RSS, children
included: archlint's shape-inference child counts), and the commands a target compares run
interleaved, round after round, so the machine's load drifts over all of them alike; medians
are kept. Two times: the whole process (what a CI job pays, interpreter and imports included)
and, for archlint and the onnx floor, the operation alone (bench/probe.py prints it). The floor
is ``onnx.load + onnx.shape_inference.infer_shapes``. It ends with a summary "target |
measured | met?" (bench/targets.py), and writes it with every table to ``--markdown``.
Targets and how each is measured: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from make_folder import make_folder
from measure import Sample, combine, compile_bytecode, measure, measure_together
from targets import (
    FLOOR,
    IMPORT_ML_DTYPES,
    IMPORT_ONNX,
    LINT,
    LINT_ONE,
    LINT_PROBE,
    LOAD,
    PARAMS_PROBE,
    PEERS,
    VERSION,
    JobsRun,
    Measurements,
    Verdict,
    judge,
    short,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
BIN = Path(PY).parent
ARCHLINT = [PY, "-m", "archlint"]
ONE_LAYER = ROOT / "fixtures" / "exported" / "lstm_4_2.onnx"  # nn.LSTM(4, 2), a real export

TARGETS = ("realistic", "scale", "growth", "peers", "startup", "jobs", "inline", "external",
           "imports")
SCALE = (1_000, 3_000, 10_000, 30_000, 100_000)
SCALE_QUICK = (1_000, 10_000)
REALISTIC = (10_000, 100_000)
REALISTIC_QUICK = (10_000,)
FOLDER_MODELS, FOLDER_MODELS_QUICK = 500, 100


def peer_commands(model: Path) -> dict[str, list[str] | None]:
    """The peers' commands (None: not installed)."""
    def installed(exe: str, *args: str) -> list[str] | None:
        path = BIN / exe
        found = str(path) if path.exists() else shutil.which(exe)
        return [found, *args] if found else None

    # onnx-tool refuses symbolic input dims: it is given seq=8, batch=2 for X (the only input)
    profile: list[str] | None = [
        PY, "-c", "import onnx, onnx_tool, sys; m = onnx.load(sys.argv[1], "
        "load_external_data=False); x = m.graph.input[0]; "
        "dims = [8, 2] + [d.dim_value for d in x.type.tensor_type.shape.dim][2:]; "
        "onnx_tool.model_profile(sys.argv[1], dynamic_shapes={x.name: tuple(dims)})", str(model)]
    if subprocess.run([PY, "-c", "import onnx_tool"], capture_output=True).returncode:
        profile = None
    return {
        PEERS[0]: installed("onnxslim", "--inspect", str(model)),
        PEERS[1]: installed("polygraphy", "inspect", "model", str(model)),
        PEERS[2]: [PY, str(HERE / "probe.py"), "checker-full", str(model)],
        PEERS[3]: profile,
    }


def model_commands(model: Path, peers: bool, big: bool) -> dict[str, list[str] | None]:
    probe = [PY, str(HERE / "probe.py")]
    commands: dict[str, list[str] | None] = {
        LOAD: [*probe, "load", str(model)],
        FLOOR: [*probe, "load+infer", str(model)],
        LINT: [*ARCHLINT, "lint", str(model), "--exit-zero", "-q"],
        LINT_PROBE: [*probe, "lint", str(model)],
        PARAMS_PROBE: [*probe, "params", str(model)],
    }
    if big:  # weights: the floor's infer_shapes copies them all; the probes add nothing here
        del commands[LINT_PROBE]
    if peers:
        commands.update(peer_commands(model))
    return commands


def interleaved(
    commands: dict[str, list[str] | None], repeat: int, timeout_s: float
) -> dict[str, Sample]:
    """Round after round, each command once; one that fails or times out is not retried."""
    samples: dict[str, list[Sample]] = {}
    for name, command in commands.items():
        if command is None:
            samples[name] = [Sample(0.0, None, 0.0, "not installed")]
    for _ in range(repeat):
        for name, command in commands.items():
            if command is None or (name in samples and not samples[name][0].ok):
                continue
            samples.setdefault(name, []).append(measure(command, timeout_s))
    return {name: combine(runs) for name, runs in samples.items()}


def label(model: Path) -> str:
    return model.name if model.name != "model.onnx" else model.parent.name


def run_models(
    models: Sequence[Path], peers: bool, repeat: int, timeout_s: float, tools: Sequence[str],
    into: Measurements, big: Sequence[Path] = (),
) -> None:
    for model in models:
        commands = model_commands(model, peers, model in big)
        if tools:
            commands = {n: c for n, c in commands.items()
                        if "floor" in n or any(word in n for word in tools)}
        for name, sample in interleaved(commands, repeat, timeout_s).items():
            into.results[(label(model), name)] = sample
            print(f"{label(model):28} {name:34} {sample.wall_s:8.2f}s {sample.peak_mb:8.0f} MB "
                  f"{sample.status}", flush=True)


def imported_modules(command: list[str]) -> int | None:
    """How many modules the command loads: ``-v`` prints one ``import 'name'`` line for each,
    whether an import statement or ``importlib.import_module`` loads it (``-X importtime``
    misses the second: the rule pack's 50-odd modules)."""
    done = subprocess.run([command[0], "-v", *command[1:]], capture_output=True, text=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("import '")]
    return len(lines) or None


def run_startup(repeat: int, timeout_s: float, into: Measurements) -> None:
    commands: dict[str, list[str] | None] = {
        IMPORT_ONNX: [PY, "-c", "import onnx"],
        VERSION: [*ARCHLINT, "--version"],
        LINT_ONE: [*ARCHLINT, "lint", str(ONE_LAYER), "--exit-zero", "-q"],
        IMPORT_ML_DTYPES: [PY, "-c", "import ml_dtypes"],  # onnx imports it: its share
    }
    into.startup.update(interleaved(commands, max(repeat, 5), timeout_s))
    for name, command in commands.items():
        if name == IMPORT_ML_DTYPES:
            continue
        assert command is not None
        count = imported_modules(command)
        if count is not None:
            into.modules[name] = count
        sample = into.startup[name]
        print(f"{'start-up':28} {name:34} {sample.wall_s:8.2f}s {sample.peak_mb:8.0f} MB "
              f"{sample.status} ({into.modules.get(name, '?')} modules)", flush=True)


def run_imports(timeout_s: float, into: Measurements) -> None:
    sample = measure([PY, str(HERE / "probe.py"), "static-imports", str(ONE_LAYER)], timeout_s)
    into.imports = (sample.stdout.strip().splitlines()[-1].split(maxsplit=1)[-1]
                    if sample.ok else sample.status)
    print(f"{'imports':28} {'archlint lint (static)':34} {into.imports}", flush=True)


def run_jobs(folder: Path, repeat: int, timeout_s: float, into: Measurements) -> None:
    """-j 1 and -j 2 alternated (1 2, 2 1, ...) so drifting load hits both alike; after each
    round, two -j 1 processes on the folder's halves together (the machine's own ceiling)."""
    options = ["--no-respect-gitignore", "--exit-zero", "-q", "--format", "json"]
    base = [*ARCHLINT, "lint", str(folder), *options]
    groups = sorted(str(path) for path in folder.iterdir() if path.is_dir())
    halves = [[*ARCHLINT, "lint", *half, *options, "-j", "1"]
              for half in (groups[:len(groups) // 2], groups[len(groups) // 2:]) if half]
    runs: dict[int, list[Sample]] = {1: [], 2: []}
    together: list[Sample] = []
    for round_ in range(max(repeat, 3)):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
            runs[jobs].append(measure([*base, "-j", str(jobs)], timeout_s))
        if len(halves) == 2:
            together.append(measure_together(halves, timeout_s))
    if not all(s.ok for s in runs[1] + runs[2]):
        failed = next(s for s in runs[1] + runs[2] if not s.ok)
        into.jobs = JobsRun(0, failed, failed, 0.0, 0.0, False)
        return

    def report(sample: Sample) -> dict[str, object]:
        data = json.loads(sample.stdout)
        data["summary"].pop("elapsed_s")
        return data  # type: ignore[no-any-return]

    reports = [report(s) for s in runs[1] + runs[2]]
    phase = {j: statistics.median(json.loads(s.stdout)["summary"]["elapsed_s"] for s in runs[j])
             for j in (1, 2)}
    into.jobs = JobsRun(
        models=len(reports[0]["models"]),  # type: ignore[arg-type]
        serial=combine(runs[1]), parallel=combine(runs[2]),
        serial_lint_s=phase[1], parallel_lint_s=phase[2],
        same_output=all(r == reports[0] for r in reports),
        halves=combine(together) if together else None)
    for jobs, sample in ((1, into.jobs.serial), (2, into.jobs.parallel)):
        print(f"{folder.name:28} {f'archlint lint -j {jobs}':34} {sample.wall_s:8.2f}s "
              f"{sample.peak_mb:8.0f} MB lint phase {phase[jobs]:.2f}s", flush=True)
    if into.jobs.halves is not None:
        print(f"{folder.name:28} {'two -j 1 on its halves, together':34} "
              f"{into.jobs.halves.wall_s:8.2f}s {into.jobs.halves.status}", flush=True)


# The 1-minute load average per core below which the machine counts as idle (2 cores: 0.5).
IDLE_LOAD_PER_CORE = 0.25


def settle(limit_s: float, cores: int) -> tuple[float, float]:
    """Wait up to ``limit_s`` for the 1-minute load average to fall below the idle line (what
    ran before, a test suite or another bench, fades from it in a minute or two), so that
    runs started after other work are comparable. Returns (the load average then, seconds
    waited)."""
    started = time.monotonic()
    load = os.getloadavg()[0]
    while load >= IDLE_LOAD_PER_CORE * cores and time.monotonic() - started < limit_s:
        time.sleep(min(5.0, max(0.0, limit_s - (time.monotonic() - started))))
        load = os.getloadavg()[0]
    return load, time.monotonic() - started


def load_note(before: float, waited_s: float, after: float, cores: int) -> str:
    """The load line of the summary. Busy is judged on the load before the first run: at the
    end, the bench's own processes (one at a time, two for -j 2) are in the average."""
    note = f"Load average (1 min) {before:.1f} at the start"
    if waited_s >= 1:
        note += f" (after waiting {waited_s:.0f} s for the machine to settle)"
    note += f", {after:.1f} at the end (the bench's own processes included), on {cores} cores"
    if before >= IDLE_LOAD_PER_CORE * cores:  # others' work shares the cores
        note += ": a busy machine, where -j 2 finds no idle core and every ratio is noisier"
    return note


def versions() -> str:
    """The versions the floor and archlint run on: onnx's own import time depends on them
    (ml_dtypes 0.7 starts in 0.7 s on a machine where 0.5 starts in 0.13 s)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {sys.version.split()[0]}"]
    for name in ("onnx", "protobuf", "numpy", "ml_dtypes", "onnxruntime"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def markdown(m: Measurements, verdicts: Sequence[Verdict], command: str) -> str:
    lines = [f"Command: `{command}`", "", f"On {versions()}.", "",
             "| target | measured | met? |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {v.word} |" for v in verdicts]
    if m.results:
        lines += ["", "| model | tool | process s | work s | x floor (process) | x floor (work) "
                  "| peak RSS MB | status |", "|---|---|---:|---:|---:|---:|---:|---|"]
        for (model, name), s in m.results.items():
            base = m.results.get((model, FLOOR))
            ok = s.ok and base is not None and base.ok
            ratio_p = f"{s.wall_s / base.wall_s:.2f}" if ok and base else ""
            ratio_w = (f"{s.work_s / base.work_s:.2f}" if ok and base and base.work_s
                       and s.work_s is not None else "")
            work = f"{s.work_s:.3f}" if s.work_s is not None else ""
            wall, peak = (f"{s.wall_s:.2f}", f"{s.peak_mb:.0f}") if s.ok else ("", "")
            lines.append(f"| {short(model)} | {name} | {wall} | {work} | {ratio_p} | {ratio_w} "
                         f"| {peak} | {s.status} |")
    if m.startup:
        lines += ["", "| start-up | process s | peak RSS MB | modules imported |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {s.wall_s:.2f} | {s.peak_mb:.0f} | {m.modules.get(name, '')} |"
                  for name, s in m.startup.items()]
    if m.jobs is not None and m.jobs.serial.ok:
        j = m.jobs
        lines += ["", f"Folder of {j.models} exports (bench/make_folder.py):", "",
                  "| command | process s | lint phase s | models/s (process) | peak RSS MB |",
                  "|---|---:|---:|---:|---:|"]
        for jobs, s, phase in ((1, j.serial, j.serial_lint_s), (2, j.parallel, j.parallel_lint_s)):
            lines.append(f"| `archlint lint -j {jobs}` | {s.wall_s:.2f} | {phase:.2f} "
                         f"| {j.models / s.wall_s:.0f} | {s.peak_mb:.0f} |")
        if j.halves is not None and j.halves.ok:
            lines.append(f"| two `archlint lint -j 1`, one per half of the folder, together "
                         f"| {j.halves.wall_s:.2f} | | {j.models / j.halves.wall_s:.0f} "
                         f"| {j.halves.peak_mb:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=HERE / "out" / "models",
                        help="where bench/make_models.py writes the models (made if missing)")
    parser.add_argument("--repeat", type=int, help="runs per command (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1k/10k scale, 10k realistic, 100 folder models")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, metavar="NAME",
                        help=f"only these targets: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--tools", nargs="+", default=(),
                        help="only tools whose name contains one of these words (floors stay)")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N",
                        help="scale-series sizes (default: all; --quick: 1000 10000)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per command")
    parser.add_argument("--markdown", type=Path, help="write the summary and tables here")
    parser.add_argument("--settle", type=float, metavar="S",
                        help="wait up to S seconds for the load average to fall below "
                             f"{IDLE_LOAD_PER_CORE} per core first (default 180; --quick: 0)")
    args = parser.parse_args(argv)
    selected = set(args.targets or TARGETS)
    repeat = args.repeat or (1 if args.quick else 3)
    (HERE / "out").mkdir(exist_ok=True)
    compile_bytecode()
    m = Measurements()
    cores = os.cpu_count() or 1
    settle_s = args.settle if args.settle is not None else (0.0 if args.quick else 180.0)
    load_before, waited_s = settle(settle_s, cores)

    sizes = args.sizes or (SCALE_QUICK if args.quick else SCALE)
    scale = [args.models / f"scale_{n}.onnx" for n in sizes]
    realistic = [args.models / f"realistic_{n}.onnx"
                 for n in (REALISTIC_QUICK if args.quick else REALISTIC)]
    inline = args.models / "bilstm_4x1024.onnx"
    external = args.models / "bilstm_4x1024_ext" / "model.onnx"
    sparse = args.models / "sparse_2g" / "model.onnx"
    needed = [
        *(scale if selected & {"scale", "growth", "peers"} else []),
        *(realistic if selected & {"realistic", "peers"} else []),
        *([inline, external] if "inline" in selected else []),
        *([sparse] if "external" in selected else []),
    ]
    if any(not path.exists() for path in needed):
        make = [PY, str(HERE / "make_models.py"), str(args.models)]
        subprocess.run([*make, "--quick"] if args.quick else make, check=True,
                       stdout=subprocess.DEVNULL)

    peers = "peers" in selected
    if selected & {"scale", "growth", "peers"}:
        run_models(scale, peers, repeat, args.timeout, args.tools, m)
    if selected & {"realistic", "peers"}:
        run_models(realistic, peers, repeat, args.timeout, args.tools, m)
    if "inline" in selected:
        run_models([inline, external], False, repeat, args.timeout, args.tools, m,
                   big=[inline, external])
    if "external" in selected:
        run_models([sparse], False, repeat, args.timeout, args.tools, m, big=[sparse])
    if "startup" in selected:
        run_startup(repeat, args.timeout, m)
    if "imports" in selected:
        run_imports(args.timeout, m)
    if "jobs" in selected:
        count = FOLDER_MODELS_QUICK if args.quick else FOLDER_MODELS
        folder = HERE / "out" / f"folder{count}"
        make_folder(folder, count)
        run_jobs(folder, repeat, args.timeout, m)

    verdicts = [v for v in judge(m, [label(p) for p in scale], [label(p) for p in realistic],
                                 label(inline), label(sparse)) if v.group in selected]
    text = markdown(m, verdicts, " ".join(["python", "bench/run_bench.py", *sys.argv[1:]]))
    load = load_note(load_before, waited_s, os.getloadavg()[0], cores)
    text = text.replace("\n", f"\n\n{load}.\n", 1)
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    width = max(len(v.target) for v in verdicts)
    print(f"{'target':{width}} | met?")
    for v in verdicts:
        print(f"{v.target:{width}} | {v.word}")
    met = sum(v.met is True for v in verdicts)
    print(f"{met} of {len(verdicts)} targets met"
          + (" (a --quick run: sizes too small to judge the real targets)" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
