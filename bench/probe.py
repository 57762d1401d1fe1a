"""One measured operation in a fresh process: ``python bench/probe.py OPERATION MODEL``.

Prints the seconds the operation itself took (imports done first), so the benchmark can
report both whole-process time (what a CI job pays) and the work alone. ``static-imports``
runs ``archlint lint MODEL`` through the CLI in this process and adds what it imported:
``onnxruntime=yes|no modules=N``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(operation: str, model: str) -> None:
    if operation == "static-imports":
        return static_imports(model)
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
    elif operation == "checker-full":
        onnx.checker.check_model(model, full_check=True)
    elif operation == "lint":
        report = Linter(rules).lint_file(Path(model))
        assert report.error is None, report.error
    elif operation == "params":
        [result] = count_paths([model])
        assert result.error is None, result.error
    else:
        raise SystemExit(f"unknown operation {operation}")
    print(f"{time.perf_counter() - started:.6f}")


def static_imports(model: str) -> None:
    """What a static lint imports, through the front end users run."""
    before = set(sys.modules)
    started = time.perf_counter()
    from archlint.cli import main as cli

    try:
        cli(["lint", model, "--exit-zero", "-q"])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    elapsed = time.perf_counter() - started
    imported = set(sys.modules) - before
    runtime = "yes" if any(name.split(".")[0] == "onnxruntime" for name in imported) else "no"
    print(f"{elapsed:.6f} onnxruntime={runtime} modules={len(imported)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
