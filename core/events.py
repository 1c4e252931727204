"""Typed domain events and the event bus.

An event is a frozen msgspec Struct with a class-level ``name`` (``<area>.<past-tense>``)::

    class BookingCreated(Event, frozen=True, kw_only=True):
        name: ClassVar[str] = "booking.created"
        booking_id: str

        def aggregate(self) -> str:          # optional: events of one booking keep order
            return f"booking:{self.booking_id}"

Plugins publish their event types through ``register_event_types`` (the catalog) and
subscribe with ``register_listeners``. ``await keel.events.emit(event)`` writes the event
to the MongoDB outbox (:mod:`core.outbox`) and starts inline listeners as background
tasks; the relay (:mod:`core.relay`) later enqueues one ``core.deliver_event`` job per
durable listener. ``emit(event, session=s)`` writes the outbox entry in the caller's
transaction instead, so the event exists exactly when the change does; inside
``async with keel.events.staged(s)`` the inline listeners then wait for the commit.
Nothing here needs Valkey: an emit succeeds whenever MongoDB does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from pymongo.errors import DuplicateKeyError

from core import outbox
from core._event import Event
from core._subscriptions import (
    Subscriptions,
    UnknownEventError,
    build_catalog,
    build_subscriptions,
    core_event_types,
)
from core.errors import PluginError
from core.records import Listener
from core.toggles._held import hold

__all__ = [
    "DONE_TTL_S",
    "Event",
    "EventBus",
    "Subscriptions",
    "UnknownEventError",
    "build_catalog",
    "build_subscriptions",
    "core_event_types",
    "deliver_event",
]

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel
    from core.jobs import JobRunner
    from core.pluginhost import PluginHost

DONE_TTL_S = 7 * 24 * 3600
"""How long a durable delivery's done-marker is kept (redelivery within it is a no-op)."""
ORDER_POLL_S = 0.02
log = logging.getLogger("core.events")


