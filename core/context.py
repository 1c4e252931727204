"""The runtime context: one object holding every shared connection of a process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import valkey.asyncio as valkey_async
    from motor.motor_asyncio import AsyncIOMotorClient
    from odmantic import AIOEngine

    from core.events import EventBus
    from core.jobs import JobRunner
    from core.mail import Mailer
    from core.pluginhost import PluginHost
    from core.settings import Settings


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
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)
    """Per-plugin runtime objects, keyed by plugin name (set in ``on_startup``)."""

    def key(self, *parts: str) -> str:
        """A Valkey key under this deployment's prefix: ``<prefix>:<part>:<part>``."""
        return ":".join((self.settings.valkey.key_prefix, *parts))
