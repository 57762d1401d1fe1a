"""The pre-commit hook, for real: `pre-commit try-repo` installs archlint from a clone of this
checkout into pre-commit's own environment and runs it on a git repository holding a bad model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from .conftest import FIXTURES, REPO

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not PRE_COMMIT.exists(),
    reason="needs git and pre-commit (a test extra)",
)
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60,
                   env={**os.environ, **GIT_ENV})


def _snapshot_of_this_checkout(dest: Path) -> Path:
    """A one-commit repository with the working tree's files (uncommitted edits included)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True, timeout=60,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        if name.split("/", 1)[0].startswith(".venv"):
            continue  # a CI virtual environment that .gitignore does not know about
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot")
    return dest


def _save(text_fixture: Path, dest: Path) -> None:
    onnx.save_model(onnx.parser.parse_model(text_fixture.read_text()), dest)


def test_hook_fails_on_a_bad_model_and_passes_once_fixed(tmp_path: Path) -> None:
    hook_repo = _snapshot_of_this_checkout(tmp_path / "archlint")
    user = tmp_path / "user"
    user.mkdir()
    _git(user, "init", "-q")
    _save(FIXTURES / "AL201" / "bad.onnx.txt", user / "encoder.onnx")
    (user / "notes.txt").write_text("not a model, so the hook must not be given it\n")
    _git(user, "add", "-A")

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRE_COMMIT), "try-repo", str(hook_repo), "archlint", "--all-files",
             "--verbose"],
            cwd=user, capture_output=True, text=True, timeout=900,
            env={**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
                 "PRE_COMMIT_COLOR": "never"},
        )

    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "archlint" in failed.stdout and "Failed" in failed.stdout
    assert ("encoder.onnx:main/lstm_0: AL201 error: LSTM 'lstm_0' has hidden_size=4 but W and "
            "R imply hidden_size=3") in failed.stdout
    assert "notes.txt" not in failed.stdout

    _save(FIXTURES / "AL201" / "good.onnx.txt", user / "encoder.onnx")
    _git(user, "add", "-A")
    passed = try_repo()  # the hook environment is reused: this run is quick
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    assert "0 findings (0 errors, 0 warnings, 0 infos) in 1 model" in passed.stdout
