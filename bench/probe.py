"""One measured operation in a fresh process: ``python bench/probe.py OPERATION MODEL``.

Prints the seconds the operation itself took (imports done first), so the benchmark can
report both whole-process time (what a CI job pays) and the work alone.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(operation: str, model: str) -> None:
    import onnx

    if operation in ("lint", "params"):
        from archlint.app import count_paths
        from archlint.engine import Linter
        from archlint.registry import load_rules

        rules = load_rules().rules
    started = time.perf_counter()
    if operation == "load":
        onnx.load(model, load_external_data=False)
    elif operation == "load+infer":
        onnx.shape_inference.infer_shapes(onnx.load(model, load_external_data=False))
    elif operation == "checker":
        onnx.checker.check_model(model)
    elif operation == "lint":
        report = Linter(rules).lint_file(Path(model))
        assert report.error is None, report.error
    elif operation == "params":
        [result] = count_paths([model])
        assert result.error is None, result.error
    else:
        raise SystemExit(f"unknown operation {operation}")
    print(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
