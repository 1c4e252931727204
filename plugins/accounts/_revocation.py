"""Access-token revocation and the "this user exists" marker, in Valkey.

Access tokens are stateless, so logout, a password change, a role change or a deleted
account would otherwise leave them valid until they expire. Two kinds of marker, each
kept only as long as a token can live, each a time in milliseconds before which tokens
are dead: one per user (every session) and one per family (one login session; "forever"
when the session ended, or "now" when it goes on with new tokens). Each revocation is also
published as a :class:`~plugins.accounts.events.SessionsRevoked` event, so open WebSockets
(on every process) close too.

The third key read with them says whether the token's user exists: ``1`` (set at
creation, renewed from MongoDB once a day) or ``0`` (set at deletion, or found missing).
Reading it in the same ``MGET`` keeps a request at one Valkey round trip and no
database read; only a missing marker costs one indexed ``_id`` lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from bson import ObjectId
from bson.errors import InvalidId
from valkey.exceptions import ValkeyError

from core.context import Keel
from core.errors import ServiceUnavailableError

from ._stale import PROBE_TIMEOUT_S, Markers, readings
from .documents import User
from .events import RevokeReason, SessionsRevoked
from .tokens import AccessClaims

EXISTS_TTL_S = 86_400
"""How long a user's "exists" marker lives before MongoDB is asked again."""
FOREVER_MS = 1 << 62
"""A family cutoff that no token passes: the session ended."""
# Raise a cutoff, never lower it (a session that ended must not come back to life when
# it is cut again at "now"). Two commands, run once per password change.
_RAISE = """
local old = redis.call('GET', KEYS[1])
if not old or tonumber(old) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def _ttl(keel: Keel) -> int:
    auth = keel.settings.auth
    return auth.access_ttl_s + auth.clock_leeway_s + 1


def _epoch_key(keel: Keel, user_id: str) -> str:
    return keel.key("auth", "epoch", user_id)


def _family_key(keel: Keel, family: str) -> str:
    return keel.key("auth", "family", family)


def _user_key(keel: Keel, user_id: str) -> str:
    return keel.key("auth", "user", user_id)


async def revoke_user_access(keel: Keel, user_id: str, reason: RevokeReason) -> None:
    """Make every access token of ``user_id`` issued until now invalid."""
    now = time.time()
    await keel.valkey.set(_epoch_key(keel, user_id), int(now * 1000), ex=_ttl(keel))
    await keel.events.emit(SessionsRevoked(user_id=user_id, before=now, reason=reason))


async def revoke_family_access(
    keel: Keel, user_id: str, families: Sequence[str], reason: RevokeReason, *, emit: bool = True
) -> None:
    """Make every access token of the login sessions ``families`` invalid (and, with
    ``emit``, publish it)."""
    if not families:
        return
    async with keel.valkey.pipeline(transaction=False) as pipe:
        for family in families:
            pipe.set(_family_key(keel, family), FOREVER_MS, ex=_ttl(keel))
        await pipe.execute()
    if not emit:
        return
    event = SessionsRevoked(
        user_id=user_id, sessions=list(families), before=time.time(), reason=reason
    )
    await keel.events.emit(event)


async def cut_session(keel: Keel, family: str) -> None:
    """Make the access tokens of session ``family`` issued until now invalid; the
    session goes on with tokens issued from now on (a password change)."""
    now_ms = int(time.time() * 1000)
    key = _family_key(keel, family)
    await keel.valkey.eval(_RAISE, 1, key, str(now_ms), str(_ttl(keel)))  # type: ignore[misc]


async def mark_user(keel: Keel, user_id: str, *, exists: bool) -> None:
    """Record that ``user_id`` exists (creation) or no longer does (deletion)."""
    ttl = EXISTS_TTL_S if exists else _ttl(keel)
    await keel.valkey.set(_user_key(keel, user_id), 1 if exists else 0, ex=ttl)


async def access_problem(keel: Keel, claims: AccessClaims) -> str | None:
    """Why the token with ``claims`` is no longer good, or None (one Valkey round trip).

    While Valkey is unreachable, a recent reading of the same markers stands in for it
    (:mod:`plugins.accounts._stale`).

    Returns:
        ``"revoked"`` or ``"unknown user"`` (no such user, or a deleted one).

    Raises:
        ServiceUnavailableError: Valkey unreachable and no recent reading.
    """
    recent = _recent_reading(keel, claims)
    # right after a failure, a token with a recent reading does not wait for Valkey again
    skip = recent is not None and readings(keel).suspended()
    markers = None if skip else await _read_markers(keel, claims)
    if markers is None:
        if recent is None:
            raise ServiceUnavailableError(
                "valkey unreachable: cannot check whether the access token was revoked",
                details={"service": "valkey"},
            )
        epoch, family, exists = recent
        if exists is None:  # no marker to keep; MongoDB still knows
            exists = b"0" if await _lookup(keel, claims.sub) is None else b"1"
    else:
        epoch, family, exists = markers
    issued_ms = round(claims.iat * 1000)
    if (family is not None and issued_ms < int(family)) or (
        epoch is not None and issued_ms < int(epoch)
    ):
        return "revoked"
    if exists is None:
        exists = await _load_marker(keel, claims.sub)
    return None if exists in (b"1", "1", 1) else "unknown user"


async def _read_markers(keel: Keel, claims: AccessClaims) -> Markers | None:
    """The markers from Valkey, or None when it does not answer in time."""
    keys = (
        _epoch_key(keel, claims.sub),
        _family_key(keel, claims.fam),
        _user_key(keel, claims.sub),
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            epoch, family, exists = await keel.valkey.mget(*keys)
    except (ValkeyError, OSError, TimeoutError) as exc:
        readings(keel).failed(exc)
        return None
    markers: Markers = (epoch, family, exists)
    readings(keel).keep((claims.sub, claims.fam), markers)
    return markers


def _recent_reading(keel: Keel, claims: AccessClaims) -> Markers | None:
    """This process's reading for the token's user and session, if recent enough."""
    max_age = keel.settings.auth.revocation_stale_s
    return readings(keel).recent((claims.sub, claims.fam), max_age) if max_age else None


async def _lookup(keel: Keel, user_id: str) -> dict[str, object] | None:
    try:
        oid = ObjectId(user_id)
    except (InvalidId, TypeError):
        return None
    found: dict[str, object] | None = await keel.db.get_collection(User).find_one(
        {"_id": oid}, {"_id": 1}
    )
    return found


async def _load_marker(keel: Keel, user_id: str) -> bytes:
    try:
        ObjectId(user_id)
    except (InvalidId, TypeError):
        return b"0"
    found = await _lookup(keel, user_id)
    value = b"0" if found is None else b"1"
    # NX: a deletion that wrote "0" while this lookup ran must not be overwritten
    ttl = EXISTS_TTL_S if found is not None else _ttl(keel)
    await keel.valkey.set(_user_key(keel, user_id), value, ex=ttl, nx=True)
    return value
