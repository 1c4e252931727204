"""Open sockets per user over every process: ``max_sockets_per_user`` holds cluster-wide.

Keys (under ``<prefix>:realtime:``):

- ``sockets:<user>``: sorted set of the user's open sockets, ``<process>:<socket>`` ->
  when it opened (epoch seconds). Expires :data:`SOCKETS_TTL_S` after the user's last
  opened socket, so nothing outlives a cluster that went away.
- ``socket_procs``: sorted set, process id -> lease expiry. Each process holding
  sockets renews its lease every half heartbeat; a lease runs one heartbeat.

A new socket is added and the set read in one transaction (``MULTI``), so concurrent
opens on several processes see each other. Members of a process whose lease lapsed (it
died without closing them) are dropped there and then and not counted. Beyond the limit
the oldest live sockets are removed and closed with 4409: on this process at once, on
another through the bus (kind :data:`EVICT`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from core.valkey import awaited
from plugins.realtime.protocol import CLOSE_REPLACED, TOO_MANY_SOCKETS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.context import Keel
    from plugins.realtime.connection import Connection

log = logging.getLogger("plugins.realtime")
EVICT = "k"
"""Bus kind: close (4409) the target user's sockets named in the last part, a
comma-separated list of ``<process>:<socket>`` members (see :mod:`.bus`)."""
SOCKETS_TTL_S = 86_400
"""How long a user's socket set lives after their last new socket."""
DEAD_PROCS_S = 3_600
"""Leases expired this long ago are removed from ``socket_procs`` on renewal."""


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class SocketRegistry:
    """This process's side of the cluster-wide socket count.

    Args:
        keel: the runtime context (Valkey client, key prefix).
        process_id: this process's unique id (the hub's).
        lease_s: how long this process's lease lasts without renewal.
    """

    def __init__(self, keel: Keel, process_id: str, lease_s: float) -> None:
        self._keel = keel
        self.process_id = process_id
        self.lease_s = lease_s
        self._procs = keel.key("realtime", "socket_procs")

    def member(self, socket_id: str) -> str:
        """The set member of this process's socket ``socket_id``."""
        return f"{self.process_id}:{socket_id}"

    def _key(self, user_id: str) -> str:
        return self._keel.key("realtime", "sockets", user_id)

    async def renew(self) -> None:
        """Renew this process's lease (and forget leases that expired long ago)."""
        now = time.time()
        async with self._keel.valkey.pipeline(transaction=False) as pipe:
            pipe.zadd(self._procs, {self.process_id: now + self.lease_s})
            pipe.zremrangebyscore(self._procs, "-inf", now - DEAD_PROCS_S)
            await pipe.execute()

    async def opened(self, user_id: str, socket_id: str, limit: int) -> list[str]:
        """Count a new socket of ``user_id``; the members to close to stay within ``limit``.

        The oldest live sockets first, never the new one; members of dead processes are
        removed without being counted.
        """
        key, member, now = self._key(user_id), self.member(socket_id), time.time()
        async with self._keel.valkey.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member: now})
            pipe.expire(key, SOCKETS_TTL_S)
            pipe.zrange(key, 0, -1)  # oldest first
            pipe.zrangebyscore(self._procs, now, "+inf")
            _, _, members_raw, live_raw = await pipe.execute()
        live = {_text(p) for p in live_raw} | {self.process_id}
        members = [_text(m) for m in members_raw]
        dead = [m for m in members if m.partition(":")[0] not in live]
        alive = [m for m in members if m.partition(":")[0] in live]
        extra = len(alive) - limit
        evict = [m for m in alive if m != member][: max(extra, 0)]
        if dead or evict:
            await awaited(self._keel.valkey.zrem(key, *dead, *evict))
        return evict

    async def closed(self, user_id: str, socket_id: str) -> None:
        """A socket of this process closed: it no longer counts."""
        await awaited(self._keel.valkey.zrem(self._key(user_id), self.member(socket_id)))

    async def release(self) -> None:
        """Leave (shutdown): every socket of this process stops counting at once."""
        await awaited(self._keel.valkey.zrem(self._procs, self.process_id))


def evict(conns: Iterable[Connection], registry: SocketRegistry, members: str) -> None:
    """Close (4409) those of a user's local sockets ``conns`` that ``members`` names."""
    named = set(members.split(","))
    for conn in list(conns):
        if registry.member(conn.id) in named:
            conn.close(CLOSE_REPLACED, TOO_MANY_SOCKETS)
