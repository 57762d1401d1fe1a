"""Which model files a folder holds: the walk, its excludes and ``.gitignore``.

Like ruff's walker: folders named in :data:`DEFAULT_EXCLUDES` (virtual environments, VCS and
build folders) are never entered, ``exclude`` replaces that list and ``extend-exclude`` adds to
it, and files git ignores are left out. A path named on the command line is always linted,
whatever the excludes say: the excludes govern the walk only.

A pattern without ``/`` matches any file or folder name on the way (``"*.tmp.onnx"``,
``"experiments"``); a pattern with ``/`` matches the path relative to ``root`` (the config's
folder, else the working directory), as in ``"models/legacy/*"``. Any folder holding a
``pyvenv.cfg`` is a virtual environment and skipped whatever its name.

``.gitignore`` is read by git itself (``git check-ignore``), so its rules, nested files,
``.git/info/exclude`` and the global excludes file mean what they mean to git; tracked files
are never ignored. Without git, or outside a repository, nothing is left out for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

__all__ = ["DEFAULT_EXCLUDES", "Discovery", "walk_models"]

# ruff's default excludes (crates/ruff_workspace/src/settings.rs), plus "build"
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
    ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
    ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages", "venv",
)


@dataclass(frozen=True)
class Discovery:
    """How a folder is walked: what is excluded and whether git's ignores count."""

    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    root: Path | None = None  # patterns with "/" are relative to it (else the working dir)

    @property
    def patterns(self) -> tuple[str, ...]:
        return (*self.exclude, *self.extend_exclude)

    def excluded(self, path: Path) -> bool:
        """Whether the walk leaves ``path`` (a file or folder) out by pattern."""
        name = path.name
        relative: str | None = None
        for pattern in self.patterns:
            pattern = pattern.rstrip("/")
            if "/" not in pattern:
                if fnmatchcase(name, pattern):
                    return True
                continue
            if relative is None:  # resolved only for a pattern that needs the path
                relative = self._relative(path)
            if relative and fnmatchcase(relative, pattern.removeprefix("./")):
                return True
        return False

    def _relative(self, path: Path) -> str:
        """``path`` relative to the root, POSIX style; "" when it lies outside the root."""
        root = (self.root or Path.cwd()).resolve()
        try:
            return PurePosixPath(path.resolve().relative_to(root)).as_posix()
        except ValueError:
            return ""


def walk_models(folder: Path, suffixes: tuple[str, ...], discovery: Discovery) -> list[Path]:
    """Every file under ``folder`` ending in one of ``suffixes``, excludes applied, sorted."""
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not _skip_folder(here / d, discovery))
        found.extend(here / f for f in files
                     if f.lower().endswith(suffixes) and not discovery.excluded(here / f)
                     and (here / f).is_file())
    if discovery.respect_gitignore and found:
        ignored = git_ignored(folder, found)
        found = [p for p in found if p not in ignored]
    return sorted(found)


def _skip_folder(path: Path, discovery: Discovery) -> bool:
    if path.is_symlink():
        return True  # a link can lead out of the tree or round in a circle
    return discovery.excluded(path) or (path / "pyvenv.cfg").is_file()


def git_ignored(folder: Path, paths: Sequence[Path]) -> set[Path]:
    """The paths git ignores, asked of git in ``folder``; none without git or a repository."""
    git = shutil.which("git")
    if git is None:
        return set()
    # file names travel as bytes: a name that is not UTF-8 (surrogate-escaped) must not break it
    listing = b"\0".join(os.fsencode(p.resolve()) for p in paths) + b"\0"
    try:
        done = subprocess.run(
            [git, "check-ignore", "-z", "--stdin"], cwd=folder, input=listing,
            capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if done.returncode not in (0, 1):  # 128: not a repository
        return set()
    ignored = {Path(os.fsdecode(p)) for p in done.stdout.split(b"\0") if p}
    return {p for p in paths if p.resolve() in ignored}
