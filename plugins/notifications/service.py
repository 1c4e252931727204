"""The in-app inbox and the activity log: a user sees and changes only their own entries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.clock import as_utc
from core.errors import NotFoundError
from plugins.notifications import schemas
from plugins.notifications.models import Activity, Notification, Preference, utcnow

if TYPE_CHECKING:
    from core.context import Keel


def camel(name: str) -> str:
    """A stored snake_case name (a link's key, a changed field) as the wire spells it."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_view(doc: dict[str, Any]) -> schemas.Notification:
    """The API shape of a stored notification (link keys in camelCase: ``bookingId``)."""
    read_at = doc.get("read_at")
    return schemas.Notification(
        id=str(doc["_id"]),
        kind=doc["kind"],
        title=doc["title"],
        body=doc["body"],
        data={camel(k): str(v) for k, v in dict(doc.get("data") or {}).items()},
        read=bool(doc["read"]),
        read_at=as_utc(read_at) if read_at else None,
        created_at=as_utc(doc["created_at"]),
    )


def _not_found(notification_id: ObjectId) -> NotFoundError:
    return NotFoundError("notification not found", details={"id": str(notification_id)})


async def list_notifications(
    keel: Keel, user_id: ObjectId, *, page: int, limit: int, unread: bool | None
) -> schemas.NotificationPage:
    """A page of the user's notifications, newest first; ``unread`` filters on read state."""
    query: dict[str, Any] = {"user_id": user_id}
    if unread is not None:
        query["read"] = not unread
    inbox = keel.db.get_collection(Notification)
    total = await inbox.count_documents(query)
    cursor = inbox.find(query).sort([("created_at", -1), ("_id", -1)])
    docs = await cursor.skip((page - 1) * limit).limit(limit).to_list(limit)
    return schemas.NotificationPage(
        items=[to_view(d) for d in docs], total=total, page=page, limit=limit
    )


async def get_notification(
    keel: Keel, user_id: ObjectId, notification_id: ObjectId
) -> schemas.Notification:
    """One of the user's notifications (someone else's is a 404)."""
    inbox = keel.db.get_collection(Notification)
    doc = await inbox.find_one({"_id": notification_id, "user_id": user_id})
    if doc is None:
        raise _not_found(notification_id)
    return to_view(doc)


async def unread_count(keel: Keel, user_id: ObjectId) -> schemas.UnreadCount:
    """How many of the user's notifications are unread."""
    inbox = keel.db.get_collection(Notification)
    return schemas.UnreadCount(
        count=await inbox.count_documents({"user_id": user_id, "read": False})
    )


async def mark_read(
    keel: Keel, user_id: ObjectId, notification_id: ObjectId
) -> schemas.Notification:
    """Mark one notification read (idempotent: ``read_at`` keeps the first time)."""
    inbox = keel.db.get_collection(Notification)
    query = {"_id": notification_id, "user_id": user_id}
    await inbox.update_one({**query, "read": False}, {"$set": {"read": True, "read_at": utcnow()}})
    doc = await inbox.find_one(query)
    if doc is None:
        raise _not_found(notification_id)
    return to_view(doc)


async def mark_all_read(keel: Keel, user_id: ObjectId) -> schemas.Updated:
    """Mark every unread notification of the user read."""
    result = await keel.db.get_collection(Notification).update_many(
        {"user_id": user_id, "read": False}, {"$set": {"read": True, "read_at": utcnow()}}
    )
    return schemas.Updated(updated=result.modified_count)


async def delete_notification(keel: Keel, user_id: ObjectId, notification_id: ObjectId) -> None:
    """Delete one of the user's notifications."""
    inbox = keel.db.get_collection(Notification)
    result = await inbox.delete_one({"_id": notification_id, "user_id": user_id})
    if result.deleted_count != 1:
        raise _not_found(notification_id)


async def record_activity(keel: Keel, event: Any) -> None:
    """Add ``user.updated`` to the user's activity log (once per event)."""
    entry = Activity(
        id=ObjectId(),
        user_id=ObjectId(event.user_id),
        event_id=event.id,
        kind=type(event).name,
        changed=list(event.changed),
        at=event.occurred_at,
    )
    try:
        await keel.db.get_collection(Activity).insert_one(entry.model_dump_doc())
    except DuplicateKeyError:
        return


async def list_activity(
    keel: Keel, user_id: ObjectId, *, page: int, limit: int
) -> schemas.ActivityPage:
    """A page of the user's activity log, newest first."""
    log = keel.db.get_collection(Activity)
    total = await log.count_documents({"user_id": user_id})
    cursor = log.find({"user_id": user_id}).sort([("at", -1), ("_id", -1)])
    docs = await cursor.skip((page - 1) * limit).limit(limit).to_list(limit)
    items = [
        schemas.ActivityEntry(
            kind=d["kind"], changed=[camel(c) for c in d.get("changed") or []], at=as_utc(d["at"])
        )
        for d in docs
    ]
    return schemas.ActivityPage(items=items, total=total, page=page, limit=limit)


async def forget_user(keel: Keel, user_id: str) -> None:
    """Delete a deleted user's inbox, preferences and activity log."""
    oid = ObjectId(user_id)
    for model in (Notification, Preference, Activity):
        await keel.db.get_collection(model).delete_many({"user_id": oid})
