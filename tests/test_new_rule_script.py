"""scripts/new_rule.py writes a rule skeleton that registers, and fixtures that parse."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import onnx

from archlint.api import LayerRule, Severity

from .conftest import REPO

SCRIPT = REPO / "scripts" / "new_rule.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_new_rule_creates_a_valid_skeleton_and_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "rules" / "archlint_rules").mkdir(parents=True)
    created = _run("AL199", "some-check", "--severity", "warning", "--root", str(tmp_path))
    assert created.returncode == 0, created.stderr
    module = tmp_path / "rules" / "archlint_rules" / "al199_some_check.py"
    assert f"created {module}" in created.stdout
    assert "--update-snapshots" in created.stdout and "gen_rule_docs.py" in created.stdout

    # The skeleton passes the Rule class's own checks (code, name, doc sections) when imported.
    spec = importlib.util.spec_from_file_location("al199_some_check", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    rule = loaded.SomeCheck
    assert issubclass(rule, LayerRule)
    assert (rule.code, rule.name, rule.severity) == ("AL199", "some-check", Severity.WARNING)

    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(module)],
                          capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert lint.returncode == 0, lint.stdout

    for kind in ("good", "bad"):
        text = (tmp_path / "fixtures" / "AL199" / f"{kind}.onnx.txt").read_text()
        assert onnx.parser.parse_model(text).graph.node[0].op_type == "LSTM"

    again = _run("AL199", "other-name", "--root", str(tmp_path))
    assert again.returncode == 2
    assert again.stderr.startswith("new_rule.py: AL199 is taken by ")


def test_new_rule_rejects_a_bad_code_or_slug(tmp_path: Path) -> None:
    (tmp_path / "rules" / "archlint_rules").mkdir(parents=True)
    bad_code = _run("X12", "ok-name", "--root", str(tmp_path))
    assert (bad_code.returncode, bad_code.stderr.strip()) == (
        2, "new_rule.py: code must look like AL123, got 'X12'")
    bad_slug = _run("AL198", "Not_Kebab", "--root", str(tmp_path))
    assert bad_slug.returncode == 2 and "kebab-case" in bad_slug.stderr
    assert not any((tmp_path / "rules" / "archlint_rules").iterdir())
