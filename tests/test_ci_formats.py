"""SARIF (validated against the official OASIS 2.1.0 schema), JUnit XML and GitHub annotations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from archlint.engine import Linter
from archlint.registry import load_rules, select_rules

from .conftest import FIXTURES, REPO, invoke

SARIF_SCHEMA = json.loads((REPO / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text())
AL201_BAD = str(FIXTURES / "AL201" / "bad.onnx.txt")
AL301_BAD = str(FIXTURES / "AL301" / "bad.onnx.txt")
CLEAN = str(FIXTURES / "AL201" / "good.onnx.txt")
# the rules these tests are about; rules added later must not change the expected documents
ONLY = ("--select", "AL000,AL010,AL201,AL301")


def sarif(*args: str) -> dict[str, Any]:
    """Run `archlint lint --format sarif` and validate what it printed against the schema."""
    result = invoke("lint", *ONLY, *args, "--format", "sarif")
    document: dict[str, Any] = json.loads(result.stdout)
    validator = jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return document


def test_schema_copy_is_the_official_one() -> None:
    assert SARIF_SCHEMA["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert SARIF_SCHEMA["title"] == (
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema")
    assert SARIF_SCHEMA["id"].endswith("/sarif-schema-2.1.0.json")


def test_the_validator_rejects_a_broken_sarif() -> None:
    # the check above can fail: a result without its message is refused by the schema
    document = sarif(AL201_BAD)
    del document["runs"][0]["results"][0]["message"]
    validator = jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA)
    assert list(validator.iter_errors(document))


def test_single_model_results_locations_and_fingerprints() -> None:
    document = sarif(AL201_BAD)
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["AL201"]
    assert rules[0]["name"] == "hidden-size-mismatch"
    assert "## Why is this bad?" in rules[0]["help"]["markdown"]
    assert rules[0]["defaultConfiguration"]["level"] == "error"
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["AL201", "AL201"]
    first = results[0]
    assert first["level"] == "error"
    assert first["ruleIndex"] == 0
    location = first["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == Path(AL201_BAD).as_uri()
    # no line region on a model: GitHub would hash "line 1" of it (tests/test_ci_truth.py)
    assert "region" not in location["physicalLocation"]
    assert [(ll["name"], ll.get("fullyQualifiedName")) for ll in location["logicalLocations"]] == [
        ("main", "main"), ("lstm_0", "main/lstm_0")]
    assert first["properties"]["expected"] == "3" and first["properties"]["actual"] == "4"
    # the fingerprint is Finding.fingerprint(), the identity the baseline uses too
    rules = select_rules(load_rules().rules, ONLY[1].split(","))
    report = Linter(rules).lint_file(Path(AL201_BAD), AL201_BAD)
    assert [r["partialFingerprints"]["archlint/v1"] for r in results] == [
        f.fingerprint() for f in report.findings]
    assert [r["partialFingerprints"]["primaryLocationLineHash"] for r in results] == [
        f.fingerprint() for f in report.findings]


def test_multi_model_run_is_one_run_with_every_fired_rule(tmp_path: Path) -> None:
    unreadable = tmp_path / "broken.onnx"
    unreadable.write_bytes(b"not a model")
    document = sarif(AL201_BAD, AL301_BAD, CLEAN, str(FIXTURES / "AL010" / "bad.onnx.txt"))
    (run,) = document["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["AL010", "AL201", "AL301"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 2)[-2]
            for r in run["results"]}
    assert uris == {"AL010", "AL201", "AL301"}
    assert len(run["results"]) == 6
    for result in run["results"]:
        rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
    assert {r["level"] for r in run["results"]} == {"error", "warning"}
    # an unreadable model becomes a notification, and the SARIF stays valid
    document = sarif(AL201_BAD, str(unreadable))
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "broken.onnx" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_relative_paths_stay_relative_for_code_scanning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    document = sarif("fixtures/AL201/bad.onnx.txt")
    uri = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"]["uri"]
    assert uri == "fixtures/AL201/bad.onnx.txt"


def test_clean_sarif_has_no_results() -> None:
    document = sarif(CLEAN)
    assert document["runs"][0]["results"] == []
    assert document["runs"][0]["tool"]["driver"]["rules"] == []


def test_junit_one_suite_per_model_one_case_per_rule_or_finding(tmp_path: Path) -> None:
    unreadable = tmp_path / "broken.onnx"
    unreadable.write_bytes(b"not a model")
    result = invoke("lint", AL201_BAD, CLEAN, str(unreadable), "--format", "junit",
                    "--select", "AL201,AL301")
    root = ET.fromstring(result.stdout)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [AL201_BAD, CLEAN, str(unreadable)]
    bad, clean, broken = suites
    assert [c.get("name") for c in bad.findall("testcase")] == [
        "AL201 hidden-size-mismatch: main/lstm_0",
        "AL201 hidden-size-mismatch: main/gru_0",
        "AL301 direction-mismatch",
    ]
    assert (bad.get("tests"), bad.get("failures"), bad.get("errors")) == ("3", "2", "0")
    failure = bad.find("testcase/failure")
    assert failure is not None and failure.get("type") == "error"
    assert "attribute hidden_size: expected 3, found 4" in (failure.text or "")
    assert (clean.get("tests"), clean.get("failures")) == ("2", "0")
    assert broken.find("testcase/error") is not None and broken.get("errors") == "1"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")


def test_github_annotations() -> None:
    result = invoke("lint", *ONLY, AL201_BAD, "--format", "github", "--quiet")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0] == (
        f"::error file={AL201_BAD},title=AL201 hidden-size-mismatch::main/lstm_0: LSTM 'lstm_0' "
        "has hidden_size=4 but W and R imply hidden_size=3%0Aattribute hidden_size: expected 3, "
        "found 4%0Ahelp: Set hidden_size=3 (the value R's shape implies), or re-export the "
        "weights for the intended size."
    )
    assert result.stderr == ""  # --quiet: no summary line


def test_junit_reads_back_with_an_independent_parser(tmp_path: Path) -> None:
    from junitparser import Error, Failure, JUnitXml

    out = tmp_path / "archlint-junit.xml"
    unreadable = tmp_path / "broken.onnx"
    unreadable.write_bytes(b"not a model")
    invoke("lint", AL201_BAD, AL301_BAD, str(unreadable), "--select", "AL201,AL301",
           "--format", "junit", "-o", str(out))
    suites = list(JUnitXml.fromfile(str(out)))
    assert [(s.name, s.tests, s.failures, s.errors) for s in suites] == [
        (AL201_BAD, 3, 2, 0), (AL301_BAD, 3, 2, 0), (str(unreadable), 1, 0, 1)]
    failing = [(case.name, type(case.result[0]).__name__, case.result[0].type)
               for case in suites[1] if case.result]
    assert failing == [("AL301 direction-mismatch: main/lstm_fw", "Failure", "error"),
                       ("AL301 direction-mismatch: main/rnn_bi", "Failure", "error")]
    (load,) = list(suites[2])
    assert isinstance(load.result[0], Error) and "not an ONNX model" in load.result[0].message
    assert all(isinstance(r, Failure) for s in suites[:2] for c in s for r in c.result)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "github"])
def test_machine_formats_keep_the_summary_on_stderr(fmt: str) -> None:
    result = invoke("lint", *ONLY, AL201_BAD, "--format", fmt)
    assert result.exit_code == 1
    assert result.stderr.startswith("2 findings (2 errors, 0 warnings, 0 infos) in 1 model")
    assert "2 findings" not in result.stdout
