"""A folder of many small real exports, for ``archlint lint -j N``. See bench/README.md.

    python bench/make_folder.py OUT_DIR [--count 500]

Copies the committed exports (PyTorch classic and dynamo, Keras 2 and 3 through tf2onnx, the
state-handling, defect, fix and quantized exports) round-robin into ``OUT_DIR`` until it holds
``--count`` models, spread over ten subfolders and renamed ``NNNN_<original name>``. Nothing is
generated: every file is byte for byte a model an exporter wrote, so the folder lints like a
real repository of models (some clean, some with findings), not like a toy graph repeated.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("exported", "keras", "exported_states", "exported_defects", "exported_fixes",
           "keras_params", "quantized")


def sources(fixtures: Path = ROOT / "fixtures") -> list[Path]:
    """Every committed export, in a fixed order."""
    return [path for folder in SOURCES for path in sorted((fixtures / folder).glob("*.onnx"))]


def make_folder(out: Path, count: int = 500) -> list[Path]:
    """Fill ``out`` with ``count`` copies cycling through :func:`sources`; idempotent."""
    models = sources()
    if not models:
        raise SystemExit("no exported fixtures found under fixtures/")
    written = []
    for i in range(count):
        src = models[i % len(models)]
        dest = out / f"group{i % 10}" / f"{i:04d}_{src.parent.name}_{src.name}"
        if not dest.exists() or dest.stat().st_size != src.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        written.append(dest)
    keep = set(written)  # a smaller --count than last time: drop the rest
    for stale in out.rglob("*.onnx"):
        if stale not in keep:
            stale.unlink()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    written = make_folder(args.out, args.count)
    print(f"{len(written)} models from {len(sources())} exports in {args.out}")


if __name__ == "__main__":
    main()
