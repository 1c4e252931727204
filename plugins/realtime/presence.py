"""Presence in Valkey: which processes hold a user's sockets, with per-process leases.

Keys (under ``<prefix>:realtime:``):

- ``procs``: sorted set, process id -> lease expiry (epoch seconds). Each process renews
  its lease every half heartbeat; a lease runs one heartbeat.
- ``online:<user>``: set of the process ids holding at least one socket of the user.
- ``users:<process>``: set of the users a process holds (to clean up after it).
- ``seen:<user>``: when the user last went offline (epoch seconds; 30 days TTL).
- ``present``: set of the users whose ``online:<user>`` is not empty, kept by the same
  scripts that change those sets, so counting who is online is one ``SCARD``.

A user is online while a process with a live lease is in ``online:<user>``. A process
that finds an expired lease removes the dead process from its users' sets (``ZREM``
elects exactly one cleaner) and announces the users that went offline, so a crashed
process's users are offline everywhere within 1.5 heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.valkey import awaited

if TYPE_CHECKING:
    from core.context import Keel

SEEN_TTL_S = 30 * 86_400
log = logging.getLogger("plugins.realtime")
Transition = tuple[str, bool, float]
"""``(user id, online, when)``: a user came online or went offline at ``when`` (epoch s)."""

_ADD = """
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return redis.call('SCARD', KEYS[1])
"""
_REMOVE = """
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[1])
local left = redis.call('SCARD', KEYS[1])
if left == 0 then
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  redis.call('SREM', KEYS[4], ARGV[2])
end
return left
"""


class Presence:
    """One process's view of the cluster-wide presence state.

    Args:
        keel: the runtime context (Valkey client, key prefix).
        process_id: this process's unique id.
        lease_s: how long a lease lasts without renewal.
    """

    def __init__(self, keel: Keel, process_id: str, lease_s: float) -> None:
        self.valkey = keel.valkey
        self.process_id = process_id
        self.lease_s = lease_s
        self._keel = keel
        self._procs = self._key("procs")
        self._add = keel.valkey.register_script(_ADD)
        self._remove = keel.valkey.register_script(_REMOVE)

    def _key(self, *parts: str) -> str:
        return self._keel.key("realtime", *parts)

    async def apply(self, changes: list[tuple[str, bool]]) -> list[tuple[str, bool, float]]:
        """Apply ``(user, this process now holds a socket of them)`` changes in order.

        One pipelined round trip for the whole batch, so a burst of connects or
        disconnects costs one Valkey connection, not one each.

        Returns:
            ``(user, online, when)`` for each user who came online or went offline.
        """
        now = time.time()
        pipe = self.valkey.pipeline(transaction=False)
        for user_id, online in changes:
            await self._queue_change(pipe, user_id, online, self.process_id, now)
        counts = await pipe.execute()
        return [
            (user_id, online, now)
            for (user_id, online), count in zip(changes, counts, strict=True)
            if int(count) == (1 if online else 0)
        ]

    async def _queue_change(
        self, pipe: Any, user_id: str, online: bool, pid: str, now: float
    ) -> None:
        users = self._key("users", pid)
        if online:
            keys = [self._key("online", user_id), users, self._key("present")]
            await self._add(keys=keys, args=[pid, user_id], client=pipe)
        else:
            keys = [
                self._key("online", user_id),
                users,
                self._key("seen", user_id),
                self._key("present"),
            ]
            await self._remove(
                keys=keys, args=[pid, user_id, f"{now:.3f}", SEEN_TTL_S], client=pipe
            )

    async def _drop(self, pid: str) -> list[str]:
        """Remove process ``pid`` from its users' sets; the users who went offline."""
        users_key = self._key("users", pid)
        members = [
            m.decode() if isinstance(m, bytes) else str(m)
            for m in await awaited(self.valkey.smembers(users_key))
        ]
        now = time.time()
        pipe = self.valkey.pipeline(transaction=False)
        for user_id in members:
            await self._queue_change(pipe, user_id, False, pid, now)
        pipe.delete(users_key)
        counts = await pipe.execute()
        return [u for u, count in zip(members, counts, strict=False) if int(count) == 0]

    async def renew(self) -> bool:
        """Renew this process's lease; True when it had expired and been cleaned up."""
        added = await awaited(
            self.valkey.zadd(self._procs, {self.process_id: time.time() + self.lease_s})
        )
        return int(added) == 1

    async def reap(self) -> list[str]:
        """Clean up after processes whose lease expired; the users that went offline."""
        dead = await awaited(self.valkey.zrangebyscore(self._procs, "-inf", time.time()))
        offline: list[str] = []
        for raw in dead:
            pid = raw.decode() if isinstance(raw, bytes) else str(raw)
            if int(await awaited(self.valkey.zrem(self._procs, pid))):  # one cleaner wins
                offline += await self._drop(pid)
        return offline

    async def release(self) -> list[str]:
        """Leave the cluster (shutdown): drop the lease; the users that went offline."""
        await awaited(self.valkey.zrem(self._procs, self.process_id))
        return await self._drop(self.process_id)

    async def status(self, user_ids: list[str]) -> list[dict[str, Any]]:
        """``{userId, online, lastSeen}`` for each id (lastSeen: ISO time or None)."""
        pipe = self.valkey.pipeline(transaction=False)
        pipe.zrangebyscore(self._procs, time.time(), "+inf")
        for user_id in user_ids:
            pipe.smembers(self._key("online", user_id))
        pipe.mget([self._key("seen", u) for u in user_ids])
        live_raw, *sets, seen = await pipe.execute()
        live = set(live_raw)
        return [
            {
                "userId": user_id,
                "online": bool(live & set(members)),
                "lastSeen": _iso(stamp),
            }
            for user_id, members, stamp in zip(user_ids, sets, seen, strict=True)
        ]


