"""keel core: the small Litestar host that every feature plugs into.

Plugins import what they need from here::

    from core import Plugin, hookimpl, Listener, Job, Schedule
    from core import Stash, StashKey, settings_of   # per-process state, typed settings
"""

from core.context import settings_of
from core.events import Event
from core.plugin import Plugin, hookimpl, hookspec
from core.records import (
    DevService,
    HealthCheck,
    Job,
    Listener,
    Metric,
    RootRoutes,
    Schedule,
    Toggle,
)
from core.stash import Stash, StashKey

__all__ = [
    "DevService",
    "Event",
    "HealthCheck",
    "Job",
    "Listener",
    "Metric",
    "Plugin",
    "RootRoutes",
    "Schedule",
    "Stash",
    "StashKey",
    "Toggle",
    "hookimpl",
    "hookspec",
    "settings_of",
]
