"""Login sessions: token pairs, refresh-token rotation with reuse detection, revocation.

A login session is a refresh-token family. Its :class:`LoginSession` document (created
at login, touched at each refresh, deleted when the session ends) is what the session
list shows; its refresh tokens are kept, flagged, after it ends, so a replayed one is
recognised.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import msgspec
from bson import ObjectId

from core.context import Keel
from core.errors import NotFoundError, UnauthorizedError
from core.logging import set_log_user

from ._revocation import revoke_family_access, revoke_user_access
from ._runtime import accounts
from .documents import LoginSession, RefreshToken, User, as_utc, utcnow
from .events import RevokeReason
from .schemas import SessionView, TokenPair
from .tokens import new_family, new_secret_token

log = logging.getLogger("plugins.accounts")
_INVALID = "invalid refresh token"
MAX_SESSIONS_LISTED = 100
USER_AGENT_MAX = 256


class Client(msgspec.Struct, frozen=True):
    """Who is logging in: the client IP and ``User-Agent`` (shown in the session list)."""

    ip: str = ""
    user_agent: str = ""


def _refresh(keel: Keel) -> Any:
    return keel.db.get_collection(RefreshToken)


def _sessions(keel: Keel) -> Any:
    return keel.db.get_collection(LoginSession)


async def issue_pair(
    keel: Keel, user: User, family: str | None = None, client: Client | None = None
) -> TokenPair:
    """A new access token and refresh token for ``user``.

    Args:
        keel: the runtime context.
        user: the user logging in or refreshing.
        family: the session to continue (refresh), or None for a new login session.
        client: who logs in (a new session only).

    Raises:
        UnauthorizedError: the session to continue ended meanwhile. Its document is
            deleted before its tokens are revoked, and checked here after the new refresh
            token is stored, so a refresh racing a logout never outlives it.
    """
    set_log_user(str(user.id))  # a sign-in or refresh: its lines name who it was
    now = utcnow()
    expires = now + timedelta(seconds=keel.settings.auth.refresh_ttl_s)
    continuing = family is not None
    if family is None:
        family = new_family()
        client = client or Client()
        await _sessions(keel).insert_one(
            {
                "family": family,
                "user_id": user.id,
                "created_at": now,
                "last_used_at": now,
                "expires_at": expires,
                "user_agent": client.user_agent[:USER_AGENT_MAX],
                "ip": client.ip,
            }
        )
    refresh = new_secret_token()
    stored = await _refresh(keel).insert_one(
        {
            "token_hash": accounts(keel).token_hashes.hash(refresh),
            "user_id": user.id,
            "family": family,
            "expires_at": expires,
            "used_at": None,
            "revoked": False,
            "created_at": now,
        }
    )
    if continuing:  # the session must still be open *after* the insert
        touched = await _sessions(keel).update_one(
            {"family": family}, {"$set": {"last_used_at": now, "expires_at": expires}}
        )
        if touched.matched_count != 1:  # it ended while this refresh ran
            await _refresh(keel).update_one(
                {"_id": stored.inserted_id}, {"$set": {"revoked": True}}
            )
            raise UnauthorizedError(_INVALID)
    access = accounts(keel).tokens.issue(str(user.id), user.role, family)
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=keel.settings.auth.access_ttl_s
    )


async def rotate(keel: Keel, token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old token is spent.

    Presenting a token that was already rotated (or revoked) is taken as theft: the whole
    family (login session) is revoked, including its access tokens.

    Raises:
        UnauthorizedError: unknown, expired, spent or revoked token; deleted user.
    """
    hashes = accounts(keel).token_hashes.candidates(token)
    now = utcnow()
    doc = await _refresh(keel).find_one_and_update(
        {
            "token_hash": {"$in": hashes},
            "used_at": None,
            "revoked": False,
            "expires_at": {"$gt": now},
        },
        {"$set": {"used_at": now}},
    )
    if doc is None:
        old = await _refresh(keel).find_one({"token_hash": {"$in": hashes}})
        if old is not None and (old["used_at"] is not None or old["revoked"]):
            log.warning("refresh token reuse: revoking session %s", old["family"])
            await end_sessions(keel, old["user_id"], [str(old["family"])], "refresh_reuse")
        raise UnauthorizedError(_INVALID)
    found = await keel.db.get_collection(User).find_one({"_id": doc["user_id"]})
    if found is None:
        raise UnauthorizedError(_INVALID)
    return await issue_pair(keel, User.model_validate_doc(found), family=str(doc["family"]))


