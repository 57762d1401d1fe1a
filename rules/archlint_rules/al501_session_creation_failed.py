from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.api import Finding, RuleContext, RuntimeRule, Severity
from archlint.runtime.collector import trim

if TYPE_CHECKING:
    from archlint.runtime.result import RuntimeRun


class SessionCreationFailed(RuntimeRule):
    """onnxruntime refused to create an inference session for the model.

    ## What it does
    Creates a real ``onnxruntime.InferenceSession`` on the requested execution providers, in a
    child process, and reports onnxruntime's own message when it raises. The finding is placed
    on the node the message names (``Node (name)``, ``Name:'name'``), or on the only node of the
    op the failing kernel belongs to (``LSTMBase`` means the LSTM). A model whose external data
    is unsafe or missing (AL002, AL003) is never handed to onnxruntime; that is reported here
    too, so a model that was not run cannot pass the runtime check silently; so is a model
    whose inputs cannot be drawn (a declared shape too large to allocate, a string input) and
    a run whose worker failed or whose results came back cut short. (A negative declared size
    is a free dim, as onnxruntime reads it, and is drawn like a dim without a name.)

    ## Why is this bad?
    Session creation is where onnxruntime builds every kernel. An LSTM, GRU or RNN kernel checks
    its attributes there: ``layout`` must be 0 (the kernels only run seq-major,
    X ``[seq, batch, I]``), ``hidden_size`` must be set and > 0 (the gates i, o, f, c are
    each H wide), ``clip`` > 0, one activation per gate function and direction. A model that
    fails here does not load in any deployment using that runtime. Below opset 7 the node is
    LSTM-1, GRU-1 or GRU-3, or RNN-1, for which onnxruntime registers no kernel at all (torch
    0.3's exports): the help says so, and ``--target onnxruntime-cpu`` finds it without a run.

    ## Example
    fixtures/AL501/bad.onnx.txt is an LSTM with ``layout = 1`` (batch-first). onnxruntime 1.32
    says ``Batchwise recurrent operations (layout == 1) are not supported``. Export seq-major
    (``batch_first=False``) or put a Transpose before and after the LSTM, as in
    fixtures/AL501/good.onnx.txt.
    """

    code = "AL501"
    name = "session-creation-failed"
    severity = Severity.ERROR
    summary = "onnxruntime cannot create a session for the model (runtime check)"

    def check_run(self, run: RuntimeRun, ctx: RuleContext) -> Iterator[Finding]:
        main = run.main
        if main is not None and main.status == "session_failed":
            yield ctx.finding(
                self, main.node,
                f"onnxruntime could not create a session on {main.on}: {trim(main.error)}",
                help=_no_kernel_help(main.error) or "Fix what onnxruntime names (see "
                "docs/runtime.md for the usual recurrent causes: layout=1, missing "
                "hidden_size, clip <= 0, activation counts).")
        if main is not None and main.status == "worker_error":  # not checked is not passed
            yield ctx.finding(
                self, None, f"the model was not run on {main.on}: {trim(main.error)}",
                help="Fix what the message names; a model that was not run has not passed.")
        if run.not_run is None:  # never handed to onnxruntime: it must not pass silently
            return
        if run.not_run.startswith("external data"):
            yield ctx.finding(
                self, None, f"onnxruntime was not given the model: {run.not_run}",
                expected="external data inside the model's folder", actual=run.not_run,
                help="Move the external data files next to the model (or below its folder) "
                "and point the locations at them; the static findings name each tensor.")
        elif run.not_run_needs:  # archlint's limit, not the model's fault
            flags = " ".join(f"--input '{name}=[...]'" for name in run.not_run_needs)
            yield ctx.finding(
                self, None, f"onnxruntime was not given the model: {run.not_run}",
                severity=Severity.WARNING,
                expected="inputs archlint can draw, or given values",
                actual=f"no values for {', '.join(repr(n) for n in run.not_run_needs)}",
                help=f"Give the text the model takes ({flags}, a .npy of strings, or "
                "--inputs FILE.npz) and run again; a model that was not run has not passed.")
        else:
            yield ctx.finding(
                self, None, f"onnxruntime was not given the model: {run.not_run}",
                help="Bind the symbolic dims to small values with --dim, or feed a model "
                "whose inputs are numeric tensors; a model that was not run has not passed.")


# onnxruntime's words for an op with no kernel at the version the model's opset gives it
_NO_KERNEL = re.compile(r"Could not find an implementation for (\w+)\((\d+)\)")
_RECURRENT = frozenset({"LSTM", "GRU", "RNN"})


# onnxruntime's words for an op no opset defines (a framework op left unconverted)
_NO_OP = re.compile(r"No Op registered for (\w+) with domain_version of (\d+)")


def _no_kernel_help(error: str) -> str | None:
    """What to do where onnxruntime registers no kernel for the op's version: a recurrent op
    below opset 7 (LSTM-1, GRU-1 and GRU-3, RNN-1: torch 0.3's and early onnxmltools'
    exports), which the onnxruntime-cpu target finds without a run; or no op at all of that
    name (tf2onnx leaves TensorFlow's CudnnRNNV3, a Keras LSTM, unconverted)."""
    unknown = _NO_OP.search(error)
    if unknown is not None:
        return (f"onnxruntime knows no op {unknown.group(1)} in the ONNX domain: an op of the "
                "exporting framework left unconverted (AL005 names it without a run, and "
                "what converts instead); re-export so that none remains.")
    found = _NO_KERNEL.search(error)
    if found is None:
        return None
    op, version = found.groups()
    if op in _RECURRENT and int(version) < 7:
        return (f"onnxruntime registers no kernel for {op}-{version}, the {op} of opsets "
                "below 7: export at opset 7 or later, or convert the model with "
                "onnx.version_converter.convert_version(model, 14); --target onnxruntime-cpu "
                "reports it without a run (AL601).")
    return (f"onnxruntime registers no kernel for {op}-{version} (the {op} of the model's "
            "opset) on this provider: export at another opset, or convert the model with "
            "onnx.version_converter.")
