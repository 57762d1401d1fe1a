from __future__ import annotations

from collections.abc import Iterator

from archlint.api import Finding, Location, Rule, RuleContext, Severity


class ExternalDataMissing(Rule):
    """An initializer's external-data file does not exist.

    ## What it does
    Checks, without opening it, that the file each external-data ``location`` names exists in
    the model's folder.

    ## Why is this bad?
    A static lint reads only shapes, so the model still lints; but every runtime will fail to
    load it (onnxruntime refuses the session: ``External data path validation failed for
    initializer: W ... External data path does not exist``), so this is an error, not a
    warning. This usually means the ``.data`` file was not copied or committed with the
    model (Git LFS pointers and artifact uploads that keep only ``*.onnx`` are the usual
    causes).

    ## Example
    ``model.onnx`` references ``model.onnx.data`` but only ``model.onnx`` was uploaded:
    ``AL003 ... data file 'model.onnx.data' is missing``. Ship the data file beside the model.
    """

    code = "AL003"
    name = "external-data-missing"
    severity = Severity.ERROR
    summary = "External-data file named by an initializer does not exist"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for ref in ctx.model.external_data:
            if ref.problem != "data file is missing":
                continue
            yield Finding(
                code=self.code, name=self.name, severity=self.severity,
                message=f"initializer {ref.tensor!r}: external-data file {ref.location!r} "
                "is missing; runtimes will fail to load this model",
                location=Location(model=ctx.model.display_path, graph=ref.graph,
                                  tensor=ref.tensor, attribute="external_data.location"),
                expected="an existing file in the model's folder",
                actual=f"{ref.location} (missing)",
                help="Copy the external-data file next to the model, or re-save the model "
                "with its weights inline.",
            )
