from __future__ import annotations

from archlint.api import RuntimeRule, Severity


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
