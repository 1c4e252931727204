"""The per-process hub: local sockets, and the fan-out of frames to them.

A frame for other sockets goes through the bus (:mod:`plugins.realtime.bus`) to every
process; each hub hands it to its own matching sockets (:meth:`Hub.deliver`). The hub
also holds the process's presence glue (its lease, who came online or went offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Coroutine, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from core.stash import StashKey
from core.valkey import primary_url
from plugins.realtime.bus import SEP, channel, envelope
from plugins.realtime.connection import Connection
from plugins.realtime.contacts import FORGET
from plugins.realtime.maintenance import Maintenance
from plugins.realtime.presence import Presence, PresenceChanges, Transition, iso_seen
from plugins.realtime.protocol import BUS_LOST, CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN, frame
from plugins.realtime.service import RoomCache
from plugins.realtime.sockets import EVICT, SocketRegistry, evict
from plugins.realtime.subscriber import Subscriber
from plugins.realtime.tokens import REVOKE, TokenGuard
from plugins.realtime.typing_indicators import TypingTimer

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.realtime.dispatch import RegisteredEvent
    from plugins.realtime.settings import RealtimeSettings

log = logging.getLogger("plugins.realtime")
PUBSUB_HEALTH_S = 15
"""The pub/sub connection is PINGed when idle this long, to notice a dead server."""
MAX_WATCHED = 2000
"""Users one socket follows at most (``getOnlineStatus`` adds up to 100 per call)."""
CLOSE_WAIT_S = 5.0
"""How long shutdown waits for sockets to close."""


class Hub:
    """Local sockets of one process and the Valkey channel that links all processes.

    Args:
        keel: the runtime context.
        settings: the plugin settings.
        events: the client events (realtime's and other plugins'), by name.
    """

    def __init__(
        self, keel: Keel, settings: RealtimeSettings, events: dict[str, RegisteredEvent]
    ) -> None:
        self.keel = keel
        self.settings = settings
        self.events = events
        """Every client event this process handles, by name (see :mod:`.dispatch`)."""
        self.process_id = uuid.uuid4().hex[:16]
        self.channel = channel(keel)
        self.connections: set[Connection] = set()
        self.by_user: dict[str, set[Connection]] = defaultdict(set)
        self.by_room: dict[str, set[Connection]] = defaultdict(set)
        self.watchers: dict[str, set[Connection]] = defaultdict(set)
        self.presence = Presence(keel, self.process_id, settings.heartbeat_s)
        self.changes = PresenceChanges(self.presence, self.announce)
        self.sockets = SocketRegistry(keel, self.process_id, settings.heartbeat_s)
        """This process's side of ``max_sockets_per_user``, counted over every process."""
        self.subscriber: Subscriber | None = None
        """The channel's subscription (from the first socket on)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._start_lock = asyncio.Lock()
        self._all_closed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self.rooms = RoomCache(settings.room_cache_size)
        self.touched: OrderedDict[str, float] = OrderedDict()
        """Room id -> when this process last updated its ``last_message_at``."""
        self.scripts: dict[str, Any] = {}
        """Lua scripts registered on the shared client, by name."""
        self.closing = False
        self.typing_timer = TypingTimer(self)
        """Ends typing indicators at their deadline."""
        self.guard = TokenGuard(self)
        """Closes sockets at their token's expiry or their session's revocation."""

    # -- lifecycle -----------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Start on the first socket: processes that never hold one (``keel worker``)
        neither subscribe to the channel nor hold a presence lease."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.start()
                self._started = True

    async def start(self) -> None:
        """Subscribe to the channel and start the maintenance loop."""
        timeout = self.keel.settings.valkey.timeout_s
        self.subscriber = Subscriber(
            self.keel.settings.valkey.url,
            self.channel,
            self.deliver,
            timeout_s=timeout,
            health_s=PUBSUB_HEALTH_S,
            name=f"keel-realtime-{self.process_id}",
            on_lost=self._bus_lost,
            resolve=partial(primary_url, self.keel.settings.valkey),
        )
        self._tasks.append(asyncio.create_task(self.subscriber.run(), name="realtime:listen"))
        maintain = Maintenance(self).run()
        self._tasks.append(asyncio.create_task(maintain, name="realtime:maintain"))
        self._tasks.append(asyncio.create_task(self.changes.run(), name="realtime:presence"))
        async with asyncio.timeout(timeout + 5):
            await self.subscriber.subscribed.wait()
        await self.sockets.renew()
        if self.feature("presence"):
            await self.presence.renew()

    def feature(self, name: str) -> bool:
        """Whether realtime feature ``name`` (``typing``, ``presence``, ...) is on now: the
        operator's live switch (``keel toggles set realtime.<name> off``), in memory."""
        return self.keel.toggles.feature("realtime", name)

    def disconnect_all(self, code: int, reason: str) -> None:
        """Close every socket of this process (the plugin was switched off live)."""
        for conn in list(self.connections):
            conn.close(code, reason)

    def _bus_lost(self) -> None:
        """The channel's subscription broke (Valkey restarted or unreachable): frames sent
        to this process's sockets meanwhile are lost, so close them with 1013 (try again);
        clients reconnect once Valkey answers and read what they missed from the history."""
        if self.closing:
            return
        if self.connections:
            log.warning("realtime: closing %d socket(s): pub/sub lost", len(self.connections))
        for conn in list(self.connections):
            conn.close(CLOSE_TRY_AGAIN, BUS_LOST)

    async def close(self) -> None:
        """Close every socket with 1001, leave the presence cluster, stop the loops."""
        if self.closing:
            return
        self.closing = True
        for conn in list(self.connections):
            conn.close(CLOSE_GOING_AWAY, "server shutting down")
        if self.connections:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await self._all_closed.wait()
        if self.feature("presence") and self._started:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await self.changes.idle()
                now = time.time()
                await self.announce([(u, False, now) for u in await self.presence.release()])
        if self._started:
            with contextlib.suppress(Exception):
                await self.sockets.release()  # our sockets stop counting, all at once
        self.typing_timer.close()
        self.guard.close()
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        self._started = False

    # -- local registry ------------------------------------------------------------------

    async def add(self, conn: Connection) -> None:
        """Register an authenticated socket; announce its user when they came online."""
        self.connections.add(conn)
        first = not self.by_user[conn.user.id]
        self.by_user[conn.user.id].add(conn)
        self.guard.watch(conn)
        if first and self.feature("presence"):
            self.changes.push(conn.user.id, True)
        if self.subscriber is not None and not self.subscriber.subscribed.is_set():
            conn.close(CLOSE_TRY_AGAIN, BUS_LOST)  # it would miss frames until resubscribed

    async def remove(self, conn: Connection) -> None:
        """Forget a closed socket; announce its user when they went offline everywhere."""
        self.connections.discard(conn)
        for room in conn.rooms:
            _discard(self.by_room, room, conn)
        for user_id in conn.watching:
            _discard(self.watchers, user_id, conn)
        user_id = conn.user.id
        _discard(self.by_user, user_id, conn)
        if self.closing:  # release() uncounts them all
            if not self.connections:
                self._all_closed.set()
            return
        try:
            await self.sockets.closed(user_id, conn.id)
        except Exception:  # the member goes with the key's TTL, or with the process
            log.warning("realtime: socket count of user %s not updated", user_id)
        if user_id not in self.by_user and self.feature("presence"):
            self.changes.push(user_id, False)

    def join(self, conn: Connection, room_id: str) -> None:
        """Let ``conn`` receive the room's typing indicators."""
        conn.rooms.add(room_id)
        self.by_room[room_id].add(conn)

    def leave(self, conn: Connection, room_id: str) -> None:
        """Stop ``conn`` receiving the room's typing indicators."""
        conn.rooms.discard(room_id)
        _discard(self.by_room, room_id, conn)

    @staticmethod
    def know(conn: Connection, user_ids: Iterable[str]) -> None:
        """Remember that ``conn``'s user shares a room with ``user_ids`` (bounded)."""
        for user_id in user_ids:
            if len(conn.contacts) >= MAX_WATCHED:
                return  # later ones are looked up when used
            if user_id != conn.user.id:
                conn.contacts.add(user_id)

    def watch(self, conn: Connection, user_ids: Iterable[str]) -> None:
        """Let ``conn`` receive ``userOnline`` / ``userOffline`` of ``user_ids``."""
        for user_id in user_ids:
            if len(conn.watching) >= MAX_WATCHED:
                return  # bounded memory per socket; the oldest stay followed
            if user_id != conn.user.id and user_id not in conn.watching:
                conn.watching.add(user_id)
                self.watchers[user_id].add(conn)

    # -- fan-out ---------------------------------------------------------------------------

    async def publish(
        self, kind: str, targets: Iterable[str], text: str, exclude: str = ""
    ) -> None:
        """Deliver ``text`` to the matching sockets of every process (see :mod:`.bus`)."""
        await self.keel.valkey.publish(self.channel, envelope(kind, targets, text, exclude))

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task the hub keeps a reference to (errors are logged)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("realtime: background work failed", exc_info=exc)

    async def to_users(self, user_ids: Iterable[str], text: str, exclude: str = "") -> None:
        """Deliver ``text`` to every socket of ``user_ids`` (except ``exclude``'s)."""
        await self.publish("u", user_ids, text, exclude)

    async def announce(self, transitions: list[Transition]) -> None:
        """Publish ``userOnline`` / ``userOffline`` to the sockets following each user."""
        if not transitions:
            return
        pipe = self.keel.valkey.pipeline(transaction=False)
        for user_id, online, when in transitions:
            if online:
                text = frame("userOnline", {"userId": user_id})
            else:
                text = frame("userOffline", {"userId": user_id, "lastSeen": iso_seen(when)})
            pipe.publish(self.channel, envelope("p", [user_id], text))
        await pipe.execute()

    def deliver(self, payload: bytes) -> None:
        """Hand one envelope to the local sockets it addresses."""
        kind, exclude_raw, targets, raw = payload.split(SEP, 3)
        if kind == _REVOKE:
            self.guard.revoke(targets.decode(), raw)
            return
        if kind == _EVICT:
            evict(self.by_user.get(targets.decode(), ()), self.sockets, raw.decode())
            return
        if kind == _FORGET:
            for user_id in targets.decode().split(","):
                self.forget(user_id, raw.decode())
            return
        index = self.by_user if kind == b"u" else self.by_room if kind == b"r" else self.watchers
        exclude = exclude_raw.decode()
        text = raw.decode()
        for target in targets.decode().split(","):
            for conn in index.get(target, ()):
                if conn.user.id != exclude:
                    conn.push(text)

    def forget(self, user_id: str, other_id: str) -> None:
        """A block: ``user_id``'s sockets stop following ``other_id`` and knowing them."""
        for conn in self.by_user.get(user_id, ()):
            conn.contacts.discard(other_id)
            if other_id in conn.watching:
                conn.watching.discard(other_id)
                _discard(self.watchers, other_id, conn)

    # -- presence --------------------------------------------------------------------------

    async def renew_lease(self) -> None:
        """Renew this process's presence lease; announce the users of dead processes."""
        if await self.presence.renew():
            # our lease had lapsed (a stall) and another process cleaned up after us
            for user_id in list(self.by_user):
                self.changes.push(user_id, True)
        now = time.time()
        await self.announce([(u, False, now) for u in await self.presence.reap()])


_REVOKE = REVOKE.encode()
_FORGET = FORGET.encode()
_EVICT = EVICT.encode()


def _discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> None:
    found = index.get(key)
    if found is not None:
        found.discard(conn)
        if not found:
            del index[key]


HUB = StashKey[Hub]("realtime.hub")
"""``keel.stash`` key of the process's :class:`Hub` (set by the plugin's ``on_startup``)."""


def hub_of(keel: Keel) -> Hub:
    """The process's hub (created by the plugin's ``on_startup``)."""
    hub = keel.stash.get(HUB, None)
    if hub is None:
        raise RuntimeError("the realtime plugin is not started in this process")
    return hub
