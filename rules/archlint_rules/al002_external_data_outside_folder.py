from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Location, Rule, RuleContext, Severity


class ExternalDataOutsideFolder(Rule):
    """An external-data location escapes the model's folder.

    ## What it does
    Checks the ``location`` of every initializer stored as external data. A location that is
    absolute, contains ``..``, or resolves (through symlinks too) outside the folder that holds
    the model is refused. archlint never opens such a file.

    ## Why is this bad?
    ONNX loaders resolve external data relative to the model file. A location that escapes the
    folder lets a model from outside read arbitrary files (``../../etc/passwd``), the path
    traversal behind onnx's external-data CVEs (CVE-2022-25882, CVE-2024-27318). A legitimate
    export always writes its data next to the model.

    ## Example
    An initializer with ``location = "../../etc/passwd"`` is reported as
    ``AL002 ... location contains '..'``. Re-save the model with
    ``onnx.save_model(model, path, save_as_external_data=True, location="weights.bin")``.
    """

    code = "AL002"
    name = "external-data-outside-folder"
    severity = Severity.ERROR
    summary = "External-data location is absolute or escapes the model's folder (never opened)"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for ref in ctx.model.external_data:
            if ref.problem is None or ref.problem == "data file is missing":
                continue
            yield Finding(
                code=self.code, name=self.name, severity=self.severity,
                message=f"{ref.kind} {ref.tensor!r} has external-data location "
                f"{ref.location!r}: {ref.problem}; archlint did not open it",
                location=Location(model=ctx.model.display_path, graph=ref.graph,
                                  tensor=ref.tensor, attribute="external_data.location"),
                expected="a relative path inside the model's folder",
                actual=ref.location,
                help="Re-save the model with its data file next to it "
                "(onnx.save_model(..., save_as_external_data=True, location='NAME.data')).",
            )
