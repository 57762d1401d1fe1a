"""Start-up: each command imports what it uses and nothing else (issue 17, "Start-up").

Each check runs a fresh interpreter, as a shell would, and reads ``sys.modules`` at the end:
counting what was imported is steady where timing a start-up is not (the speed itself is
measured in bench/, never here).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import archlint.cli
from archlint.cli import COMMANDS, cli
from archlint.cli.lazy_group import LazyGroup
from archlint.reporters import REPORTERS, RICH_FORMATS

from .conftest import FIXTURES, REPO

ONE_LAYER = FIXTURES / "exported" / "lstm_l1_uni_sf_h0.onnx"

# `python -m archlint ARGS`; at exit, every module imported, as JSON in OUT (the process ends
# without the interpreter's teardown, but its exit handlers run)
_PROBE = """
import atexit, json, runpy, sys
out, sys.argv = sys.argv[1], ["archlint", *sys.argv[2:]]

def dump():
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)

atexit.register(dump)
runpy.run_module("archlint", run_name="__main__", alter_sys=True)
"""


def imported_by(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """(exit code, modules in sys.modules) after ``python -m archlint ARGS`` in a fresh process."""
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(out), *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=120)
    modules: list[str] = json.loads(out.read_text())
    return proc.returncode, modules


def imported_by_python(code: str) -> list[str]:
    """Modules in sys.modules after running ``code`` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    modules: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return modules


def matching(modules: list[str], *patterns: str) -> list[str]:
    """The modules named by any pattern (``onnx`` is the package and its submodules)."""
    return [m for m in modules
            if any(fnmatchcase(m, p) or m.startswith(p + ".") for p in patterns)]


