"""[tool.archlint] / archlint.toml: found upwards, validated with one-line errors, merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint.api import Severity
from archlint.config import (
    Config,
    ConfigError,
    ParamsConfig,
    RuntimeConfig,
    find_config,
    lint_settings,
    load_config,
)

from .conftest import FIXTURES, invoke, run_archlint

FULL = """
select = ["AL2", "AL3"]
ignore = ["AL301"]
extend-select = ["AL0"]
fail-on = "warning"
targets = ["onnxruntime-cpu", "tensorrt"]

[severity]
AL201 = "warning"

[per-path-ignores]
"legacy/*.onnx" = ["AL201"]

[per-node-ignores]
"encoder.*" = ["AL3"]

[params]
max-params = 1000000
max-layer-params = 250000
layer-limits = { "decoder*" = 5000 }
expect-params = 1234
convention = "pytorch"

[runtime]
providers = ["CPUExecutionProvider"]
dims = { batch = 2, seq = 7 }
rtol = 1e-4
atol = 0.001
timeout = 30
seed = 0
"""


def test_every_section_and_key_is_parsed_into_frozen_dataclasses(tmp_path: Path) -> None:
    path = tmp_path / "archlint.toml"
    path.write_text(FULL)
    config = load_config([tmp_path])
    assert config.path == path.resolve()
    assert config.root == tmp_path.resolve()
    assert (config.select, config.ignore, config.extend_select) == (
        ("AL2", "AL3"), ("AL301",), ("AL0",))
    assert config.fail_on == "warning"
    assert config.targets == ("onnxruntime-cpu", "tensorrt")
    assert config.severity == {"AL201": Severity.WARNING}
    assert config.per_path_ignores == {"legacy/*.onnx": ("AL201",)}
    assert config.per_node_ignores == {"encoder.*": ("AL3",)}
    assert config.params == ParamsConfig(
        max_params=1_000_000, max_layer_params=250_000, layer_limits={"decoder*": 5000},
        expect_params=1234, convention="pytorch")
    assert config.runtime == RuntimeConfig(
        providers=("CPUExecutionProvider",), dims={"batch": 2, "seq": 7}, rtol=1e-4, atol=0.001,
        timeout=30.0, seed=0)
    with pytest.raises(AttributeError):
        config.fail_on = "error"  # type: ignore[misc]


def test_pyproject_table_found_upwards_and_archlint_toml_wins(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[tool.archlint]\nignore = ["AL3"]\n')
    assert load_config([deep]).ignore == ("AL3",)
    # a pyproject.toml without [tool.archlint] is passed over on the way up
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config([deep]) == (tmp_path / "pyproject.toml").resolve()
    (tmp_path / "a" / "archlint.toml").write_text('ignore = ["AL2"]\n')
    assert load_config([deep / "model.onnx"]).ignore == ("AL2",)
    assert load_config([deep], explicit=tmp_path / "pyproject.toml").ignore == ("AL3",)


def test_no_config_gives_defaults(tmp_path: Path) -> None:
    assert load_config([tmp_path]) == Config()
    settings = lint_settings(Config())
    assert (settings.select, settings.ignore, settings.fail_on) == (("ALL",), (), "error")


def test_command_line_over_config() -> None:
    config = Config(select=("AL2",), ignore=("AL201",), extend_select=("AL0",), fail_on="info")
    merged = lint_settings(config, select=["AL3"], ignore=["AL302"], fail_on="warning")
    assert merged.select == ("AL3", "AL0")  # --select replaces, extend-select still adds
    assert merged.ignore == ("AL201", "AL302")  # --ignore adds to the config's
    assert merged.fail_on == "warning"
    assert lint_settings(config).fail_on == "info"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('selct = ["AL2"]', "selct", "unknown key; known keys: "),
        ('extend_select = ["AL2"]', "extend_select", "unknown key (did you mean 'extend-select'?)"),
        ('select = "AL2"', "select", "must be a list of strings, got string 'AL2'"),
        ('ignore = ["AL-2"]', "ignore", "'AL-2' is not a rule code or prefix"),
        ('fail-on = "fatal"', "fail-on", "must be one of error, warning, info, never"),
        ('[severity]\nAL201 = "high"', "severity.AL201", "must be one of error, warning, info"),
        ('targets = ["tflite"]', "targets", "unknown target 'tflite'"),
        ('[per-node-ignores]\n"lstm*" = "AL2"', "per-node-ignores.'lstm*'",
         "must be a list of strings"),
        ("[params]\nmax-params = -3", "params.max-params",
         "must be an integer >= 1, got integer -3"),
        ("[params]\nmax-params = true", "params.max-params", "must be an integer >= 1"),
        ('[params]\nconvention = "tf"', "params.convention", "must be one of onnx, pytorch, keras"),
        ("[params]\nbudget = 3", "params.budget", "unknown key"),
        ("[runtime]\nrtol = -1.0", "runtime.rtol", "must be a number >= 0"),
        ("[runtime]\ntimeout = 0", "runtime.timeout", "must be a number of seconds > 0"),
        ('[runtime]\ndims = { batch = "two" }', "runtime.dims.batch", "must be an integer >= 1"),
        ('[runtime]\nproviders = "CPUExecutionProvider"', "runtime.providers",
         "must be a list of strings"),
    ],
)
def test_bad_key_or_value_names_file_and_key(tmp_path: Path, text: str, key: str,
                                             reason: str) -> None:
    path = tmp_path / "archlint.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config([tmp_path])
    assert info.value.key == key
    assert str(info.value).startswith(f"{path.resolve()}: {key}: {reason}")
    assert "\n" not in str(info.value)


def test_pyproject_keys_are_named_with_their_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.archlint.runtime]\nseed = 1.5\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: tool\.archlint\.runtime\.seed: "):
        load_config([tmp_path])


def test_config_error_on_the_command_line_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "archlint.toml").write_text('fail-on = "sometimes"\n')
    model = tmp_path / "m.onnx"
    model.write_bytes((FIXTURES / "AL002" / "good.onnx").read_bytes())
    proc = run_archlint("lint", str(model))
    assert proc.returncode == 2
    assert proc.stderr == (f"archlint: error: {(tmp_path / 'archlint.toml').resolve()}: fail-on: "
                           "must be one of error, warning, info, never; got string 'sometimes'\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("select = [\n")
    proc = run_archlint("lint", str(model), "--config", str(broken))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"archlint: error: {broken.resolve()}: invalid TOML: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_code_in_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "archlint.toml").write_text('select = ["AL9"]\n')
    model = tmp_path / "m.onnx.txt"
    model.write_text((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    result = invoke("lint", str(model))
    assert result.exit_code == 2
    assert result.stderr == (f"archlint: error: unknown rule code or prefix: AL9 (in "
                             f"{(tmp_path / 'archlint.toml').resolve()}) (see `archlint rules`)\n")


def test_config_severity_fail_on_and_select_reach_the_lint(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx.txt"
    model.write_text((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    config = tmp_path / "archlint.toml"
    config.write_text('select = ["AL201"]\n[severity]\nAL201 = "warning"\n')
    result = invoke("lint", str(model))
    assert result.exit_code == 0  # demoted to warning; fail-on defaults to error
    assert "AL201 warning:" in result.output
    config.write_text('select = ["AL201"]\nfail-on = "warning"\n[severity]\nAL201 = "warning"\n')
    assert invoke("lint", str(model)).exit_code == 1
    assert invoke("lint", str(model), "--fail-on", "error").exit_code == 0
    config.write_text('select = ["AL3"]\n')
    result = invoke("lint", str(model))
    assert (result.exit_code, "AL201" in result.output) == (0, False)
    assert invoke("lint", str(model), "--extend-select", "AL201").exit_code == 1


def test_severity_override_must_name_a_whole_code(tmp_path: Path) -> None:
    (tmp_path / "archlint.toml").write_text('[severity]\nAL2 = "info"\n')
    model = tmp_path / "m.onnx.txt"
    model.write_text((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    result = invoke("lint", str(model))
    assert result.exit_code == 2
    assert result.stderr == (f"archlint: error: {(tmp_path / 'archlint.toml').resolve()}: "
                             "severity.AL2: not a rule code (see `archlint rules`)\n")
