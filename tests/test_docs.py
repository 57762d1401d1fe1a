"""docs/rules/ is generated from the rules' docstrings; a drift fails here."""

from __future__ import annotations

import subprocess
import sys

from archlint.registry import load_rules

from .conftest import FIXTURES, REPO


def test_rule_pages_are_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_rule_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_every_rule_has_fixtures_and_a_page() -> None:
    for rule in load_rules().rules:
        if rule.code == "AL000":
            continue
        folder = FIXTURES / rule.code
        assert (folder / "expected.txt").is_file(), rule.code
        assert any(folder.glob("good.*")) and any(folder.glob("bad.*")), rule.code
        assert (REPO / "docs" / "rules" / f"{rule.code}.md").is_file(), rule.code