async def end_sessions(
    keel: Keel, user_id: ObjectId, families: list[str], reason: RevokeReason
) -> int:
    """End some login sessions of a user: refresh tokens, access tokens, open sockets.

    Returns:
        How many of them were still open.
    """
    if not families:
        return 0
    query = {"user_id": user_id, "family": {"$in": families}}
    ended = await _sessions(keel).delete_many(query)  # first: see issue_pair
    await _refresh(keel).update_many({**query, "revoked": False}, {"$set": {"revoked": True}})
    await revoke_family_access(keel, str(user_id), families, reason)
    return int(ended.deleted_count)


async def end_other_sessions(keel: Keel, user_id: ObjectId, keep: str, reason: RevokeReason) -> int:
    """End every session of a user but ``keep``; returns how many ended."""
    others = await _sessions(keel).distinct("family", {"user_id": user_id, "family": {"$ne": keep}})
    return await end_sessions(keel, user_id, [str(f) for f in others], reason)


async def end_all_sessions(keel: Keel, user_id: ObjectId, reason: RevokeReason) -> int:
    """End every session of a user (logout-all, password reset, registration replaced)."""
    families = [str(f) for f in await _sessions(keel).distinct("family", {"user_id": user_id})]
    ended = await _sessions(keel).delete_many({"user_id": user_id})  # first: see issue_pair
    await _refresh(keel).update_many(
        {"user_id": user_id, "revoked": False}, {"$set": {"revoked": True}}
    )
    await revoke_user_access(keel, str(user_id), reason)
    if families:  # also by family: a token a racing refresh issues after the epoch
        await revoke_family_access(keel, str(user_id), families, reason, emit=False)
    return int(ended.deleted_count)


async def forget_user_sessions(keel: Keel, user_id: ObjectId) -> None:
    """Delete a deleted user's sessions and refresh tokens and revoke their access tokens."""
    await _refresh(keel).delete_many({"user_id": user_id})
    await _sessions(keel).delete_many({"user_id": user_id})
    await revoke_user_access(keel, str(user_id), "account_deleted")


async def list_sessions(keel: Keel, user_id: ObjectId, current: str) -> list[SessionView]:
    """The user's open sessions, most recently used first (at most 100)."""
    cursor = (
        _sessions(keel)
        .find({"user_id": user_id, "expires_at": {"$gt": utcnow()}})
        .sort([("last_used_at", -1), ("_id", -1)])
        .limit(MAX_SESSIONS_LISTED)
    )
    return [
        SessionView(
            id=str(doc["family"]),
            created_at=as_utc(doc["created_at"]),
            last_used_at=as_utc(doc["last_used_at"]),
            expires_at=as_utc(doc["expires_at"]),
            user_agent=str(doc.get("user_agent", "")),
            ip=str(doc.get("ip", "")),
            current=doc["family"] == current,
        )
        async for doc in cursor
    ]


async def end_session(keel: Keel, user_id: ObjectId, session_id: str) -> None:
    """End one of the user's own sessions.

    Raises:
        NotFoundError: no open session with that id belongs to the user.
    """
    found = await _sessions(keel).find_one({"user_id": user_id, "family": session_id}, {"_id": 1})
    if found is None:
        raise NotFoundError("session not found", details={"id": session_id[:64]})
    await end_sessions(keel, user_id, [session_id], "session_deleted")
