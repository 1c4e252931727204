"""Presence in Valkey: which processes hold a user's sockets, with per-process leases.

Keys (under ``<prefix>:realtime:``):

- ``procs``: sorted set, process id -> lease expiry (epoch seconds). Each process renews
  its lease every half heartbeat; a lease runs one heartbeat.
- ``online:<user>``: set of the process ids holding at least one socket of the user.
- ``users:<process>``: set of the users a process holds (to clean up after it).
- ``seen:<user>``: when the user last went offline (epoch seconds; 30 days TTL).

A user is online while a process with a live lease is in ``online:<user>``. A process
that finds an expired lease removes the dead process from its users' sets (``ZREM``
elects exactly one cleaner) and announces the users that went offline, so a crashed
process's users are offline everywhere within 1.5 heartbeats.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.valkey import awaited

if TYPE_CHECKING:
    from core.context import Keel

SEEN_TTL_S = 30 * 86_400

_ADD = """
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])
"""
_REMOVE = """
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[1])
local left = redis.call('SCARD', KEYS[1])
if left == 0 then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4]) end
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

    async def add(self, user_id: str) -> bool:
        """Record that this process holds a socket of the user; True when they came online."""
        keys = [self._key("online", user_id), self._key("users", self.process_id)]
        count = await self._add(keys=keys, args=[self.process_id, user_id])
        return int(count) == 1

    async def remove(self, user_id: str, process_id: str | None = None) -> bool:
        """Record that a process holds no socket of the user; True when they went offline."""
        pid = process_id or self.process_id
        keys = [self._key("online", user_id), self._key("users", pid), self._key("seen", user_id)]
        left = await self._remove(keys=keys, args=[pid, user_id, f"{time.time():.3f}", SEEN_TTL_S])
        return int(left) == 0

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
            if not int(await awaited(self.valkey.zrem(self._procs, pid))):
                continue  # another process is cleaning up after it
            users_key = self._key("users", pid)
            for member in await awaited(self.valkey.smembers(users_key)):
                user_id = member.decode() if isinstance(member, bytes) else str(member)
                if await self.remove(user_id, pid):
                    offline.append(user_id)
            await awaited(self.valkey.delete(users_key))
        return offline

    async def release(self) -> list[str]:
        """Leave the cluster (shutdown): drop the lease; the users that went offline."""
        await awaited(self.valkey.zrem(self._procs, self.process_id))
        offline: list[str] = []
        users_key = self._key("users", self.process_id)
        for member in await awaited(self.valkey.smembers(users_key)):
            user_id = member.decode() if isinstance(member, bytes) else str(member)
            if await self.remove(user_id):
                offline.append(user_id)
        await awaited(self.valkey.delete(users_key))
        return offline

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


def _iso(stamp: bytes | str | None) -> str | None:
    if stamp is None:
        return None
    value = float(stamp.decode() if isinstance(stamp, bytes) else stamp)
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
