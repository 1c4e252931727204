"""Sockets follow their token: closed when it expires or its login session ends.

Each socket keeps the token it was opened (or last refreshed) with and its claims
(``Connection.user``: user, session, issue and expiry times). Three things close it with
4401:

- **expiry** (reason ``token_expired``): one heap of deadlines and one timer per process
  (not a task per socket), armed for the earliest one;
- **revocation** (reason ``session_revoked``): the accounts core emits
  ``user.sessions_revoked`` where it revokes; realtime's inline listener publishes a
  revocation envelope (kind ``s``, see :mod:`plugins.realtime.bus`) and every process
  closes its matching sockets when it arrives;
- **the recheck** (also ``session_revoked``): every ``revocation_check_s`` each distinct
  token is verified again, for a revocation whose pub/sub message was lost (a
  subscription reconnecting, a process that revoked without the realtime plugin).

A ``refresh`` frame moves a socket onto a newer token of the same user.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

import msgspec

from core.errors import UnauthorizedError
from plugins.realtime.presence import iso_seen
from plugins.realtime.protocol import (
    CLOSE_UNAUTHORIZED,
    SESSION_REVOKED,
    TOKEN_EXPIRED,
    UNAUTHORIZED,
    RefreshIn,
    WsError,
    frame,
)

if TYPE_CHECKING:
    from plugins.accounts.api import CurrentUser
    from plugins.accounts.events import SessionsRevoked
    from plugins.realtime.connection import Connection
    from plugins.realtime.hookspecs import WsContext
    from plugins.realtime.hub import Hub

log = logging.getLogger("plugins.realtime")
REVOKE = "s"
"""Envelope kind of a revocation: targets = the user, payload = :class:`Revocation` JSON."""
MAX_SLEEP_S = 30.0
"""The expiry timer wakes at least this often, so a jump of the wall clock is caught."""
RECENT_S = 10.0
"""How long a process remembers revocations, for sockets registered or refreshed right
after one (their token was checked before the revocation, the message came before them)."""
RECHECK_CONCURRENCY = 16
"""Tokens verified at once by the recheck (each one Valkey ``MGET``)."""


class Revocation(msgspec.Struct, frozen=True):
    """What a revocation envelope carries (the user is its target)."""

    sessions: list[str] | None
    """The sessions that ended; None for every session of the user."""
    before: float
    """Unix time: with ``sessions`` None, tokens issued before it are dead."""
    reason: str = ""

    def covers(self, user: CurrentUser) -> bool:
        """Whether the token behind ``user`` (of the revoked user) is dead."""
        if self.sessions is not None:
            return user.session in self.sessions
        # compared in milliseconds, as the accounts core does, so a token issued in the
        # same millisecond after the revocation (change-password's new pair) lives on
        return round(user.issued_at * 1000) < int(self.before * 1000)


_decode_revocation = msgspec.json.Decoder(Revocation).decode


def revocation_text(event: SessionsRevoked) -> str:
    """The envelope payload of ``user.sessions_revoked``."""
    revocation = Revocation(sessions=event.sessions, before=event.before, reason=event.reason)
    return msgspec.json.encode(revocation).decode()


class TokenGuard:
    """Closes the process's sockets whose token expired or whose session was revoked.

    Args:
        hub: the process's hub (its sockets by user).
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._heap: list[tuple[float, int, Connection]] = []
        """(expiry, tiebreak, socket); stale entries (closed or refreshed sockets) stay
        until they come up or the heap is compacted."""
        self._compact_at = 64
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._wakes_at = math.inf
        self._recent: dict[str, list[tuple[float, Revocation]]] = defaultdict(list)
        self._recent_order: deque[tuple[float, str]] = deque()

    # -- expiry -------------------------------------------------------------------------

    def watch(self, conn: Connection) -> None:
        """Follow ``conn``'s current token: close at its expiry, or now if just revoked."""
        self._forget_old()
        for _, revocation in self._recent.get(conn.user.id, ()):
            if revocation.covers(conn.user):
                conn.close(CLOSE_UNAUTHORIZED, SESSION_REVOKED)
                return
        expires = conn.user.expires_at
        heapq.heappush(self._heap, (expires, next(self._seq), conn))
        if len(self._heap) > self._compact_at:
            self._heap = [e for e in self._heap if _current(e)]
            heapq.heapify(self._heap)
            self._compact_at = max(64, 2 * len(self._heap))
        if expires < self._wakes_at:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._heap:
            self._wakes_at = math.inf
            return
        delay = min(max(0.0, self._heap[0][0] - time.time()), MAX_SLEEP_S)
        self._wakes_at = time.time() + delay
        self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = time.time()
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if _current(entry):
                entry[2].close(CLOSE_UNAUTHORIZED, TOKEN_EXPIRED)
        self._arm()

    def close(self) -> None:
        """Stop the timer (the hub is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wakes_at = math.inf

    # -- revocation ---------------------------------------------------------------------

    def revoke(self, user_id: str, payload: bytes) -> None:
        """A revocation envelope arrived: close ``user_id``'s sockets it covers."""
        revocation = _decode_revocation(payload)
        self._forget_old()
        now = time.monotonic()
        self._recent[user_id].append((now, revocation))
        self._recent_order.append((now, user_id))
        for conn in list(self.hub.by_user.get(user_id, ())):
            if revocation.covers(conn.user):
                conn.close(CLOSE_UNAUTHORIZED, SESSION_REVOKED)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - RECENT_S
        order = self._recent_order
        while order and order[0][0] < cutoff:
            _, user_id = order.popleft()
            kept = [r for r in self._recent[user_id] if r[0] >= cutoff]
            if kept:
                self._recent[user_id] = kept
            else:
                del self._recent[user_id]

    async def recheck(self) -> None:
        """Verify each distinct token of the process's sockets again; close revoked ones.

        The safety net for a lost revocation message. Cost: per round, one Valkey ``MGET``
        of three small keys per distinct token (the signature check is cached by the
        token codec), at most 16 at a time: with 10,000 sockets and the default
        60 s, about 170 reads a second per process. A user without the accounts'
        "exists" marker costs one indexed MongoDB read, once a day.
        """
        from plugins.accounts.api import verify_access_token  # noqa: PLC0415 - loads Litestar

        now = time.time()
        by_token: dict[str, list[Connection]] = defaultdict(list)
        for conn in self.hub.connections:
            if not conn.closing and conn.user.expires_at > now:  # else the timer has it
                by_token[conn.token].append(conn)
        tokens = list(by_token)
        for start in range(0, len(tokens), RECHECK_CONCURRENCY):
            batch = tokens[start : start + RECHECK_CONCURRENCY]
            results = await asyncio.gather(
                *(verify_access_token(self.hub.keel, token) for token in batch),
                return_exceptions=True,
            )
            for token, result in zip(batch, results, strict=True):
                if isinstance(result, UnauthorizedError):
                    for conn in by_token[token]:
                        if conn.token == token:  # not refreshed meanwhile
                            conn.close(CLOSE_UNAUTHORIZED, SESSION_REVOKED)
                elif isinstance(result, BaseException):
                    raise result  # Valkey is unreachable: the next round tries again


def _current(entry: tuple[float, int, Connection]) -> bool:
    """Whether a heap entry is the deadline of an open socket's current token."""
    expires, _, conn = entry
    return not conn.closing and conn.user.expires_at == expires


async def on_refresh(ctx: WsContext, data: RefreshIn) -> None:
    """``refresh`` -> ``refreshed``: the socket lives on a newer token of its user.

    A bad, expired or revoked token, or another user's, answers an ``error`` frame
    (``unauthorized``) and the socket keeps its current token and expiry.
    """
    from plugins.accounts.api import verify_access_token  # noqa: PLC0415 - loads Litestar

    hub, conn = ctx.hub, ctx.connection
    user = await verify_access_token(hub.keel, data.token)  # UnauthorizedError: error frame
    if user.id != conn.user.id:
        raise WsError(UNAUTHORIZED, "'refresh': the token is another user's; send your own")
    if conn.closing:
        return
    conn.user, conn.token = user, data.token
    hub.guard.watch(conn)
    conn.push(frame("refreshed", {"expiresAt": iso_seen(user.expires_at)}))