# What the front door may import: click, and these of archlint's own
FRONT_DOOR = {"archlint", "archlint.__main__", "archlint._version", "archlint.cli",
              "archlint.cli.lazy_group", "archlint.cli.process_exit", "archlint.exit_codes",
              "archlint.onnx_protos", "archlint.process_end", "archlint.render_names"}


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("-h",)])
def test_version_and_help_import_click_and_no_engine(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, modules = imported_by(tmp_path, *args)
    assert code == 0
    assert "click" in modules
    assert set(matching(modules, "archlint")) <= FRONT_DOOR
    assert matching(modules, "onnx", "numpy", "networkx", "google.protobuf") == []


# A static lint of a model, written as text: the engine, the rules and the text reporter, and
# none of the parameter report, the drawings, the other commands, the other reporters, the
# runtime check or networkx (imported on first use by archlint.graph; a clean 1-layer lint
# never uses it), nor the target profiles (no --target given).
NOT_IN_A_STATIC_LINT = (
    "onnxruntime", "networkx", "jsonschema",
    "archlint.drawing", "archlint.params*", "archlint.weight_sources",
    "archlint.cli.params", "archlint.cli.run", "archlint.cli.fix", "archlint.cli.graph",
    "archlint.reporters.sarif", "archlint.reporters.json_report", "archlint.reporters.junit",
    "archlint.reporters.github", "archlint.reporters.gitlab", "archlint.reporters.markdown",
    "archlint.reporters.html", "archlint.reporters.params_report",
    "archlint.runtime.check", "archlint.runtime.worker", "archlint.targets*",
)


@pytest.mark.parametrize("model", [ONE_LAYER, FIXTURES / "AL201" / "good.onnx.txt"],
                         ids=["exported-1-layer", "onnx-text"])
def test_a_static_lint_imports_only_what_it_uses(tmp_path: Path, model: Path) -> None:
    code, modules = imported_by(tmp_path, "lint", "-q", str(model))
    assert code == 0
    assert {"onnx.onnx_ml_pb2", "archlint.engine", "archlint_rules",
            "archlint.reporters.text"} <= set(modules)
    assert matching(modules, *NOT_IN_A_STATIC_LINT) == []


def test_a_static_lint_of_an_export_reads_it_without_the_onnx_package_or_numpy(
        tmp_path: Path) -> None:
    """onnx's generated classes alone (archlint/onnx_protos.py): a lint that decodes no value
    and parses no text needs neither the onnx package's helpers nor numpy."""
    code, modules = imported_by(tmp_path, "lint", "-q", str(ONE_LAYER))
    assert code == 0
    assert matching(modules, "onnx", "numpy") == ["onnx.onnx_ml_pb2"]


def test_integer_constants_are_read_without_numpy(tmp_path: Path) -> None:
    """nn.LSTM(4, 2) through the classic exporter and a Keras GRU through tf2onnx: their lints
    read small integer constants (TensorInfo.int_value), with neither numpy nor the onnx
    package."""
    for model in (FIXTURES / "exported" / "lstm_4_2.onnx",
                  FIXTURES / "keras" / "k2_bidir_gru.onnx"):
        code, modules = imported_by(tmp_path, "lint", "-q", str(model))
        assert code == 0
        assert matching(modules, "onnx", "numpy") == ["onnx.onnx_ml_pb2"], model.name


def test_a_lint_that_reads_array_values_imports_numpy_but_not_the_onnx_package(
        tmp_path: Path) -> None:
    """onnxruntime's quantizer: AL020 reads the int8 zero points as arrays
    (archlint/tensor_values.py), with numpy alone."""
    code, modules = imported_by(tmp_path, "lint", "-q",
                                str(FIXTURES / "quantized" / "lstm_bi_s8_per_channel.onnx"))
    assert code == 0
    assert "numpy" in modules
    assert matching(modules, "onnx") == ["onnx.onnx_ml_pb2"]


def test_a_text_model_imports_the_onnx_package_for_its_parser(tmp_path: Path) -> None:
    code, modules = imported_by(tmp_path, "lint", "-q", str(FIXTURES / "AL201" / "good.onnx.txt"))
    assert code == 0
    assert {"onnx", "onnx.parser", "onnx.onnx_ml_pb2"} <= set(modules)


def test_a_static_lint_does_not_import_the_fixer(tmp_path: Path) -> None:
    code, modules = imported_by(tmp_path, "lint", "-q", str(ONE_LAYER))
    assert code == 0
    assert matching(modules, "archlint.fixes") == []


def test_a_lint_imports_the_reporter_it_writes_with_and_no_other(tmp_path: Path) -> None:
    code, modules = imported_by(tmp_path, "lint", "-q", "--format", "sarif", str(ONE_LAYER))
    assert code == 0
    assert "archlint.reporters.sarif" in modules
    assert matching(modules, "archlint.reporters.html", "archlint.reporters.junit",
                    "archlint.drawing") == []


def test_import_archlint_is_light_and_its_api_still_resolves() -> None:
    modules = imported_by_python("import archlint")
    assert set(matching(modules, "archlint")) == {"archlint", "archlint._version"}
    assert matching(modules, "onnx", "click") == []
    import archlint
    from archlint import python_api

    assert archlint.lint is python_api.lint and archlint.fix is python_api.fix
    assert archlint.ParamsResult is python_api.ParamsResult


def test_the_pytest_plugin_imports_no_engine() -> None:
    """pytest imports the plugin in every session where archlint is installed (pytest11):
    without --archlint it must not cost those sessions onnx and the rule pack."""
    modules = imported_by_python("import archlint.pytest_plugin")
    assert set(matching(modules, "archlint")) == {"archlint", "archlint._version",
                                                  "archlint.pytest_plugin"}
    assert matching(modules, "onnx") == []


def test_the_command_table_names_every_command_with_its_own_summary() -> None:
    found = {}
    for info in pkgutil.iter_modules(archlint.cli.__path__, "archlint.cli."):
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            if isinstance(value, click.Command) and not isinstance(value, click.Group):
                found[value.name] = f"{info.name}:{attribute}"
    assert {name: entry.target for name, entry in COMMANDS.items()} == found
    unloaded = LazyGroup(lazy_commands=COMMANDS)  # its listing reads the table
    for name, entry in COMMANDS.items():
        command = entry.load()
        assert command.name == name
        for width in (30, 45, 80, 1000):
            assert (unloaded.listed_help(name, width)
                    == command.get_short_help_str(width)), (name, width)


def test_help_lists_every_command() -> None:
    listed = CliRunner().invoke(cli, ["--help"]).output
    rows = listed.split("Commands:\n", 1)[1].splitlines()
    assert [row.split()[0] for row in rows if row.strip()] == sorted(COMMANDS)


def test_the_reporter_registries_resolve() -> None:
    assert sorted(REPORTERS) == ["github", "gitlab", "html", "json", "junit", "markdown",
                                 "sarif", "text"]
    for name in REPORTERS:
        assert callable(REPORTERS[name]) and REPORTERS[name].__name__ == "render"
    assert set(RICH_FORMATS) == {"markdown", "html"}
    assert RICH_FORMATS["html"] is REPORTERS["html"]
    with pytest.raises(KeyError):
        REPORTERS["nope"]


@pytest.mark.parametrize(("args", "code"), [
    (("lint", "--format", "json", str(FIXTURES / "AL201" / "bad.onnx.txt")), 1),
    (("lint", "--format", "json", str(ONE_LAYER)), 0),
    (("rules", "--format", "json"), 0),
])
def test_the_quick_exit_keeps_the_exit_code_and_the_whole_output(args: tuple[str, ...],
                                                                 code: int) -> None:
    """The process ends without the interpreter's teardown: its output still arrives whole
    (flushed into a pipe) and its exit code is the command's."""
    proc = subprocess.run([sys.executable, "-m", "archlint", *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stdout)


def test_a_usage_error_still_exits_2_with_its_message() -> None:
    proc = subprocess.run([sys.executable, "-m", "archlint", "lint", "--format", "nope"],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert "archlint: error: Invalid value for '--format'" in proc.stderr


def test_a_mistyped_command_is_still_named_with_a_suggestion() -> None:
    proc = subprocess.run([sys.executable, "-m", "archlint", "lnt"], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert "No such command 'lnt'." in proc.stderr
    if "Did you mean" in CliRunner().invoke(click.Group(commands=[click.Command("lint")]),
                                            ["lnt"]).output:  # click >= 8.2 suggests
        assert "Did you mean 'lint'?" in proc.stderr


def test_the_collector_paused_for_the_start_runs_again_for_the_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script pauses the cyclic collector while it imports; the command itself
    (its models, its reports) runs with the collector on, and what the start imported is
    frozen out of its care."""
    import gc

    from archlint import app

    seen: list[bool] = []
    real_lint = app.lint

    def lint(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real_lint(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "lint", lint)
    frozen_before = gc.get_freeze_count()
    archlint.cli._pause_collector()
    try:
        assert not gc.isenabled()
        result = CliRunner().invoke(cli, ["lint", str(ONE_LAYER)])
        assert result.exit_code == 0, result.output
        assert seen == [True]
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.enable()
        gc.unfreeze()
