"""Rules arrive through the archlint.rules entry point: ours, and a real third-party package."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from archlint.api import Rule, RuleDefinitionError, Severity
from archlint.registry import load_rules, select_rules

from .conftest import FIXTURES, REPO, run_archlint

PLUGIN_RULE = '''
from archlint.api import LayerRule, Severity


class NoUnnamedLayers(LayerRule):
    """Recurrent nodes must have names.

    ## What it does
    Flags LSTM/GRU/RNN nodes without a name.
    ## Why is this bad?
    Findings and profiles point at nodes by name.
    ## Example
    Name the node.
    """

    code = "XPL001"
    name = "no-unnamed-layers"
    severity = Severity.WARNING
    summary = "Recurrent node has no name"

    def check_layer(self, layer, ctx):
        if not layer.name:
            yield ctx.finding(self, layer, "recurrent node has no name", help="Name it.")
'''

PLUGIN_RUNTIME_RULE = '''
from archlint.api import RuntimeRule, Severity


class OutputsListed(RuntimeRule):
    """Lists the outputs a real onnxruntime run produced (a third-party runtime check).

    ## What it does
    Reads the typed result of the runtime check and reports each output's shape at run time.
    ## Why is this bad?
    It is not; it proves a plugin can judge a real run.
    ## Example
    Any model that runs.
    """

    code = "XRT001"
    name = "outputs-listed"
    severity = Severity.INFO
    summary = "Each output's shape at run time"

    def check_run(self, run, ctx):
        if run.main is None or run.main.status != "ok":
            return
        for out in run.outputs:
            yield ctx.finding(self, out.producer, f"output {out.name!r} came back as "
                              f"{list(out.shape)} on {run.main.on}", tensor=out.name,
                              actual=str(list(out.shape)))
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway plugin package, really installed with pip into its own target folder."""
    src = tmp_path_factory.mktemp("plugin_src")
    (src / "xplugin").mkdir()
    (src / "xplugin" / "__init__.py").write_text(PLUGIN_RULE)
    (src / "xplugin" / "runtime_checks.py").write_text(PLUGIN_RUNTIME_RULE)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "archlint-xplugin"
        version = "0.0.1"
        [project.entry-points."archlint.rules"]
        xplugin = "xplugin"
        [tool.setuptools]
        packages = ["xplugin"]
    """))
    site = tmp_path_factory.mktemp("plugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True, capture_output=True, text=True,
    )
    return site


def test_third_party_rule_is_picked_up_by_lint_and_rules(plugin_site: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")])}
    listed = run_archlint("rules", env=env)
    assert listed.returncode == 0
    assert "XPL001  no-unnamed-layers" in listed.stdout and " xplugin " in listed.stdout
    linted = run_archlint("lint", str(FIXTURES / "AL002" / "good.onnx"), "--fail-on", "warning",
                          "--select", "XPL", env=env)
    assert linted.returncode == 0  # the LSTM there is named lstm_0
    unnamed = REPO / "tests" / "data" / "unnamed_lstm.onnx.txt"
    linted = run_archlint("lint", str(unnamed), "--fail-on", "warning", env=env)
    assert linted.returncode == 1
    assert "main/<LSTM #0>: XPL001 warning: recurrent node has no name" in linted.stdout


def test_third_party_runtime_rule_judges_a_real_run(plugin_site: Path) -> None:
    """A pip-installed plugin adds a runtime check: ``archlint run`` hands it the typed result
    of a real onnxruntime run, and its findings pass the same fail-on as ours."""
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_site), os.environ.get("PYTHONPATH", "")])}
    model = FIXTURES / "exported" / "lstm_4_2.onnx"
    ran = run_archlint("run", "--runs", "1", str(model), env=env)
    assert ran.returncode == 0, ran.stderr  # info stays below the default fail-on
    lines = sorted(line.split(": XRT001 info: ")[1] for line in ran.stdout.splitlines()
                   if "XRT001" in line)
    # default dims seq=5, batch=2; hidden 2: the LSTM's Y (after a Squeeze), Y_h and Y_c
    assert lines == ["output 'c_n' came back as [1, 2, 2] on cpu",
                     "output 'h_n' came back as [1, 2, 2] on cpu",
                     "output 'output' came back as [5, 2, 2] on cpu"]
    failing = run_archlint("run", "--runs", "1", "--fail-on", "info", str(model), env=env)
    assert failing.returncode == 1
    linted = run_archlint("lint", "--runtime", "--select", "XRT", "--format", "json", "-q",
                          str(model), env=env)
    assert linted.returncode == 0
    [model_report] = json.loads(linted.stdout)["models"]
    assert [f["source"] for f in model_report["findings"]] == ["onnxruntime"] * 3


def test_builtin_rules_come_from_the_entry_point() -> None:
    ruleset = load_rules()
    assert ruleset.origin["AL201"] == "builtin"
    assert ruleset.origin["AL000"] == "core"
    assert all(r.__module__.startswith(("archlint_rules.", "archlint.core_rules"))
               for r in ruleset.rules if ruleset.origin[r.code] in ("builtin", "core"))


def test_a_rule_without_docs_sections_is_refused_at_definition() -> None:
    with pytest.raises(RuleDefinitionError, match="lacks section"):
        class Undocumented(Rule):
            """Only a summary."""

            code = "ZZ100"
            name = "undocumented"
            severity = Severity.INFO
            summary = "x"
    with pytest.raises(RuleDefinitionError, match="code must look like"):
        class BadCode(Rule):
            code = "lower1"


def test_selection_more_specific_prefix_wins() -> None:
    rules = load_rules().rules
    codes = lambda sel, ign=(): [r.code for r in select_rules(rules, sel, ign)]  # noqa: E731
    assert "AL201" not in codes(["AL"], ["AL2"])
    assert "AL201" in codes(["AL201"], ["AL2"])
    assert codes(["AL2"], ["AL201"]) == [c for c in codes(["AL2"]) if c != "AL201"]


def test_wheel_ships_every_builtin_rule(tmp_path: Path) -> None:
    """A plain `pip install .` gets the rule pack: build the wheel and look inside."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    [wheel] = tmp_path.glob("archlint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    rule_files = sorted(p.name for p in (REPO / "rules" / "archlint_rules").glob("al*.py"))
    assert rule_files
    for rule_file in rule_files:
        assert f"archlint_rules/{rule_file}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[archlint.rules]\nbuiltin = archlint_rules" in text
    assert "archlint = archlint.cli:main" in text
    profiles = sorted(p.name for p in (REPO / "archlint" / "targets" / "profiles").glob("*.toml"))
    assert profiles and all(f"archlint/targets/profiles/{p}" in names for p in profiles)


def test_only_runtime_package_imports_onnxruntime() -> None:
    offenders = []
    for path in [*(REPO / "archlint").rglob("*.py"), *(REPO / "rules").rglob("*.py")]:
        if "runtime" in path.relative_to(REPO).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "onnxruntime" for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
