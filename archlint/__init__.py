"""archlint: a static analyser for exported neural-network graphs.

Data flows one way: load -> graph -> recurrent views -> rules -> findings -> report -> reporter.
The public surface for rule plugins is :mod:`archlint.api`.
"""

from __future__ import annotations

__version__ = "0.1.0"
