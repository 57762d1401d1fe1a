"""Deployment target profiles: every entry fires on its fixture under its target and not under
targets that support the construct, and onnxruntime (installed) agrees with the CPU profile."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from archlint.engine import Linter
from archlint.registry import load_rules, select_rules
from archlint.targets import (
    Entry,
    load_profiles,
)

from .conftest import FIXTURES, REPO, run_archlint

TARGET_FIXTURES = FIXTURES / "targets"
ENTRIES: dict[str, Entry] = {e.id: e for p in load_profiles().values() for e in p.entries}
TARGET_RULES = select_rules(load_rules().rules, ["AL6"])


@dataclass(frozen=True)
class TargetFixture:
    path: Path
    entries: tuple[str, ...]
    clean_on: tuple[str, ...]


def _header_list(text: str, key: str, path: Path) -> tuple[str, ...]:
    match = re.search(rf"^# {key}:(.*)$", text, re.MULTILINE)
    assert match, f"{path.name} lacks a '# {key}:' line"
    return tuple(part.strip() for part in match.group(1).split(",") if part.strip())


def _fixtures() -> list[TargetFixture]:
    found = []
    for path in sorted(TARGET_FIXTURES.glob("*.onnx.txt")):
        text = path.read_text(encoding="utf-8")
        found.append(TargetFixture(path, _header_list(text, "entries", path),
                                   _header_list(text, "clean-on", path)))
    return found


FIXTURE_LIST = _fixtures()
ENTRY_CASES = [(f, e) for f in FIXTURE_LIST for e in f.entries]
CLEAN_CASES = [(f, t) for f in FIXTURE_LIST for t in f.clean_on]


def _lint(path: Path, *targets: str) -> list[str]:
    report = Linter(TARGET_RULES, options={"targets": targets}).lint_file(
        path, str(path.relative_to(REPO)))
    assert report.error is None, report.error
    return [f"{f.code} {f.message}" for f in report.findings]


def _model(path: Path) -> onnx.ModelProto:
    return onnx.parser.parse_model(path.read_text(encoding="utf-8"))


def _zeros(model: onnx.ModelProto) -> dict[str, np.ndarray[Any, Any]]:
    feeds = {}
    for vi in model.graph.input:
        tensor_type = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        feeds[vi.name] = (np.ones(shape, dtype) if dtype == np.int64 and not shape
                          else np.zeros(shape, dtype))
    if "seq_lens" in feeds:
        feeds["seq_lens"] = np.full(feeds["seq_lens"].shape, 2, np.int32)
    return feeds


def _run_on_cpu(model: onnx.ModelProto) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    session.run(None, _zeros(model))


def test_every_profile_entry_has_a_fixture() -> None:
    covered = {e for f in FIXTURE_LIST for e in f.entries}
    assert sorted(set(ENTRIES) - covered) == []
    assert sorted(covered - set(ENTRIES)) == []


@pytest.mark.parametrize(("fixture", "entry_id"), ENTRY_CASES,
                         ids=[f"{f.path.name}-{e}" for f, e in ENTRY_CASES])
def test_entry_fires_under_its_target(fixture: TargetFixture, entry_id: str) -> None:
    entry = ENTRIES[entry_id]
    findings = _lint(fixture.path, entry.profile)
    hits = [f for f in findings if f"[{entry_id}]" in f]
    assert hits, findings
    code = {"refused": "AL601", "miscomputed": "AL601", "fallback": "AL602",
            "differs": "AL603"}[entry.kind]
    assert all(hit.startswith(code) for hit in hits)
    assert all(f" on {entry.profile} " in hit for hit in hits)
    message = entry.runtime_message(_layers(fixture.path)[0])
    if message:
        assert f'"{message}"' in hits[0]


def _layers(path: Path) -> list[Any]:
    from archlint.engine import analyse
    from archlint.loader import load_model

    return list(analyse(load_model(path)).layers)


@pytest.mark.parametrize(("fixture", "target"), CLEAN_CASES,
                         ids=[f"{f.path.name}-{t}" for f, t in CLEAN_CASES])
def test_clean_on_targets_that_support_the_construct(fixture: TargetFixture, target: str) -> None:
    assert _lint(fixture.path, target) == []


CPU_REFUSALS = [(f, e) for f, e in ENTRY_CASES
                if ENTRIES[e].profile == "onnxruntime-cpu" and ENTRIES[e].kind == "refused"]


@pytest.mark.parametrize(("fixture", "entry_id"), CPU_REFUSALS,
                         ids=[f"{f.path.name}-{e}" for f, e in CPU_REFUSALS])
def test_onnxruntime_cpu_really_refuses_with_the_quoted_message(
    fixture: TargetFixture, entry_id: str
) -> None:
    """The profile cannot drift from the installed onnxruntime unnoticed."""
    import onnxruntime as ort

    entry = ENTRIES[entry_id]
    model = _model(fixture.path)
    layer = _layers(fixture.path)[0]
    expected = entry.runtime_message(layer)
    assert expected
    if entry.stage == "session creation":
        with pytest.raises(Exception) as caught:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    else:
        assert entry.stage == "Run"
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        with pytest.raises(Exception) as caught:
            session.run(None, _zeros(model))
    assert expected in str(caught.value)


CPU_CLEAN = [f for f in FIXTURE_LIST if "onnxruntime-cpu" in f.clean_on]


@pytest.mark.parametrize("fixture", CPU_CLEAN, ids=[f.path.name for f in CPU_CLEAN])
def test_onnxruntime_cpu_really_runs_what_the_profile_accepts(fixture: TargetFixture) -> None:
    _run_on_cpu(_model(fixture.path))


def test_target_docs_reference_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_target_docs.py"),
                           "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_target_docs_list_every_entry_with_its_source() -> None:
    page = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    for entry in ENTRIES.values():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{entry.id}` |"))
        assert entry.source.replace("|", "\\|") in row


_TIMING = re.compile(r" \[\d+\.\d+s\]$", re.MULTILINE)


def test_target_docs_examples_are_real_output() -> None:
    """Every `$ archlint ...` example in docs/targets.md prints what the page shows."""
    page = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    examples = re.findall(r"```text\n(\$ .*?)```", page, flags=re.DOTALL)
    assert len(examples) >= 3
    for block in examples:
        for part in re.split(r"(?m)^(?=\$ )", block):
            if not part.startswith("$ "):
                continue
            command, _, shown = part.partition("\n")
            args = shlex.split(command[2:])
            assert args[0] == "archlint"
            proc = run_archlint(*args[1:], cwd=REPO)
            assert _TIMING.sub("", proc.stdout + proc.stderr).strip() == \
                _TIMING.sub("", shown).strip(), command
