"""The version, in a module of its own so that nothing imports the package root for it."""

from __future__ import annotations

__version__ = "0.1.0"
