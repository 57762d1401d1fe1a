from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, Location, Rule, RuleContext, Severity

if TYPE_CHECKING:
    from archlint.loader import ExternalDataRef


class ExternalDataMissing(Rule):
    """An external-data file named by the model's initializers does not exist.

    ## What it does
    Checks, without opening it, that the file each external-data ``location`` names exists in
    the model's folder. One finding per missing file, naming the initializers it holds (a
    model saved with ``save_as_external_data`` keeps every weight in one file: one missing file
    is one problem, not one per weight).

    ## Why is this bad?
    A static lint reads only shapes, so the model still lints; but every runtime will fail to
    load it (onnxruntime refuses the session: ``External data path validation failed for
    initializer: W ... External data path does not exist``), so this is an error, not a
    warning. This usually means the ``.data`` file was not copied or committed with the
    model (Git LFS pointers and artifact uploads that keep only ``*.onnx`` are the usual
    causes). Where the data file is fetched only at deployment on purpose, lower it with
    ``[tool.archlint.severity] AL003 = "warning"`` (and ``--fail-on error`` keeps the exit
    code 0); ``--fail-on warning`` then still fails on it.

    ## Example
    ``model.onnx`` references ``model.onnx.data`` but only ``model.onnx`` was uploaded:
    ``AL003 ... external-data file 'model.onnx.data' is missing; it holds 3 initializers: 'W',
    'R', 'B'``. Ship the data file beside the model.
    """

    code = "AL003"
    name = "external-data-missing"
    severity = Severity.ERROR
    summary = "External-data file named by an initializer does not exist"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        by_file: dict[str, list[ExternalDataRef]] = {}
        for ref in ctx.model.external_data:
            if ref.problem == "data file is missing":
                by_file.setdefault(ref.location, []).append(ref)
        for location, refs in by_file.items():
            names = ", ".join(repr(ref.tensor) for ref in refs)
            held = (f"initializer {names}" if len(refs) == 1
                    else f"{len(refs)} initializers: {names}")
            yield Finding(
                code=self.code, name=self.name, severity=self.severity,
                message=f"external-data file {location!r} is missing; it holds {held}; "
                "runtimes will fail to load this model",
                location=Location(model=ctx.model.display_path, graph=refs[0].graph,
                                  tensor=refs[0].tensor, attribute="external_data.location"),
                expected="an existing file in the model's folder",
                actual=f"{location} (missing)",
                help="Copy the external-data file next to the model, or re-save the model "
                "with its weights inline.",
            )
