"""archlint: a static analyser for exported neural-network graphs.

Data flows one way: load -> graph -> recurrent views -> rules -> findings -> report -> reporter.
The public surface for rule plugins is :mod:`archlint.api`; for scripts and notebooks,
``archlint.lint(...)``, ``archlint.params(...)`` and ``archlint.fix(...)``
(docs/python-api.md). They are loaded on first use, so ``import archlint.api`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archlint._version import __version__

if TYPE_CHECKING:
    from archlint.fixes import FixResult
    from archlint.python_api import ParamsResult, fix, lint, params
    from archlint.report import ModelReport, Report

__all__ = ["FixResult", "ModelReport", "ParamsResult", "Report", "__version__", "fix", "lint",
           "params"]

_LAZY = {"lint": "archlint.python_api", "fix": "archlint.python_api",
         "FixResult": "archlint.fixes", "params": "archlint.python_api",
         "ParamsResult": "archlint.python_api", "Report": "archlint.report",
         "ModelReport": "archlint.report"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archlint' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
