"""What isolating onnx's shape inference costs per model: ``python bench/isolation.py``.

Per model, the median wall time of one shape inference (all of it: skeleton, serialization,
the child, parsing the result) done four ways:

- ``in process``: ``onnx.shape_inference.infer_shapes`` on the skeleton, no isolation (the
  floor; an abort in onnx would kill archlint);
- ``fork (before)``: the earlier loader, a fork of this process sending the result through a
  pipe (unsafe here: numpy's OpenBLAS threads make this process multi-threaded);
- ``spawn, import onnx``: a fresh interpreter that imports the onnx package (a child written the
  obvious way; not used);
- ``worker (now)``: ``archlint.inference.infer_isolated``, a fresh ``python -I -S`` that loads
  only onnx's C++ extension and then serves every model of the run: the first model pays its
  start, the next ones reuse it.

Models: two repository fixtures, the benchmark's scale series at 1k and 10k nodes (built in
memory with bench/make_models.py) and, with ``--big``, the 370 MB 4-layer BiLSTM. Results:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_models import bilstm_model, scale_model  # noqa: E402

from archlint.inference import close_worker, infer_isolated  # noqa: E402
from archlint.loader import _skeleton_if_needed  # noqa: E402

REPO = HERE.parent


def in_process(model: onnx.ModelProto) -> None:
    onnx.shape_inference.infer_shapes(_skeleton_if_needed(model), strict_mode=True,
                                      data_prop=True)


def forked(model: onnx.ModelProto) -> None:
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: the very reason it went
        pid = os.fork()
    if pid == 0:
        os.close(read_end)
        inferred = onnx.shape_inference.infer_shapes(
            _skeleton_if_needed(model), strict_mode=True, data_prop=True)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(inferred.SerializeToString())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    onnx.load_from_string(data)


_IMPORTING_CHILD = (
    "import sys, onnx; m = onnx.load_from_string(sys.stdin.buffer.read()); "
    "sys.stdout.buffer.write(onnx.shape_inference.infer_shapes(m, strict_mode=True, "
    "data_prop=True).SerializeToString())"
)


def spawn_importing_onnx(model: onnx.ModelProto) -> None:
    payload = _skeleton_if_needed(model).SerializeToString()
    done = subprocess.run([sys.executable, "-c", _IMPORTING_CHILD], input=payload,
                          capture_output=True, check=True)
    onnx.load_from_string(done.stdout)


def worker_cold(model: onnx.ModelProto) -> None:
    close_worker()  # the first model of a run: the worker starts
    worker_warm(model)


def worker_warm(model: onnx.ModelProto) -> None:
    outcome = infer_isolated(model, _skeleton_if_needed)
    assert outcome.error is None, outcome.error


WAYS: dict[str, Callable[[onnx.ModelProto], None]] = {
    "in process": in_process,
    "fork (before)": forked,
    "spawn, import onnx": spawn_importing_onnx,
    "worker, first model (now)": worker_cold,
    "worker, next models (now)": worker_warm,
}


def median_seconds(way: Callable[[onnx.ModelProto], None], model: onnx.ModelProto,
                   repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        way(model)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="add the 370 MB BiLSTM")
    args = parser.parse_args()
    models: dict[str, onnx.ModelProto] = {
        "AL301/bad.onnx.txt (2 nodes)": onnx.parser.parse_model(
            (REPO / "fixtures" / "AL301" / "bad.onnx.txt").read_text(encoding="utf-8")),
        "exported lstm_l2_bi_classic": onnx.load(
            REPO / "fixtures" / "exported" / "lstm_l2_bi_classic.onnx"),
        "scale_1000": scale_model(1_000),
        "scale_10000": scale_model(10_000),
    }
    if args.big:
        models["bilstm_4x1024 (370 MB inline)"] = bilstm_model()
    print(f"Python {sys.version.split()[0]}, onnx {onnx.__version__}, "
          f"median of {args.repeat}, seconds per model\n")
    print("| model | " + " | ".join(WAYS) + " |")
    print("|---|" + "---:|" * len(WAYS))
    for name, model in models.items():
        cells = [f"{median_seconds(way, model, args.repeat):.3f}" for way in WAYS.values()]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
