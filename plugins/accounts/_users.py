"""User profiles: lookups, views, self-service and admin changes, deletion."""

from __future__ import annotations

from typing import Any, Literal, cast

import msgspec
import pymongo
from bson import ObjectId

from core.context import Keel
from core.errors import ForbiddenError, NotFoundError
from plugins.uploads.api import require_owned

from . import schemas
from ._codes import forget_user_codes
from ._revocation import mark_user, revoke_user_access
from ._sessions import forget_user_sessions
from ._throttle import email_key
from .documents import User, as_utc, utcnow
from .events import Role, UserDeleted, UserUpdated
from .security import CurrentUser, parse_object_id

UserSort = Literal["-createdAt", "createdAt", "name", "-name", "email", "-email"]
_SORT_FIELDS = {"createdAt": "created_at", "name": "name", "email": "email_key"}


async def _find_one(keel: Keel, query: dict[str, Any]) -> User | None:
    # motor's find_one is about twice as fast as odmantic's (which runs a cursor)
    doc = await keel.db.get_collection(User).find_one(query)
    return None if doc is None else User.model_validate_doc(doc)


async def find_by_email(keel: Keel, email: str) -> User | None:
    """The user with ``email`` (case-insensitive), or None."""
    return await _find_one(keel, {"email_key": email_key(email)})


async def find_by_id(keel: Keel, user_id: ObjectId) -> User | None:
    """The user with ``user_id``, or None."""
    return await _find_one(keel, {"_id": user_id})


def exists(user: User | None) -> User:
    """``user``, or a 404 when it is None (e.g. the caller's account was deleted)."""
    if user is None:
        raise NotFoundError("user not found")
    return user


def to_view(user: User) -> schemas.User:
    """The full view of a user (for themself and admins)."""
    return schemas.User(
        id=str(user.id),
        name=user.name,
        email=user.email,
        phone=user.phone,
        role=cast("Role", user.role),
        avatar=user.avatar,
        verified=user.verified,
        created_at=as_utc(user.created_at),
        updated_at=as_utc(user.updated_at),
    )


def to_public(user: User) -> schemas.PublicProfile:
    """A provider's public profile."""
    return schemas.PublicProfile(
        id=str(user.id), name=user.name, role=cast("Role", user.role), avatar=user.avatar
    )


async def _apply(keel: Keel, user: User, changes: dict[str, Any]) -> User:
    """Write ``changes`` to ``user`` and publish ``user.updated`` if anything changed."""
    changed = sorted(k for k, v in changes.items() if getattr(user, k) != v)
    if not changed:
        return user
    changes = {k: changes[k] for k in changed} | {"updated_at": utcnow()}
    doc = await keel.db.get_collection(User).find_one_and_update(
        {"_id": user.id},
        {"$set": changes},
        return_document=pymongo.ReturnDocument.AFTER,
    )
    if doc is None:
        raise NotFoundError("user not found")
    updated = User.model_validate_doc(doc)
    await keel.events.emit(
        UserUpdated(
            user_id=str(user.id),
            changed=changed,
            role=cast("Role", updated.role),
            verified=updated.verified,
        )
    )
    return updated


async def update_me(keel: Keel, caller: CurrentUser, data: schemas.UserUpdate) -> schemas.User:
    """Change the caller's own name, phone or avatar.

    Raises:
        UnprocessableError: the avatar is not one of the caller's uploads.
    """
    user = exists(await find_by_id(keel, caller.object_id))
    if isinstance(data.avatar, str):
        await require_owned(keel, caller.object_id, [data.avatar], field="avatar")
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    return to_view(await _apply(keel, user, changes))


async def mark_verified(keel: Keel, user: User) -> User:
    """Set the verified flag (the user proved they read the email)."""
    return await _apply(keel, user, {"verified": True})


async def list_users(
    keel: Keel, *, page: int, limit: int, role: Role | None, sort: UserSort
) -> schemas.UserPage:
    """One page of users, optionally of one role, in ``sort`` order."""
    query: dict[str, Any] = {} if role is None else {"role": role}
    field = _SORT_FIELDS[sort.lstrip("-")]
    direction = pymongo.DESCENDING if sort.startswith("-") else pymongo.ASCENDING
    collection = keel.db.get_collection(User)
    total = await collection.count_documents(query)
    cursor = (
        collection.find(query)
        .sort([(field, direction), ("_id", direction)])
        .skip((page - 1) * limit)
        .limit(limit)
    )
    items = [to_view(User.model_validate_doc(doc)) async for doc in cursor]
    return schemas.UserPage(items=items, total=total, page=page, limit=limit)


async def view_user(
    keel: Keel, caller: CurrentUser, user_id: str
) -> schemas.User | schemas.PublicProfile:
    """Self or admin: the full view; others: a provider's public profile; else 404."""
    user = exists(await find_by_id(keel, parse_object_id(user_id, what="user")))
    if caller.is_admin or caller.id == str(user.id):
        return to_view(user)
    if user.role == "provider":
        return to_public(user)
    raise NotFoundError("user not found")


async def admin_update(
    keel: Keel, caller: CurrentUser, user_id: str, data: schemas.UserAdminUpdate
) -> schemas.User:
    """An admin changes a user's role or verified flag; others get 404 (403 for self)."""
    oid = parse_object_id(user_id, what="user")
    if not caller.is_admin:
        if caller.id == user_id:
            raise ForbiddenError("only an admin can change role or verified")
        raise NotFoundError("user not found")
    user = exists(await find_by_id(keel, oid))
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    updated = await _apply(keel, user, changes)
    if updated.role != user.role:  # tokens carry the role: make the user refresh
        await revoke_user_access(keel, str(user.id), "role_changed")
    return to_view(updated)


async def delete_user(keel: Keel, caller: CurrentUser, user_id: str) -> None:
    """Delete a user (self or admin) with their sessions and codes; others get 404."""
    oid = parse_object_id(user_id, what="user")
    if not (caller.is_admin or caller.id == user_id):
        raise NotFoundError("user not found")
    deleted = await keel.db.get_collection(User).find_one_and_delete({"_id": oid})
    if deleted is None:
        raise NotFoundError("user not found")
    user_id = str(oid)  # canonical (lower-case) hex, whatever the path said
    await mark_user(keel, user_id, exists=False)
    await forget_user_sessions(keel, oid)
    await forget_user_codes(keel, oid)
    await keel.events.emit(
        UserDeleted(
            user_id=user_id,
            deleted_by=caller.id,
            email=deleted["email"],
            display_name=deleted["name"],
        )
    )
