"""The README's install, CI and pre-commit snippets, run as written.

Each snippet follows a ``<!-- readme-test: NAME -->`` marker. The install snippets run in fresh
virtual environments (dependencies come from the package index pip is configured with; archlint
from a git URL of this checkout, or a wheel built from it); the workflow is validated against
SchemaStore's GitHub workflow schema (tests/schemas/SOURCES.md) and its ``run:`` steps run in a
repository holding models and a virtual environment full of them; the pre-commit config runs
with pre-commit on a bad model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import onnx
import pytest
import yaml

from .conftest import FIXTURES, REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SCHEMAS = REPO / "tests" / "schemas"
BAD = FIXTURES / "AL201" / "bad.onnx.txt"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def snippet(name: str) -> str:
    match = re.search(rf"<!-- readme-test: {name} -->\n```\w*\n(.*?)```", README, re.DOTALL)
    assert match, f"README has no snippet {name!r}"
    return match.group(1)


def _bash(script: str, cwd: Path, venv: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, text=True,
                          capture_output=True, timeout=900, check=False,
                          env={**os.environ, **GIT_ENV, "PATH": path, **env})


def _fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    return where


def _repo_with_models(where: Path) -> Path:
    for model in (where / "models" / "encoder.onnx",
                  where / ".venv" / "lib" / "site-packages" / "onnx" / "backend" / "test"
                  / "data" / "model.onnx"):
        model.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(onnx.parser.parse_model(BAD.read_text()), model)
    subprocess.run(["git", "init", "-q"], cwd=where, check=True)
    return where


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans, as GitHub reads a workflow: ``on`` is a key, not True (PyYAML
    implements YAML 1.1, where on/off/yes/no are booleans)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.load(snippet("github-workflow"), Loader=_Yaml12Loader)
    return document


def test_the_workflow_is_valid_against_the_github_workflow_schema() -> None:
    schema = json.loads((SCHEMAS / "github-workflow.schema.json").read_text())
    assert schema["$id"] == "https://json.schemastore.org/github-workflow.json"
    document = workflow()
    jsonschema.validate(document, schema)
    broken = {**document, "jobs": {"archlint": {"steps": [{"uses": "x@y"}]}}}  # no runs-on
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    steps = document["jobs"]["archlint"]["steps"]
    actions = [step["uses"] for step in steps if "uses" in step]
    assert [a.split("@")[0] for a in actions] == [
        "actions/checkout", "actions/setup-python", "github/codeql-action/upload-sarif"]
    assert all(re.fullmatch(r"[0-9a-f]{40}", a.split("@")[1]) for a in actions)
    assert steps[0]["with"]["lfs"] is True
    assert steps[-1]["with"]["sarif_file"] == "archlint.sarif"
    assert document["jobs"]["archlint"]["permissions"]["security-events"] == "write"


@needs_git
def test_install_snippet_then_the_workflows_steps(tmp_path: Path) -> None:
    """The README's install, then the workflow's run steps, as a CI runner would run them."""
    venv = _fresh_venv(tmp_path / "venv")
    # git+file:///path is refused by the requirement parser of older pips; localhost is not
    repo_url = f"file://localhost{REPO}"
    installed = _bash(snippet("install"), tmp_path, venv, ARCHLINT_REPO=repo_url)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert installed.stdout.strip().endswith("archlint, version 0.1.0")
    assert (venv / "bin" / "archlint").exists()
    checkout = _repo_with_models(tmp_path / "checkout")
    for step in workflow()["jobs"]["archlint"]["steps"]:
        if "run" in step:
            done = _bash(step["run"], checkout, venv, ARCHLINT_REPO=repo_url)
            assert done.returncode == 0, (step["run"], done.stderr[-3000:])
    sarif = json.loads((checkout / "archlint.sarif").read_text())
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in sarif["runs"][0]["results"]}
    assert uris == {"models/encoder.onnx"}  # not the models inside .venv


def test_wheel_snippet(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "-w",
         str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True, timeout=600,
        check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    # pyproject's license is an SPDX string: no setuptools deprecation warning for it
    assert "project.license" not in build.stdout + build.stderr
    venv = _fresh_venv(tmp_path / "venv")
    installed = _bash(snippet("wheel"), tmp_path, venv)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert installed.stdout.strip().endswith("archlint, version 0.1.0")
    import_ort = subprocess.run([str(venv / "bin" / "python"), "-c", "import onnxruntime"],
                                check=False, timeout=120)
    assert import_ort.returncode == 0  # [runtime] brought onnxruntime


@needs_git
@pytest.mark.skipif(not Path(sys.executable).with_name("pre-commit").exists(),
                    reason="needs pre-commit (a test extra)")
def test_pre_commit_snippet_blocks_a_bad_model(tmp_path: Path) -> None:
    repo = _repo_with_models(tmp_path / "project")
    (repo / ".pre-commit-config.yaml").write_text(snippet("pre-commit"))
    (repo / ".gitignore").write_text(".venv/\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env={**os.environ, **GIT_ENV})
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "pre-commit"), "run", "--all-files"], cwd=repo, capture_output=True,
        text=True, timeout=300, check=False,
        env={**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pc-home"),
             "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "archlint" in done.stdout and "Failed" in done.stdout
    assert "models/encoder.onnx:main/lstm_0: AL201 error" in done.stdout