class EventBus:
    """Delivers emitted events to the listeners of every enabled plugin.

    Args:
        host: the plugin host (event types and listeners).
        jobs: the job runner that carries durable deliveries.

    Raises:
        ConfigError: see :func:`build_subscriptions`.
    """

    def __init__(self, host: PluginHost, jobs: JobRunner) -> None:
        subscriptions = build_subscriptions(host, jobs.settings.queue.names)
        self._catalog = subscriptions.catalog
        self._by_event = subscriptions.by_event
        self._by_key = subscriptions.by_key
        self._tasks: set[asyncio.Task[None]] = set()
        self._keel: Keel | None = None
        self._staged: dict[int, list[Event]] = {}
        self._wake: asyncio.Event | None = None

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

    async def emit(self, event: Event, *, session: AsyncIOMotorClientSession | None = None) -> None:
        """Publish ``event``: store it in the outbox, then start its inline listeners.

        Without ``session`` the outbox entry is one insert, done now: call it right after
        your write (a crash between the two loses the event). With ``session`` the entry
        is written in that session's transaction, so it commits or aborts with your
        change; under :meth:`staged` the inline listeners wait for the commit, otherwise
        they start now. Durable listeners run later, as ``core.deliver_event`` jobs
        enqueued by the relay. Returns without waiting for any listener.

        Emitting an event (the same ``id``) again is a no-op.

        Raises:
            UnknownEventError: the event's type is not in the catalog.
            pymongo.errors.PyMongoError: MongoDB did not take the entry (nothing stored).
        """
        name = type(event).name
        known = self._catalog.get(name)
        if known is None or not isinstance(event, known):
            raise UnknownEventError(f"event {name!r} is not registered by an enabled plugin")
        subscribed = self.listeners(name)
        doc = outbox.entry(
            event_id=event.id,
            name=name,
            payload=msgspec.json.encode(event).decode(),
            aggregate=event.aggregate(),
            deliveries=[(p, lis.key, lis.queue) for p, lis in subscribed if lis.mode == "durable"],
        )
        try:
            await outbox.write(self.keel, doc, session)
        except DuplicateKeyError:
            if session is not None:
                raise  # the transaction is aborted: let its owner retry or fail
            log.debug("event %s (id %s) was already emitted", name, event.id)
            return
        self.keel.metrics.core.events_emitted.labels(name).inc()
        staged = self._staged.get(id(session)) if session is not None else None
        if staged is not None:
            staged.append(event)
            return
        if doc["relayed_at"] is None:
            self.nudge()
        self._start_inline(event)

    @contextlib.asynccontextmanager
    async def staged(self, session: AsyncIOMotorClientSession) -> AsyncIterator[None]:
        """Hold back the inline listeners of events emitted with ``session`` until the
        block exits without an error (wrap the whole transaction, commit included)::

            async with await keel.mongo.start_session() as s, keel.events.staged(s):
                async with s.start_transaction():
                    await things.insert_one(doc, session=s)
                    await keel.events.emit(ThingCreated(...), session=s)

        On an error (an aborted or failed commit) they are dropped with the transaction.
        """
        events: list[Event] = []
        self._staged[id(session)] = events
        try:
            yield
        finally:
            del self._staged[id(session)]
        if events:
            self.nudge()
        for event in events:
            self._start_inline(event)

    def nudge(self) -> None:
        """Wake this process's relay (new outbox entries)."""
        if self._wake is not None:
            self._wake.set()

    async def wait_nudge(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for :meth:`nudge` (the relay's idle wait)."""
        if self._wake is None:
            self._wake = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        self._wake.clear()

    async def busy(self) -> bool:
        """Inline listeners running here, or outbox entries waiting for the relay."""
        return self.pending > 0 or await outbox.has_unrelayed(self.keel)

    def _start_inline(self, event: Event) -> None:
        toggles = self.keel.toggles
        for plugin, listener in self.listeners(type(event).name):
            if listener.mode == "inline" and toggles.active(plugin):  # off: not delivered
                task = asyncio.create_task(self._run_inline(plugin, listener, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run_inline(self, plugin: str, listener: Listener, event: Event) -> None:
        deliveries = self.keel.metrics.core.event_deliveries
        try:
            await listener.handler(self.keel, event)
            deliveries.labels(f"{plugin}.{listener.key}", "inline", "ok").inc()
        except Exception:
            deliveries.labels(f"{plugin}.{listener.key}", "inline", "error").inc()
            log.exception(
                "plugin %s: inline listener %r failed on event %s (id %s)",
                plugin,
                listener.key,
                type(event).name,
                event.id,
                extra={"plugin": plugin},
            )

    async def deliver(
        self,
        *,
        event: str,
        payload: str,
        plugin: str,
        listener: str,
        after: str | None = None,
        recheck: bool = False,
    ) -> bool:
        """Run one durable delivery (the body of the ``core.deliver_event`` job).

        A delivery is done once its listener returned: the outbox entry records it in
        MongoDB (what survives Valkey losing its data, see :mod:`core.relay`), then a
        done-marker in Valkey (the fast check). A delivery whose marker exists is a no-op.

        Args:
            event, payload: the event's name and JSON.
            plugin, listener: whose listener.
            after: the id of the same aggregate's previous event delivered to this
                listener; waited for up to ``[events] order_wait_s``.
            recheck: the relay handed the entry out again after Valkey lost its data (and
                the done-markers with it): look for the MongoDB record too.

        Returns:
            False when this (event id, listener) was already handled (a no-op), or when
            the listener's plugin is switched off (the delivery is held, see
            :mod:`core.toggles._held`, and runs when it is on again); else True.

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
        deliveries = self.keel.metrics.core.event_deliveries
        if await self._is_done(decoded.id, plugin, listener, recheck=recheck):
            deliveries.labels(f"{plugin}.{listener}", "durable", "duplicate").inc()
            return False
        if not self.keel.toggles.active(plugin):  # switched off live: kept until it is on
            await hold(
                self.keel,
                event_id=decoded.id,
                event=event,
                payload=payload,
                plugin=plugin,
                listener=listener,
                queue=handler.queue,
                after=after,
            )
            deliveries.labels(f"{plugin}.{listener}", "durable", "held").inc()
            return False
        if after:
            await self._wait_for(after, plugin, listener, decoded, recheck=recheck)
        try:
            await handler.handler(self.keel, decoded)
        except Exception:
            deliveries.labels(f"{plugin}.{listener}", "durable", "error").inc()
            raise
        deliveries.labels(f"{plugin}.{listener}", "durable", "ok").inc()
        await outbox.mark_delivered(self.keel, decoded.id, f"{plugin}.{listener}")
        done = self._done_key(decoded.id, plugin, listener)
        await self.keel.valkey.set(done, "1", nx=True, ex=DONE_TTL_S)
        return True

    def _done_key(self, event_id: str, plugin: str, listener: str) -> str:
        return self.keel.key("events", "done", f"{event_id}:{plugin}.{listener}")

    async def _is_done(self, event_id: str, plugin: str, listener: str, *, recheck: bool) -> bool:
        key = self._done_key(event_id, plugin, listener)
        if await self.keel.valkey.exists(key):
            return True
        if not recheck or not await outbox.delivered(self.keel, event_id, f"{plugin}.{listener}"):
            return False
        await self.keel.valkey.set(key, "1", nx=True, ex=DONE_TTL_S)  # the lost marker, again
        return True

    async def _wait_for(
        self, after: str, plugin: str, listener: str, event: Event, *, recheck: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.keel.settings.events.order_wait_s
        while not await self._is_done(after, plugin, listener, recheck=recheck):
            if loop.time() >= deadline:
                log.warning(
                    "plugin %s: listener %r gets event %s (id %s) before its predecessor %s",
                    plugin,
                    listener,
                    type(event).name,
                    event.id,
                    after,
                    extra={"plugin": plugin},
                )
                return
            await asyncio.sleep(ORDER_POLL_S)

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
    ctx: dict[str, Any],
    *,
    event: str,
    payload: str,
    plugin: str,
    listener: str,
    after: str | None = None,
    recheck: bool = False,
) -> bool:
    """The ``core.deliver_event`` job: one durable delivery (see :meth:`EventBus.deliver`)."""
    keel: Keel = ctx["keel"]
    return await keel.events.deliver(
        event=event,
        payload=payload,
        plugin=plugin,
        listener=listener,
        after=after,
        recheck=recheck,
    )
