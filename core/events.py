"""Typed domain events and the event bus.

An event is a frozen msgspec Struct with a class-level ``name`` (``<area>.<past-tense>``)::

    class BookingCreated(Event, frozen=True, kw_only=True):
        name: ClassVar[str] = "booking.created"
        booking_id: str

Plugins publish their event types through ``register_event_types`` (the catalog) and
subscribe with ``register_listeners``. ``await keel.events.emit(event)`` starts inline
listeners as background tasks and enqueues one ``core.deliver_event`` job per durable
listener; it never waits for a listener to run.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from core.errors import ConfigError, KeelError, PluginError
from core.records import Listener

if TYPE_CHECKING:
    from core.context import Keel
    from core.jobs import JobRunner
    from core.pluginhost import PluginHost

DONE_TTL_S = 7 * 24 * 3600
"""How long a durable delivery's done-marker is kept (redelivery within it is a no-op)."""
log = logging.getLogger("core.events")


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event. ``id`` identifies one occurrence (dedupe key of deliveries)."""

    name: ClassVar[str]
    id: str = msgspec.field(default_factory=_new_id)
    occurred_at: datetime = msgspec.field(default_factory=_now)


class UnknownEventError(KeelError, LookupError):
    """An event was emitted or delivered whose type is not in the catalog."""


def build_catalog(event_types: Sequence[tuple[str, Any]]) -> dict[str, type[Event]]:
    """Event name -> type, from ``(plugin, Event subclass)`` pairs.

    Raises:
        ConfigError: a type is not an :class:`Event` with a ``name``, or two types share
            a name.
    """
    problems: list[str] = []
    catalog: dict[str, type[Event]] = {}
    owners: dict[str, str] = {}
    for plugin, tp in event_types:
        name = getattr(tp, "name", None)
        if not (isinstance(tp, type) and issubclass(tp, Event) and isinstance(name, str)):
            problems.append(f"plugins.{plugin}: {tp!r} is not an Event type with a name")
        elif name in catalog and catalog[name] is not tp:
            problems.append(
                f"plugins.{plugin}: event name {name!r} is already used by plugin {owners[name]!r}"
            )
        else:
            catalog[name], owners[name] = tp, plugin
    if problems:
        raise ConfigError(problems)
    return catalog


def core_event_types() -> list[tuple[str, Any]]:
    """The core's own event types, as ``("core", type)`` pairs (none: every event is a
    plugin's, ``user.*`` the accounts plugin's)."""
    return []


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """The event catalog and the listeners, indexed (see :func:`build_subscriptions`)."""

    catalog: dict[str, type[Event]]
    by_event: dict[str, list[tuple[str, Listener]]]
    by_key: dict[tuple[str, str], Listener]


def build_subscriptions(host: PluginHost, queue_names: Sequence[str]) -> Subscriptions:
    """Validate and index the event types and listeners of the enabled plugins.

    A listener of an event no enabled plugin publishes is only a logged warning (its
    publisher may be disabled on purpose).

    Raises:
        ConfigError: duplicate event names, a durable listener on an unknown queue, or
            two listeners of one plugin with the same name.
    """
    catalog = build_catalog([*core_event_types(), *host.event_types()])
    by_event: dict[str, list[tuple[str, Listener]]] = defaultdict(list)
    by_key: dict[tuple[str, str], Listener] = {}
    problems: list[str] = []
    for plugin, listener in host.listeners():
        where = f"plugins.{plugin}: listener {listener.key!r}"
        if (plugin, listener.key) in by_key:
            problems.append(f"{where}: duplicate listener name (set Listener.name)")
        elif listener.mode == "durable" and listener.queue not in queue_names:
            problems.append(f"{where}: unknown queue {listener.queue!r}")
        else:
            by_key[plugin, listener.key] = listener
            by_event[listener.event].append((plugin, listener))
        if listener.event != "*" and listener.event not in catalog:
            log.warning("%s: no enabled plugin publishes event %r", where, listener.event)
    if problems:
        raise ConfigError(problems)
    return Subscriptions(catalog, dict(by_event), by_key)


class EventBus:
    """Delivers emitted events to the listeners of every enabled plugin.

    Args:
        host: the plugin host (event types and listeners).
        jobs: the job runner that carries durable deliveries.

    Raises:
        ConfigError: see :func:`build_subscriptions`.
    """

    def __init__(self, host: PluginHost, jobs: JobRunner) -> None:
        self._jobs = jobs
        subscriptions = build_subscriptions(host, jobs.settings.queue.names)
        self._catalog = subscriptions.catalog
        self._by_event = subscriptions.by_event
        self._by_key = subscriptions.by_key
        self._tasks: set[asyncio.Task[None]] = set()
        self._keel: Keel | None = None

    def bind(self, keel: Keel) -> None:
        """Attach the runtime context handed to listeners (done by ``open_keel``)."""
        self._keel = keel

    @property
    def keel(self) -> Keel:
        """The bound runtime context."""
        if self._keel is None:
            raise RuntimeError("EventBus is not bound to a Keel (use core.runtime.open_keel)")
        return self._keel

    def catalog(self) -> dict[str, type[Event]]:
        """Every published event type by name."""
        return dict(self._catalog)

    def listeners(self, event: str) -> list[tuple[str, Listener]]:
        """``(plugin, listener)`` pairs subscribed to ``event`` (including ``"*"``)."""
        return [*self._by_event.get(event, ()), *self._by_event.get("*", ())]

    @property
    def pending(self) -> int:
        """Inline listener tasks still running in this process."""
        return len(self._tasks)

    async def emit(self, event: Event) -> None:
        """Publish ``event`` to its listeners; returns without waiting for any to run.

        Durable deliveries are enqueued first (so an unreachable Valkey raises here and
        the caller knows the event was not published); inline listeners then start as
        background tasks whose errors are logged with the plugin's name.

        Raises:
            UnknownEventError: the event's type is not in the catalog.
            ServiceUnavailableError: Valkey did not take a durable delivery in time.
        """
        name = type(event).name
        known = self._catalog.get(name)
        if known is None or not isinstance(event, known):
            raise UnknownEventError(f"event {name!r} is not registered by an enabled plugin")
        subscribed = self.listeners(name)
        durable = [(p, lis) for p, lis in subscribed if lis.mode == "durable"]
        if durable:
            payload = msgspec.json.encode(event).decode()
            await asyncio.gather(
                *(self._enqueue(name, payload, event.id, p, lis) for p, lis in durable)
            )
        for plugin, listener in subscribed:
            if listener.mode == "inline":
                task = asyncio.create_task(self._run_inline(plugin, listener, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _enqueue(
        self, name: str, payload: str, event_id: str, plugin: str, listener: Listener
    ) -> None:
        await self._jobs.enqueue(
            "core.deliver_event",
            key=f"{event_id}:{plugin}.{listener.key}",
            queue=listener.queue,
            event=name,
            payload=payload,
            plugin=plugin,
            listener=listener.key,
        )

    async def _run_inline(self, plugin: str, listener: Listener, event: Event) -> None:
        try:
            await listener.handler(self.keel, event)
        except Exception:
            log.exception(
                "plugin %s: inline listener %r failed on event %s (id %s)",
                plugin,
                listener.key,
                type(event).name,
                event.id,
                extra={"plugin": plugin},
            )

    async def deliver(self, *, event: str, payload: str, plugin: str, listener: str) -> bool:
        """Run one durable delivery (the body of the ``core.deliver_event`` job).

        Returns:
            False when this (event id, listener) was already handled (a no-op), else True.

        Raises:
            UnknownEventError, PluginError: the event type or listener is not known in
                this process (a plugin enabled in the API but not in the worker).
            Exception: whatever the handler raised; the job is retried.
        """
        tp = self._catalog.get(event)
        if tp is None:
            raise UnknownEventError(f"event {event!r} is not registered by an enabled plugin")
        handler = self._by_key.get((plugin, listener))
        if handler is None:
            raise PluginError(plugin, f"no listener {listener!r} in this process")
        decoded = msgspec.json.decode(payload, type=tp)
        done = self.keel.key("events", "done", f"{decoded.id}:{plugin}.{listener}")
        if await self.keel.valkey.exists(done):
            return False
        await handler.handler(self.keel, decoded)
        await self.keel.valkey.set(done, "1", nx=True, ex=DONE_TTL_S)
        return True

    async def drain(self) -> None:
        """Wait until no inline listener task is running (including ones started meanwhile).

        Bound it with ``asyncio.timeout`` where needed.
        """
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace_s: float = 5.0) -> None:
        """Drain inline listeners for up to ``grace_s`` seconds, then cancel the rest."""
        try:
            async with asyncio.timeout(grace_s):
                await self.drain()
        except TimeoutError:
            log.warning("cancelling %d inline listener(s) still running", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def deliver_event(
    ctx: dict[str, Any], *, event: str, payload: str, plugin: str, listener: str
) -> bool:
    """The ``core.deliver_event`` job: one durable delivery (see :meth:`EventBus.deliver`)."""
    keel: Keel = ctx["keel"]
    return await keel.events.deliver(event=event, payload=payload, plugin=plugin, listener=listener)
