"""Every rule: fixtures/<CODE>/good.* gives nothing, bad.* gives exactly the snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint.engine import Linter
from archlint.registry import load_rules
from archlint.reporters.text import format_finding

from .conftest import FIXTURES, REPO

RULES = [r for r in load_rules().rules if r.code != "AL000"]


def _fixture(code: str, kind: str) -> Path:
    folder = FIXTURES / code
    matches = sorted(p for p in folder.glob(f"{kind}.*") if p.name.endswith((".onnx", ".onnx.txt")))
    assert matches, f"{code} has no {kind} fixture in {folder}"
    return matches[0]


def _render(code: str, path: Path) -> str:
    rule = next(r for r in RULES if r.code == code)
    # Rules that only fire with options (deployment targets) declare what their fixtures need.
    options = getattr(rule, "fixture_options", None)
    report = Linter([rule], options=options).lint_file(path, str(path.relative_to(REPO)))
    assert report.error is None, report.error
    return "".join(format_finding(f) + "\n" for f in report.findings)


@pytest.mark.parametrize("code", [r.code for r in RULES])
def test_good_fixture_is_clean(code: str) -> None:
    assert _render(code, _fixture(code, "good")) == ""


@pytest.mark.parametrize("code", [r.code for r in RULES])
def test_bad_fixture_matches_snapshot(code: str, request: pytest.FixtureRequest) -> None:
    bad = _fixture(code, "bad")
    snapshot = FIXTURES / code / "expected.txt"
    output = _render(code, bad)
    assert output, f"{code}: the bad fixture produced no finding"
    assert all(line.startswith(f"{bad.relative_to(REPO)}") or line.startswith("    ")
               for line in output.splitlines())
    if request.config.getoption("--update-snapshots"):
        snapshot.write_text(output, encoding="utf-8")
    assert snapshot.read_text(encoding="utf-8") == output
    assert f" {code} " in output
