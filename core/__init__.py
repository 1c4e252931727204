"""keel core: the small Litestar host that every feature plugs into.

Plugins import what they need from here::

    from core import Plugin, hookimpl, Listener, Job, Schedule
"""

from core.events import Event
from core.plugin import Plugin, hookimpl, hookspec
from core.records import DevService, HealthCheck, Job, Listener, RootRoutes, Schedule

__all__ = [
    "DevService",
    "Event",
    "HealthCheck",
    "Job",
    "Listener",
    "Plugin",
    "RootRoutes",
    "Schedule",
    "hookimpl",
    "hookspec",
]
