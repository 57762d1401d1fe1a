from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.runtime.providers import PACKAGE_HINTS

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class ProviderUnavailable(RuntimeRule):
    """A requested execution provider is not available in the installed onnxruntime.

    ## What it does
    Checks each provider named with ``--provider`` or ``--compare`` against
    ``onnxruntime.get_available_providers()`` before anything runs, and checks after session
    creation that onnxruntime really kept it (it silently drops a provider whose libraries
    fail to load, CUDA without cuDNN for instance). The finding names the package that ships
    the provider. Nothing runs in its place.

    ## Why is this bad?
    A check that quietly ran on the CPU says nothing about the GPU deployment: which LSTM
    nodes cuDNN accepts, how its numbers compare. Reporting a CPU run as a CUDA run would be
    a false pass.

    ## Example
    ``archlint run model.onnx --provider cuda`` with the CPU wheel (``onnxruntime``) reports
    that CUDAExecutionProvider needs onnxruntime-gpu. Install ``onnxruntime-gpu`` in place of
    ``onnxruntime`` (docs/runtime.md). fixtures/AL505/runtime.json asks for ROCm, which the
    usual wheels do not ship.
    """

    code = "AL505"
    name = "provider-unavailable"
    severity = Severity.ERROR
    summary = "A requested execution provider is not available; nothing ran in its place"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        available = ", ".join(run.available)
        for provider in run.unavailable:
            yield ctx.finding(
                self, None,
                f"execution provider {provider} is not available in the installed onnxruntime "
                f"(available: {available}); nothing was run in its place",
                expected=provider, actual=available,
                help=f"Install {PACKAGE_HINTS.get(provider, 'a build of onnxruntime with it')}, "
                "or choose another --provider (see docs/runtime.md).")
        main = run.main
        if main is None or main.status != "provider_dropped":
            return
        used = ", ".join(main.providers_used)
        for provider in main.dropped:
            yield ctx.finding(
                self, None,
                f"execution provider {provider} is installed but onnxruntime could not "
                f"initialise it and would have run on {used}; nothing was reported as run on it",
                expected=provider, actual=used,
                help="Check the provider's libraries (CUDA, cuDNN, TensorRT) match the "
                f"installed {PACKAGE_HINTS.get(provider, 'onnxruntime build')}.")
