from __future__ import annotations

from archlint.api import RuntimeRule, Severity


class SessionCreationFailed(RuntimeRule):
    """onnxruntime refused to create an inference session for the model.

    ## What it does
    Creates a real ``onnxruntime.InferenceSession`` on the requested execution providers, in a
    child process, and reports onnxruntime's own message when it raises. The finding is placed
    on the node the message names (``Node (name)``, ``Name:'name'``), or on the only node of the
    op the failing kernel belongs to (``LSTMBase`` means the LSTM).

    ## Why is this bad?
    Session creation is where onnxruntime builds every kernel. An LSTM, GRU or RNN kernel checks
    its attributes there: ``layout`` must be 0 (the kernels only run seq-major,
    X ``[seq, batch, I]``), ``hidden_size`` must be set and > 0 (the gates i, o, f, c are
    each H wide), ``clip`` > 0, one activation per gate function and direction. A model that
    fails here does not load in any deployment using that runtime.

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
