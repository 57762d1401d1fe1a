"""onnx's message classes (``ModelProto``, ``GraphProto``...) without the onnx package, in the CLI.

``import onnx`` costs a small lint three quarters of its start: the package imports numpy,
protobuf's JSON support, its helpers, checker, composer and parser (about 65 ms of the 100 ms
it takes on the development machine, docs/performance.md). A lint of a typical export uses
none of that: it parses the model with onnx's generated classes and reads their fields. Those
classes live in onnx's generated module ``onnx/onnx_ml_pb2.py``, which needs protobuf alone.

So the console script (:func:`prefer_standalone`, called before any command module is
imported) has that module loaded from onnx's own folder by itself, under its own name
``onnx.onnx_ml_pb2``. Whatever imports the onnx package afterwards (a value decoded with
``onnx.numpy_helper``, a text model parsed, a rule plugin) gets the very same module: the
package's ``from .onnx_ml_pb2 import *`` finds it in ``sys.modules``. One set of classes either
way, so ``isinstance`` checks and the descriptor pool agree, and ``onnx.onnx_ml_pb2`` is set on
the package as a plain import of it would set it (:class:`_AttachOnImport`).

Anywhere else (the Python API, the pytest plugin: processes that are not archlint's own), and
whenever the standalone load fails, the classes come from ``import onnx`` as usual.

Attributes are resolved on first use (PEP 562), so importing this module costs nothing.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec

    from onnx import (
        AttributeProto,
        FunctionProto,
        GraphProto,
        ModelProto,
        NodeProto,
        OperatorSetIdProto,
        TensorProto,
        TypeProto,
        ValueInfoProto,
    )

__all__ = ["AttributeProto", "FunctionProto", "GraphProto", "ModelProto", "NodeProto",
           "OperatorSetIdProto", "TensorProto", "TypeProto", "ValueInfoProto", "onnx_version",
           "prefer_standalone", "tensor_value_info"]

_MODULE = "onnx.onnx_ml_pb2"
_CLASSES = frozenset(__all__) - {"onnx_version", "prefer_standalone", "tensor_value_info"}
_standalone = False


def prefer_standalone() -> None:
    """Load the classes without the onnx package when first asked for (the console script)."""
    global _standalone
    _standalone = True


def _protos() -> ModuleType:
    module = sys.modules.get(_MODULE)
    if module is not None:
        return module
    if _standalone and "onnx" not in sys.modules:
        loaded = _load_standalone()
        if loaded is not None:
            return loaded
    import onnx.onnx_ml_pb2

    return onnx.onnx_ml_pb2


def _load_standalone() -> ModuleType | None:
    """onnx/onnx_ml_pb2.py, executed as ``onnx.onnx_ml_pb2`` without its package; None (the
    caller imports the package) when onnx's folder or that file cannot be found or run."""
    import importlib.util
    from pathlib import Path

    try:
        package = importlib.util.find_spec("onnx")  # finds the folder; imports nothing
        folders = None if package is None else package.submodule_search_locations
        if not folders:
            return None
        source = Path(next(iter(folders))) / "onnx_ml_pb2.py"
        spec = importlib.util.spec_from_file_location(_MODULE, source)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_MODULE]
            raise
    except Exception:  # an onnx laid out otherwise: the package's own import decides
        return None
    sys.meta_path.insert(0, _AttachOnImport())
    return module


class _AttachOnImport:
    """When the onnx package itself is imported, ``onnx.onnx_ml_pb2`` is set on it before its
    ``__init__`` runs, as the import of a submodule sets it on its package (a submodule found
    in ``sys.modules`` is not set there by the import system). A lookup that imports nothing
    (``importlib.util.find_spec("onnx")``, which archlint/inference.py makes to find onnx's
    folder) leaves it in place; it removes itself once the package is executed."""

    def __init__(self) -> None:
        self._asking = False  # the lookup below goes through sys.meta_path, this one too

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "onnx" or self._asking:
            return None
        import importlib.util

        self._asking = True
        try:
            spec = importlib.util.find_spec(name)  # the other finders' answer, as it would be
        finally:
            self._asking = False
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            protos = sys.modules.get(_MODULE)
            if protos is not None:
                module.onnx_ml_pb2 = protos  # type: ignore[attr-defined]
            run(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


@lru_cache(maxsize=1)
def onnx_version() -> str:
    """``onnx.__version__``, without importing the package when it is not imported yet (onnx
    reads it from the distribution's metadata, as this does)."""
    package = sys.modules.get("onnx")
    if package is not None:
        return str(package.__version__)
    import importlib.metadata

    for distribution in ("onnx", "onnx-weekly"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def tensor_value_info(name: str, dtype: int,
                      shape: Sequence[int | str | None] | None) -> ValueInfoProto:
    """``onnx.helper.make_tensor_value_info(name, dtype, shape)``, message for message (an int
    is a dim_value, a str a dim_param, None an unknown dim; a shape of None leaves the shape
    out, an empty one declares a scalar), without the helper's package: the one message
    archlint makes (a skeleton's inputs, a function body's typed formal inputs)."""
    info = _protos().ValueInfoProto(name=name)
    tensor_type = info.type.tensor_type
    tensor_type.elem_type = dtype
    if shape is not None:
        tensor_type.shape.SetInParent()
        for d in shape:
            dim = tensor_type.shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            elif isinstance(d, str):
                dim.dim_param = d
            elif d is not None:
                raise ValueError(f"Invalid item in shape: {d}. Needs to be of int or str.")
    result: ValueInfoProto = info
    return result


def __getattr__(name: str) -> Any:
    if name not in _CLASSES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_protos(), name)
    globals()[name] = value  # the next lookup is a plain global
    return value
