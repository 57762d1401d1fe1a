"""The write-or-check step shared by the scripts that generate docs from code.

``python scripts/gen_X.py`` rewrites the pages; ``--check`` writes nothing and exits 1 naming
every page that is out of date, so a test can fail when docs drift from the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


def write_or_check(
    pages: Mapping[Path, str], argv: Sequence[str], command: str, obsolete: Iterable[Path] = ()
) -> int:
    """Write ``pages`` (and delete ``obsolete`` ones), or with ``--check`` report the stale."""
    leftovers = [path for path in obsolete if path.exists()]
    if "--check" in argv:
        stale = [path for path, text in pages.items()
                 if not path.exists() or path.read_text(encoding="utf-8") != text]
        for path in stale + leftovers:
            print(f"out of date: {path} (run python {command})")
        return 1 if stale or leftovers else 0
    for path in leftovers:
        path.unlink()
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0
