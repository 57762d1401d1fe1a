"""JUnit XML, as GitLab, Jenkins and most CI dashboards read it.

One ``<testsuite>`` per model. Each rule that ran is a test case: a clean rule passes once; a
rule that fired gives one failing test case per finding (so the dashboard lists every node),
named ``CODE name: graph/node``. A selected rule that did not run (a runtime rule without
``--runtime``, a target rule without a target) is a ``<skipped>`` case saying why: it never
passes. A model that cannot be read is one test case with ``<error>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from archlint.render_names import safe_text
from archlint.report import ModelReport, Report
from archlint.reporters.text import format_finding


def _case(suite: ET.Element, model: str, name: str, seconds: float = 0.0) -> ET.Element:
    model = safe_text(model)
    return ET.SubElement(suite, "testcase", name=safe_text(name), classname=model, file=model,
                         time=f"{seconds:.3f}")


def _suite(report: Report, model: ModelReport) -> tuple[ET.Element, int, int, int, int]:
    # XML 1.0 cannot hold most C0 characters even escaped: every name goes through safe_text
    suite = ET.Element("testsuite", name=safe_text(model.path))
    tests = failures = errors = skipped = 0
    if model.error is not None:
        case = _case(suite, model.path, "load model")
        error = safe_text(model.error)
        ET.SubElement(case, "error", message=error, type="unreadable").text = error
        tests, errors = 1, 1
    else:
        for rule in report.ran:
            fired = [f for f in model.findings if f.code == rule.code]
            if not fired:
                _case(suite, model.path, f"{rule.code} {rule.name}")
                tests += 1
            for finding in fired:
                loc = finding.location
                node = loc.node_label()
                where = f"{loc.graph}/{node}" if node else loc.graph
                case = _case(suite, model.path, f"{rule.code} {rule.name}: {where}")
                failure = ET.SubElement(case, "failure", message=safe_text(finding.message),
                                        type=finding.severity.value)
                failure.text = format_finding(finding)
                tests, failures = tests + 1, failures + 1
        names = {rule.code: rule.name for rule in report.rules}
        for code, why in report.not_run:
            case = _case(suite, model.path, f"{code} {names.get(code, '')}".rstrip())
            ET.SubElement(case, "skipped", message=why)
            tests, skipped = tests + 1, skipped + 1
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{model.elapsed_s:.3f}")
    return suite, tests, failures, errors, skipped


def render(report: Report) -> str:
    root = ET.Element("testsuites", name="archlint")
    totals = [0, 0, 0, 0]
    for model in report.models:
        suite, *counts = _suite(report, model)
        root.append(suite)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    root.set("skipped", str(totals[3]))
    root.set("time", f"{report.elapsed_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
