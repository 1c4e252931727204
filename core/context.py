"""The runtime context: one object holding every shared connection of a process."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from core.settings import Settings
from core.stash import Stash

if TYPE_CHECKING:
    import valkey.asyncio as valkey_async
    from motor.motor_asyncio import AsyncIOMotorClient
    from odmantic import AIOEngine

    from core.events import EventBus
    from core.jobs import JobRunner
    from core.mail import Mailer
    from core.metrics import KeelMetrics
    from core.pluginhost import PluginHost
    from core.toggles import Switchboard

S = TypeVar("S", bound=msgspec.Struct)


@dataclass
class Keel:
    """What a hook, listener, job or route needs at run time.

    Built by :func:`core.runtime.open_keel`; routes reach it as ``request.app.state.keel``
    (or the ``keel`` dependency), jobs as ``ctx["keel"]``, hooks as their ``keel`` argument.
    """

    settings: Settings
    host: PluginHost
    mongo: AsyncIOMotorClient[Any]
    db: AIOEngine
    valkey: valkey_async.Valkey
    events: EventBus
    jobs: JobRunner
    mail: Mailer
    metrics: KeelMetrics
    """This process's metrics: ``keel.metrics.counter(name)`` and the like return the
    prometheus-client objects plugins declared with ``register_metrics``."""
    started_at: float = field(default_factory=time.time)
    runs_worker: bool = False
    """Whether this process runs the queue workers (``keel worker``, ``keel run``): set
    before plugins' ``on_startup``, for plugins with one background role per host."""
    stash: Stash = field(default_factory=Stash)
    """This process's runtime objects (clients, hubs, caches), under typed keys
    (:class:`core.stash.StashKey`); see :meth:`Stash.get_or_create`."""

    @functools.cached_property
    def toggles(self) -> Switchboard:
        """This process's live toggles (:mod:`core.toggles`): ``keel.toggles.active(name)``,
        ``keel.toggles.feature(plugin, name)``; in-memory reads. Cached on the instance:
        every plugin route reads it (its gate), so after the first call it is an attribute."""
        from core.toggles import get_switchboard  # noqa: PLC0415 - core.toggles imports this

        return get_switchboard(self)

    def key(self, *parts: str) -> str:
        """A Valkey key under this deployment's prefix: ``<prefix>:<part>:<part>``."""
        return ":".join((self.settings.valkey.key_prefix, *parts))


def settings_of(source: Keel | PluginHost | Settings, settings_type: type[S]) -> S:
    """The decoded ``[plugins.<name>]`` table of the plugin with this settings type.

    ``settings_of(keel, SearchSettings)`` is typed ``SearchSettings``. A plugin's modules
    ask by settings type, not by plugin class: ``plugin.py`` imports them (lazily), so
    importing the plugin class back would be an import cycle.

    Args:
        source: the runtime context or the plugin host (enabled plugins only), or the
            settings (every installed plugin's table, e.g. in a dev service's ``needed``).
        settings_type: the plugin's ``settings_type``.

    Raises:
        LookupError: no plugin has that settings type, or several do.
    """
    if isinstance(source, Settings):
        tables = source.plugins.tables
    else:
        host = source.host if isinstance(source, Keel) else source
        tables = {name: plugin.settings for name, plugin in host.plugins.items()}
    found = [(name, table) for name, table in tables.items() if isinstance(table, settings_type)]
    if len(found) != 1:
        names = ", ".join(repr(name) for name, _ in found)
        which = f"plugins {names} share" if found else "no plugin has"
        raise LookupError(f"{which} settings type {settings_type.__qualname__}")
    return found[0][1]
