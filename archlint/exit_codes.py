"""The exit codes every front end shares: 0 clean, 1 findings at or above fail-on, 2 a usage
error or an unreadable input. Apart so the CLI can name them without importing the engine."""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE"]

EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2
