"""The former name of :mod:`plugins.realtime.hookspecs`, for plugins that import it.

``docs/plugins.md`` and plugins written before the rename use this path; new code
imports :mod:`plugins.realtime.hookspecs`. The hook's spec itself lives only there.
"""

from plugins.realtime.hookspecs import WsContext, WsError, WsEvent

__all__ = ["WsContext", "WsError", "WsEvent"]
