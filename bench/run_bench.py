"""archlint against the floor and its peers, in one run. See bench/README.md.

    python bench/run_bench.py [--models DIR] [--repeat N] [--quick] [--markdown FILE]

Every measurement is a fresh process (``os.wait4`` gives its wall time and peak RSS, children
included: archlint's shape-inference child counts). Two times are kept: the whole process
(what a CI job pays, interpreter and imports included) and, for archlint and the onnx floor,
the operation alone (bench/probe.py prints it). Ratios are to the floor ``onnx.load +
onnx.shape_inference.infer_shapes``. Peers that are not installed are reported as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent
TIMEOUT_S = 300


@dataclass
class Sample:
    wall_s: float
    work_s: float | None
    peak_mb: float
    status: str


def tools(model: Path) -> dict[str, list[str] | None]:
    probe = [PY, str(HERE / "probe.py")]

    def peer(exe: str, *args: str) -> list[str] | None:
        path = BIN / exe
        return [str(path), *args] if path.exists() else (
            [found, *args] if (found := shutil.which(exe)) else None)

    # onnx-tool refuses symbolic input dims: it is given seq=8, batch=2 for X (the only input)
    profile: list[str] | None = [
        PY, "-c", "import onnx, onnx_tool, sys; m = onnx.load(sys.argv[1], "
        "load_external_data=False); x = m.graph.input[0]; "
        "dims = [8, 2] + [d.dim_value for d in x.type.tensor_type.shape.dim][2:]; "
        "onnx_tool.model_profile(sys.argv[1], dynamic_shapes={x.name: tuple(dims)})", str(model)]
    if subprocess.run([PY, "-c", "import onnx_tool"], capture_output=True).returncode:
        profile = None
    return {
        "onnx.load (floor)": [*probe, "load", str(model)],
        "onnx.load + infer_shapes (floor)": [*probe, "load+infer", str(model)],
        "onnx.checker.check_model": [*probe, "checker", str(model)],
        "archlint lint": [*probe, "lint", str(model)],
        "archlint params": [*probe, "params", str(model)],
        "archlint lint (CLI)": [PY, "-m", "archlint", "lint", str(model), "--exit-zero", "-q"],
        "polygraphy inspect model": peer("polygraphy", "inspect", "model", str(model)),
        "onnxslim --inspect": peer("onnxslim", "--inspect", str(model)),
        "onnx-tool model_profile": profile,
    }


def measure(command: list[str]) -> Sample:
    """Run once; wall time and peak RSS (children included) from os.wait4."""
    out_path, err_path = HERE / "out" / "stdout.txt", HERE / "out" / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        pid = os.posix_spawn(command[0], command, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
        deadline = started + TIMEOUT_S
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(pid, 9)
                os.wait4(pid, 0)
                return Sample(TIMEOUT_S, None, 0.0, "timeout")
            time.sleep(0.005)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return Sample(wall, None, 0.0, f"error: {_last_line(err_path.read_bytes())}")
    work = None
    if command[1:2] == [str(HERE / "probe.py")]:
        work = float(out_path.read_text().strip().splitlines()[-1])
    return Sample(wall, work, usage.ru_maxrss / 1024, "ok")


def _last_line(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:120] if lines else "failed"


def run(
    models: list[Path], repeat: int, only: tuple[str, ...] = ()
) -> list[tuple[str, str, Sample]]:
    rows = []
    for model in models:
        for name, command in tools(model).items():
            if only and "floor" not in name and not any(word in name for word in only):
                continue
            if command is None:
                rows.append((model.name if model.name != "model.onnx" else model.parent.name,
                             name, Sample(0, None, 0, "not installed")))
                continue
            samples = [measure(command)]
            if samples[0].status == "ok":  # a tool that fails or times out is not retried
                samples += [measure(command) for _ in range(repeat - 1)]
            ok = [s for s in samples if s.status == "ok"]
            label = model.name if model.name != "model.onnx" else model.parent.name
            if not ok:
                rows.append((label, name, samples[0]))
            else:
                work = [s.work_s for s in ok if s.work_s is not None]
                rows.append((label, name, Sample(
                    statistics.median(s.wall_s for s in ok),
                    statistics.median(work) if work else None,
                    max(s.peak_mb for s in ok), "ok")))
            print(f"{rows[-1][0]:28} {name:34} {rows[-1][2].wall_s:8.2f}s "
                  f"{rows[-1][2].peak_mb:8.0f} MB {rows[-1][2].status}", flush=True)
    return rows


def markdown(rows: list[tuple[str, str, Sample]], command: str) -> str:
    floor = {m: s for m, n, s in rows if n == "onnx.load + infer_shapes (floor)"}
    lines = [f"Command: `{command}`", "",
             "| model | tool | process s | work s | x floor (process) | x floor (work) "
             "| peak RSS MB | status |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for model, name, s in rows:
        base = floor.get(model)
        ratio_p = f"{s.wall_s / base.wall_s:.2f}" if base and s.status == "ok" else ""
        ratio_w = (f"{s.work_s / base.work_s:.2f}" if base and base.work_s and s.work_s
                   is not None else "")
        work = f"{s.work_s:.3f}" if s.work_s is not None else ""
        wall = f"{s.wall_s:.2f}" if s.status == "ok" else ""
        peak = f"{s.peak_mb:.0f}" if s.status == "ok" else ""
        lines.append(f"| {model} | {name} | {wall} | {work} | {ratio_p} | {ratio_w} | {peak} "
                     f"| {s.status} |")
    lines += ["", "Growth per 10x nodes (work time, scale series):", ""]
    for name in ("onnx.load + infer_shapes (floor)", "archlint lint", "archlint params"):
        series = {m: s.work_s for m, n, s in rows if n == name and m.startswith("scale_")
                  and s.work_s}
        pairs = [("scale_1000.onnx", "scale_10000.onnx"),
                 ("scale_10000.onnx", "scale_100000.onnx")]
        growth = [f"{a.split('_')[1][:-5]}->{b.split('_')[1][:-5]}: "
                  f"{series[b] / series[a]:.1f}x" for a, b in pairs
                  if a in series and b in series and series[a]]
        lines.append(f"- {name}: {', '.join(growth) or 'n/a'}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=HERE / "out" / "models")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--sizes", type=int, nargs="*",
                        help="scale-series sizes to run (default: all); no big models then")
    parser.add_argument("--tools", nargs="*", default=(),
                        help="only tools whose name contains one of these words")
    args = parser.parse_args()
    (HERE / "out").mkdir(exist_ok=True)
    make = [PY, str(HERE / "make_models.py"), str(args.models)]
    subprocess.run([*make, "--quick"] if args.quick else make, check=True,
                   stdout=subprocess.DEVNULL)
    sizes = args.sizes or ((1_000, 10_000) if args.quick else (1_000, 10_000, 30_000, 100_000))
    models = [args.models / f"scale_{n}.onnx" for n in sizes]
    if not args.sizes:
        models += [
            args.models / "bilstm_4x1024.onnx",
            args.models / "bilstm_4x1024_ext" / "model.onnx",
            args.models / "sparse_2g" / "model.onnx",
        ]
    rows = run(models, args.repeat, tuple(args.tools))
    text = markdown(rows, " ".join(["python", *sys.argv[:1], *sys.argv[1:]]))
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
