"""Start-up cost of the CLI against ``python -c "import onnx"`` (issue 17, "Start-up" target).

    python bench/startup_bench.py [--repeat 15] [--model fixtures/exported/lstm_4_2.onnx]

Each command runs as a fresh process, interleaved with the others so all see the same load;
the medians are compared with ``import onnx`` in the same interpreter (target: <= 1.3x for
``archlint --version`` and for a lint of a 1-layer model). Then, in-process stamps of one lint:
where its time goes. archlint's own bytecode is compiled first and the children run without
PYTHONDONTWRITEBYTECODE: installed packages carry .pyc files, and a source checkout that
recompiles every module on each run would be timed unfairly against onnx.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measure import compile_bytecode

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.3

# One lint, stamped, as the console script does it: onnx's classes loaded without the onnx
# package (archlint/onnx_protos.py), the lint command's modules, the rules, then the lint and
# its wait for the shape-inference child (started here when the model is loaded; `archlint
# lint` starts it before its imports). Last, whether numpy or the onnx package came in.
_STAMPS = r"""
import json, sys, time
t0 = time.perf_counter()
from archlint import onnx_protos
onnx_protos.prefer_standalone()
onnx_protos.ModelProto
t1 = time.perf_counter()
import archlint.cli.lint
t2 = time.perf_counter()
from archlint import app, inference
rules = app.rules()
t3 = time.perf_counter()
spent = [0.0]
outcome = inference.PendingInference.outcome
def timed(self):
    started = time.perf_counter()
    try:
        return outcome(self)
    finally:
        spent[0] += time.perf_counter() - started
inference.PendingInference.outcome = timed
app.rules = lambda: rules
app.lint([sys.argv[1]])
t4 = time.perf_counter()
print(json.dumps({"onnx's classes (protobuf, onnx_ml_pb2)": t1 - t0,
                  "import the lint command (after them)": t2 - t1,
                  "load the rules (entry points, rule pack)": t3 - t2,
                  "lint the model": t4 - t3,
                  "  of which waiting for the shape-inference child": spent[0],
                  "numpy imported (1) or not (0)": float("numpy" in sys.modules),
                  "the onnx package imported (1) or not (0)": float("onnx" in sys.modules)}))
"""


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--model", type=Path,
                        default=REPO / "fixtures" / "exported" / "lstm_4_2.onnx")
    args = parser.parse_args()
    compile_bytecode()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    py = sys.executable
    lint = f"archlint lint {args.model.name}"
    judged = {"archlint --version", lint}
    commands = {
        "python -c pass": [py, "-c", "pass"],
        'python -c "import onnx"': [py, "-c", "import onnx"],
        "archlint --version": [py, "-m", "archlint", "--version"],
        "archlint --help": [py, "-m", "archlint", "--help"],
        lint: [py, "-m", "archlint", "lint", "-q", str(args.model)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, env=env, cwd=REPO, check=True)
            times[name].append(time.perf_counter() - started)
    floor = statistics.median(times['python -c "import onnx"'])
    print(f"whole process, median of {args.repeat} (x: of import onnx; target <= {TARGET}x)")
    for name, values in times.items():
        ratio = statistics.median(values) / floor
        verdict = ("  met" if ratio <= TARGET else "  NOT met") if name in judged else ""
        print(f"  {name:42s} {_median_ms(values):7.1f} ms  {ratio:5.2f}x{verdict}")

    stamps: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        out = subprocess.run([py, "-c", _STAMPS, str(args.model)], capture_output=True,
                             text=True, env=env, cwd=REPO, check=True).stdout
        for key, value in json.loads(out).items():
            stamps.setdefault(key, []).append(value)
    print("one lint, in-process stamps (medians)")
    for key, values in stamps.items():
        if "imported" in key:
            print(f"  {key:42s} {statistics.median(values):7.0f}")
            continue
        ratio = statistics.median(values) / floor
        print(f"  {key:42s} {_median_ms(values):7.1f} ms  {ratio:5.2f}x")


if __name__ == "__main__":
    main()
