"""Which exporter wrote a model's graph, seen through onnxruntime's quantizer.

Rules and the parameter count read an exporter's conventions from ``producer_name``
(PyTorch's one stored bias, keras2onnx's backward order and its Masking, a Keras model's
shared batch). onnxruntime's quantizer (``quantize_dynamic``, ``quantize_static``) overwrites
``producer_name`` with its own, ``onnx.quantize``, and keeps the rest: the graph's name and the
model's domain, which the exporters set, still say who wrote the graph:

- tf2onnx names every graph ``tf2onnx`` (its ``process_tf_graph``);
- keras2onnx 1.7 and later (also onnxmltools' and WinMLTools' ``convert_keras``, which call
  it) set the model's domain to ``onnxmltools``; keras2onnx 1.6 and older wrote ``onnx``,
  which tells nothing;
- torch.onnx names the graph ``main_graph`` (torch 1.13 and later, classic and dynamo),
  ``torch_jit`` (1.9 to 1.12) or ``torch-jit-export`` (older);
- jax2onnx names it ``jax_model`` unless told otherwise.

Anything else stays as its producer_name says: a guess is never made from node names.
"""

from __future__ import annotations

QUANTIZER = "onnx.quantize"
_TORCH_GRAPHS = frozenset({"main_graph", "torch_jit", "torch-jit-export"})


def exporter_name(producer_name: str, graph_name: str, domain: str) -> str:
    """The producer_name of the exporter that wrote the graph: ``producer_name`` itself,
    unless onnxruntime's quantizer overwrote it and the graph's name or the model's domain
    names the exporter (``tf2onnx``, ``keras2onnx``, ``pytorch``, ``jax2onnx``)."""
    if producer_name != QUANTIZER:
        return producer_name
    if graph_name == "tf2onnx":
        return "tf2onnx"
    if domain == "onnxmltools":
        return "keras2onnx"
    if graph_name in _TORCH_GRAPHS:
        return "pytorch"
    if graph_name == "jax_model":
        return "jax2onnx"
    return producer_name


def exporter_label(producer_name: str, exporter: str) -> str:
    """How a finding names the exporter: the producer_name, and the exporter behind the
    quantizer where they differ (``'onnx.quantize' (quantized from a keras2onnx export)``)."""
    if exporter == producer_name:
        return repr(producer_name)
    return f"{producer_name!r} (quantized from a {exporter} export)"


def is_keras_exporter(exporter: str) -> bool:
    """tf2onnx or keras2onnx (``WinMLTools using keras2onnx`` included): the exporters of
    Keras models."""
    name = exporter.strip().lower()
    return name == "tf2onnx" or "keras2onnx" in name


def is_torch_exporter(exporter: str) -> bool:
    """torch.onnx (classic or dynamo), whose conventions the PyTorch column follows where
    the file shows the module (one stored bias, zero biases, a GRU without
    linear_before_reset)."""
    return exporter.lower() == "pytorch"