class PresenceChanges:
    """This process's presence changes, applied in order and in batches by one task.

    A burst of (dis)connects becomes a few pipelined round trips on one Valkey
    connection instead of one connection per socket.

    Args:
        presence: the cluster-wide state.
        announce: awaited with the transitions of each batch.
    """

    def __init__(
        self, presence: Presence, announce: Callable[[list[Transition]], Awaitable[None]]
    ) -> None:
        self.presence = presence
        self.announce = announce
        self._pending: list[tuple[str, bool]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def push(self, user_id: str, online: bool) -> None:
        """Queue: this process now holds (True) or no longer holds (False) the user."""
        self._pending.append((user_id, online))
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Apply queued changes until cancelled (errors are logged, the batch dropped)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                await self.announce(await self.presence.apply(batch))
            except Exception:
                log.exception("realtime: %d presence change(s) failed", len(batch))
            if not self._pending:
                self._idle.set()

    async def idle(self) -> None:
        """Wait until every queued change is applied."""
        await self._idle.wait()


async def user_online(keel: Keel, user_id: str) -> bool:
    """Whether ``user_id`` has a socket on a process whose lease is live (two round trips,
    whatever the size of the cluster: the user's few process ids, then their leases)."""
    valkey = keel.valkey
    pids = list(await awaited(valkey.smembers(keel.key("realtime", "online", user_id))))
    if not pids:
        return False
    leases = await awaited(valkey.zmscore(keel.key("realtime", "procs"), pids))
    now = time.time()
    return any(lease is not None and float(lease) > now for lease in leases)


async def online_count(keel: Keel) -> int:
    """How many users are online on any process (one ``SCARD``).

    A crashed process's users still count until a live process reaps its lease (within
    1.5 heartbeats), exactly as they stay online for the ``userOffline`` announcement.
    """
    return int(await awaited(keel.valkey.scard(keel.key("realtime", "present"))))


def iso_seen(stamp: float) -> str:
    """A last-seen time (epoch seconds) as ISO 8601 UTC."""
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def _iso(stamp: bytes | str | None) -> str | None:
    if stamp is None:
        return None
    value = float(stamp.decode() if isinstance(stamp, bytes) else stamp)
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
