"""Execution-provider names: short names users type, full names onnxruntime wants, and which
package ships each one. Pure data; nothing here imports onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CPU", "FULL_NAMES", "PACKAGE_HINTS", "ProviderError", "resolve_provider",
           "short_name"]

CPU = "CPUExecutionProvider"

FULL_NAMES: Mapping[str, str] = MappingProxyType({
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
})

PACKAGE_HINTS: Mapping[str, str] = MappingProxyType({
    "CUDAExecutionProvider": "onnxruntime-gpu (pip install onnxruntime-gpu, in place of "
                             "onnxruntime; needs CUDA 12 and cuDNN 9)",
    "TensorrtExecutionProvider": "onnxruntime-gpu (pip install onnxruntime-gpu) plus the "
                                 "TensorRT libraries (pip install tensorrt)",
    "ROCMExecutionProvider": "onnxruntime-rocm (AMD's ROCm builds of onnxruntime)",
    "MIGraphXExecutionProvider": "onnxruntime-migraphx (AMD's ROCm builds of onnxruntime)",
    "OpenVINOExecutionProvider": "onnxruntime-openvino (pip install onnxruntime-openvino)",
    "DmlExecutionProvider": "onnxruntime-directml (pip install onnxruntime-directml; Windows)",
    "CoreMLExecutionProvider": "onnxruntime on macOS (the macOS wheel ships CoreML)",
    "QNNExecutionProvider": "onnxruntime-qnn (pip install onnxruntime-qnn; Windows on Arm)",
    "XnnpackExecutionProvider": "a build of onnxruntime with --use_xnnpack",
})


class ProviderError(ValueError):
    """A provider name that is neither a known short name nor a full ``...ExecutionProvider``."""


def resolve_provider(name: str) -> str:
    """``cuda`` -> ``CUDAExecutionProvider``; full names pass through, case-insensitively."""
    key = name.strip()
    if key.lower() in FULL_NAMES:
        return FULL_NAMES[key.lower()]
    for full in set(FULL_NAMES.values()):
        if full.lower() == key.lower():
            return full
    if key.endswith("ExecutionProvider"):
        return key  # a provider we do not know by name; onnxruntime will judge it
    choices = ", ".join(sorted(FULL_NAMES))
    raise ProviderError(f"unknown execution provider {name!r} (use one of {choices}, "
                        "or a full name such as CUDAExecutionProvider)")


def short_name(full: str) -> str:
    for short, long in FULL_NAMES.items():
        if long == full:
            return short
    return full
