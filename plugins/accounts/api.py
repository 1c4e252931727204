"""The accounts plugin's public Python API: what other plugins may use.

Authorization for routes (Litestar dependencies and guards)::

    from plugins.accounts.api import SECURITY, UserDep, current_user, owned_or_404

    @get("/things/{thing_id:str}", dependencies={"user": Provide(current_user)},
         security=SECURITY)
    async def get_thing(thing_id: str, user: UserDep) -> Thing: ...

and a few read-only lookups of users, for plugins that show or index people (a user
*record* is the stored document's public fields: ``_id``, ``name``, ``email``, ``role``,
``avatar``, ``verified``, ``created_at``, ``updated_at``; never the password hash).
Everything else in this package is private.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId

from core.http.security import BEARER, SECURITY
from plugins.accounts.events import Role
from plugins.accounts.security import (
    CurrentUser,
    OptionalUserDep,
    UserDep,
    admin_only,
    authenticate,
    current_user,
    optional_user,
    owned_or_404,
    parse_object_id,
    require_role,
    verify_access_token,
)

if TYPE_CHECKING:
    from core.context import Keel

__all__ = [
    "BEARER",
    "SECURITY",
    "CurrentUser",
    "OptionalUserDep",
    "Role",
    "UserDep",
    "admin_only",
    "authenticate",
    "count_users",
    "create_user",
    "current_user",
    "delete_stale_records",
    "find_user_by_email",
    "get_user",
    "get_users",
    "iter_users",
    "optional_user",
    "owned_or_404",
    "parse_object_id",
    "require_role",
    "verify_access_token",
]

PUBLIC_FIELDS = {
    "name": 1,
    "email": 1,
    "role": 1,
    "avatar": 1,
    "verified": 1,
    "created_at": 1,
    "updated_at": 1,
}
"""The fields of a user record (and ``_id``)."""


def _users(keel: Keel) -> Any:
    from plugins.accounts.documents import User  # noqa: PLC0415 - odmantic lazily

    return keel.db.get_collection(User)


async def get_user(keel: Keel, user_id: str | ObjectId) -> dict[str, Any] | None:
    """The record of one user, or None (no such user, or not an id)."""
    try:
        oid = user_id if isinstance(user_id, ObjectId) else ObjectId(user_id)
    except (InvalidId, TypeError):
        return None
    found: dict[str, Any] | None = await _users(keel).find_one({"_id": oid}, PUBLIC_FIELDS)
    return found


async def get_users(keel: Keel, user_ids: Iterable[ObjectId]) -> dict[str, dict[str, Any]]:
    """The records of the users among ``user_ids`` that exist, by hex id."""
    ids = list(user_ids)
    if not ids:
        return {}
    cursor = _users(keel).find({"_id": {"$in": ids}}, PUBLIC_FIELDS)
    return {str(doc["_id"]): doc async for doc in cursor}


async def iter_users(keel: Keel) -> AsyncIterator[dict[str, Any]]:
    """Every user's record, in no particular order (a full scan: for rebuilds)."""
    async for doc in _users(keel).find({}, PUBLIC_FIELDS):
        yield doc


async def count_users(keel: Keel) -> int:
    """How many users there are."""
    return int(await _users(keel).count_documents({}))


async def find_user_by_email(keel: Keel, email: str) -> dict[str, Any] | None:
    """The record of the user with ``email`` (case-insensitive), or None."""
    from plugins.accounts._throttle import email_key  # noqa: PLC0415

    found: dict[str, Any] | None = await _users(keel).find_one(
        {"email_key": email_key(email)}, PUBLIC_FIELDS
    )
    return found


async def create_user(
    keel: Keel, *, email: str, password: str, name: str, role: Role, verified: bool
) -> str:
    """Create an account directly, without email (demo data, operators' tools); its id.

    Raises:
        core.errors.UnprocessableError: a weak password.
        pymongo.errors.DuplicateKeyError: the email already has an account.
    """
    from plugins.accounts._auth import create_user as create  # noqa: PLC0415

    user = await create(
        keel, email=email, password=password, name=name, role=role, verified=verified
    )
    return str(user.id)


async def delete_stale_records(
    keel: Keel, batch_size: int, *, codes_only: bool = False
) -> dict[str, int]:
    """Delete what accounts no longer need, in batches (housekeeping jobs call it).

    Expired codes always; unless ``codes_only``, also expired or revoked refresh tokens,
    consumed or exhausted codes and used or expired reset tokens. Rotated refresh tokens
    of live sessions stay until they expire (reuse detection needs them). The TTL
    indexes remove expired documents too, lazily.

    Returns:
        How many of each were deleted: ``otps_deleted`` and, unless ``codes_only``,
        ``refresh_expired``, ``refresh_revoked``, ``reset_tokens_deleted``.
    """
    from plugins.accounts._housekeeping import delete_stale  # noqa: PLC0415

    return await delete_stale(keel, batch_size, codes_only=codes_only)
