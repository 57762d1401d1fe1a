"""The runtime check: real inference with onnxruntime, in a child process.

This is the only package that imports onnxruntime, and only lazily: importing
``archlint.runtime`` (or ``archlint.runtime.settings``) never loads it, so a static lint stays
free of it. onnxruntime itself is imported in the child (``python -m archlint.runtime.worker``)
and, in the parent, only to list the providers the installed wheel offers.

``check.run_model(ctx, settings)`` returns a typed :class:`~archlint.runtime.result.RuntimeRun`;
the runtime rules (``RuntimeRule.check_run``) judge it. This package names no rule code and
never calls back into the engine or the registry.
"""

from __future__ import annotations

from archlint.runtime.settings import DEFAULT_SETTINGS, RuntimeSettings

__all__ = ["DEFAULT_SETTINGS", "RuntimeSettings"]
