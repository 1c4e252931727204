"""Login sessions: token pairs, refresh-token rotation with reuse detection, revocation."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bson import ObjectId

from core.context import Keel
from core.errors import UnauthorizedError

from ._revocation import revoke_family_access, revoke_user_access
from ._runtime import accounts
from .documents import RefreshToken, User, utcnow
from .schemas import TokenPair
from .tokens import hash_token, new_family, new_secret_token

log = logging.getLogger("core.accounts")
_INVALID = "invalid refresh token"


def _refresh(keel: Keel) -> Any:
    return keel.db.get_collection(RefreshToken)


async def issue_pair(keel: Keel, user: User, family: str | None = None) -> TokenPair:
    """A new access token and refresh token for ``user``.

    Args:
        keel: the runtime context.
        user: the user logging in or refreshing.
        family: the session to continue (refresh), or None for a new login session.
    """
    family = family or new_family()
    refresh = new_secret_token()
    now = utcnow()
    await _refresh(keel).insert_one(
        {
            "token_hash": hash_token(refresh),
            "user_id": user.id,
            "family": family,
            "expires_at": now + timedelta(seconds=keel.settings.auth.refresh_ttl_s),
            "used_at": None,
            "revoked": False,
            "created_at": now,
        }
    )
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
    token_hash = hash_token(token)
    now = utcnow()
    doc = await _refresh(keel).find_one_and_update(
        {"token_hash": token_hash, "used_at": None, "revoked": False, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
    )
    if doc is None:
        old = await _refresh(keel).find_one({"token_hash": token_hash})
        if old is not None and (old["used_at"] is not None or old["revoked"]):
            log.warning("refresh token reuse: revoking session %s", old["family"])
            await revoke_family(keel, str(old["family"]))
        raise UnauthorizedError(_INVALID)
    found = await keel.db.get_collection(User).find_one({"_id": doc["user_id"]})
    if found is None:
        raise UnauthorizedError(_INVALID)
    return await issue_pair(keel, User.model_validate_doc(found), family=str(doc["family"]))


async def revoke_family(keel: Keel, family: str) -> None:
    """Revoke one login session: its refresh tokens and its access tokens."""
    await _refresh(keel).update_many({"family": family}, {"$set": {"revoked": True}})
    await revoke_family_access(keel, family)


async def revoke_user_sessions(keel: Keel, user_id: ObjectId) -> None:
    """Revoke every session of a user (logout, password change or reset, deletion)."""
    await _refresh(keel).update_many(
        {"user_id": user_id, "revoked": False}, {"$set": {"revoked": True}}
    )
    await revoke_user_access(keel, str(user_id))


async def forget_user_sessions(keel: Keel, user_id: ObjectId) -> None:
    """Delete a deleted user's refresh tokens and revoke their access tokens."""
    await _refresh(keel).delete_many({"user_id": user_id})
    await revoke_user_access(keel, str(user_id))
