"""Baselines match findings by identity; suppressions by path, node and model metadata."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from .conftest import FIXTURES, invoke, run_archlint

# Three AL201 defects: each LSTM's hidden_size disagrees with its R ([1, 12, 3] means H=3).
# {extra} lets a test add a node; {unrelated} is a node no finding points at.
MODEL = """
<ir_version: 8, opset_import: ["" : 17], producer_name: "archlint-test">
three_defects (float[seq, batch, 4] X, float[1, 12, 4] W, float[1, 12, 3] R,
               float[2, 12, 4] W2, float[2, 12, 3] R2)
    => (float[seq, 1, batch, 4] Y1, float[seq, 1, batch, 5] Y2, float[seq, 1, batch, 6] Y3,
        float[seq, batch, 4] Z{extra_out})
{{
  [{unrelated}] Z = Identity (X)
  [lstm_a] Y1 = LSTM <hidden_size: int = 4> (X, W, R)
  [lstm_b] Y2 = LSTM <hidden_size: int = 5> (X, W, R)
  [lstm_c] Y3 = LSTM <hidden_size: int = 6> (X, W, R)
{extra}}}
"""
# Only the rules these tests are about, so rules added later cannot change the counts.
ONLY = ("--select", "AL010,AL201,AL301")
# A fourth defect: direction says forward but W2/R2 hold two directions (AL301).
EXTRA = '  [lstm_d] Y4 = LSTM <hidden_size: int = 3, direction: string = "forward"> (X, W2, R2)\n'


def _write(path: Path, unrelated: str = "copy_x", extra: bool = False) -> Path:
    text = MODEL.format(unrelated=unrelated, extra=EXTRA if extra else "",
                        extra_out=", float[seq, 1, batch, 3] Y4" if extra else "")
    onnx.save_model(onnx.parser.parse_model(text), path)
    return path


def _findings(args: list[str]) -> list[dict[str, object]]:
    result = invoke("lint", *ONLY, *args, "--format", "json", "--quiet")
    report = json.loads(result.stdout)
    return [f for m in report["models"] for f in m["findings"]]


def test_baseline_reports_exactly_the_new_finding(tmp_path: Path) -> None:
    model = _write(tmp_path / "net.onnx")
    baseline = tmp_path / "baseline.json"
    written = invoke("lint", *ONLY, str(model), "--write-baseline", str(baseline))
    assert written.exit_code == 0, written.output
    recorded = json.loads(baseline.read_text())["findings"]
    assert sorted(e["node"] for e in recorded) == ["lstm_a", "lstm_b", "lstm_c"]

    # unchanged model: nothing new, exit 0, the summary says what the baseline hid
    again = invoke("lint", *ONLY, str(model), "--baseline", str(baseline))
    assert again.exit_code == 0, again.output
    assert "0 findings (0 errors, 0 warnings, 0 infos) in 1 model, 3 in baseline" in again.output

    # add one defect and rename the unrelated node: only the new defect is reported
    _write(model, unrelated="renamed_identity", extra=True)
    new = _findings([str(model), "--baseline", str(baseline)])
    assert [(f["code"], f["location"]["node"]) for f in new] == [("AL301", "lstm_d")]
    assert invoke("lint", *ONLY, str(model), "--baseline", str(baseline)).exit_code == 1
    # without the baseline all four are still there
    assert len(_findings([str(model)])) == 4


def test_renaming_a_flagged_node_is_a_new_finding(tmp_path: Path) -> None:
    # the node's name is its identity: a renamed defect is not silently accepted
    model = _write(tmp_path / "net.onnx")
    baseline = tmp_path / "baseline.json"
    invoke("lint", *ONLY, str(model), "--write-baseline", str(baseline))
    text = MODEL.format(unrelated="copy_x", extra="", extra_out="").replace("lstm_b", "lstm_bb")
    onnx.save_model(onnx.parser.parse_model(text), model)
    new = _findings([str(model), "--baseline", str(baseline)])
    assert [f["location"]["node"] for f in new] == ["lstm_bb"]


def test_bad_baseline_file_is_one_line_exit_2(tmp_path: Path) -> None:
    model = _write(tmp_path / "net.onnx")
    bogus = tmp_path / "baseline.json"
    bogus.write_text('{"findings": 3}')
    result = invoke("lint", *ONLY, str(model), "--baseline", str(bogus))
    assert result.exit_code == 2
    assert result.stderr == (f"archlint: error: {bogus}: not an archlint baseline (version 1; "
                             "write one with --write-baseline)\n")


def test_per_node_ignores_from_config(tmp_path: Path) -> None:
    model = _write(tmp_path / "net.onnx")
    (tmp_path / "archlint.toml").write_text('[per-node-ignores]\n"lstm_[ab]" = ["AL201"]\n')
    result = invoke("lint", *ONLY, str(model), "--format", "json", "--quiet")
    report = json.loads(result.stdout)
    assert [f["location"]["node"] for f in report["models"][0]["findings"]] == ["lstm_c"]
    assert report["summary"]["suppressed"] == 2
    assert report["models"][0]["suppressed"] == 2


def test_metadata_suppression_and_unused_suppression(tmp_path: Path) -> None:
    proto = onnx.parser.parse_model(MODEL.format(unrelated="u", extra="", extra_out=""))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "archlint:ignore", "al201, AL301"
    path = tmp_path / "annotated.onnx"
    onnx.save_model(proto, path)
    findings = _findings([str(path)])
    # AL201 is used (3 findings suppressed); AL301 suppressed nothing: AL010 says so
    assert [(f["code"], f["actual"]) for f in findings] == [
        ("AL010", "archlint:ignore = al201, AL301")
    ]
    assert "suppresses AL301" in str(findings[0]["message"])
    # ignoring AL010 (as with RUF100) silences the report on stale entries
    assert _findings([str(path), "--ignore", "AL010"]) == []
    # and so does the model's own entry naming AL010
    entry.value = "AL201, AL301, AL010"
    onnx.save_model(proto, path)
    result = invoke("lint", *ONLY, str(path), "--format", "json", "--quiet")
    report = json.loads(result.stdout)
    assert report["summary"]["findings"] == 0
    assert report["summary"]["suppressed"] == 4  # three AL201, one AL010 on AL301


def test_per_path_ignores_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    legacy = tmp_path / "models" / "legacy"
    legacy.mkdir(parents=True)
    _write(legacy / "old.onnx")
    _write(tmp_path / "models" / "new.onnx")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.archlint]\nfail-on = "never"\n\n'
        '[tool.archlint.per-path-ignores]\n"models/legacy/*" = ["AL2"]\n'
    )
    # the same models, named relative to three different working folders
    runs = {
        tmp_path: "models",
        tmp_path / "models": ".",
        legacy: "..",
    }
    for cwd, target in runs.items():
        proc = run_archlint("lint", *ONLY, target, "--format", "json", cwd=cwd)
        assert proc.returncode == 0, (cwd, proc.stderr)  # fail-on = never, from the config
        report = json.loads(proc.stdout)
        counts = {Path(m["path"]).name: len(m["findings"]) for m in report["models"]}
        assert counts == {"old.onnx": 0, "new.onnx": 3}, cwd
        assert report["summary"]["suppressed"] == 3


def test_unused_suppression_fixture_is_clean_when_codes_fire(tmp_path: Path) -> None:
    # the AL010 fixture's entry is stale only because nothing fires; on the AL201 bad model the
    # same entry is used and AL010 stays quiet
    proto = onnx.parser.parse_model((FIXTURES / "AL201" / "bad.onnx.txt").read_text())
    entry = proto.metadata_props.add()
    entry.key, entry.value = "archlint:ignore", "AL201"
    path = tmp_path / "m.onnx"
    onnx.save_model(proto, path)
    assert _findings([str(path)]) == []
