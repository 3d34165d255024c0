"""gatecore: a plugin-based asyncio controller framework for smart border gates.

Plugin authors import :data:`hookimpl` from here and everything else from :mod:`gatecore.api`.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

PROJECT = "gatecore"

#: Marker for hook implementations: ``@hookimpl def gatecore_vote(...): ...``
hookimpl = pluggy.HookimplMarker(PROJECT)
#: Marker for hook specifications (used by :mod:`gatecore.hookspecs`).
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl", "hookspec"]
