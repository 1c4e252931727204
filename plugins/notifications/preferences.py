"""Notification preferences: per event type and channel, on unless switched off."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from msgspec import UNSET

from core.errors import BadRequestError
from plugins.notifications import schemas
from plugins.notifications.models import Preference, utcnow
from plugins.notifications.reactions import BY_EVENT, REACTIONS

if TYPE_CHECKING:
    from core.context import Keel

Choices = dict[str, dict[str, bool]]


def field_of(event: str) -> str:
    """The stored key of an event type (MongoDB keys cannot hold dots)."""
    return event.replace(".", "_")


async def preferences_of(keel: Keel, user_ids: list[str]) -> dict[str, Choices]:
    """The stored choices of each user (absent: everything on), one query."""
    ids = []
    for user_id in user_ids:
        try:
            ids.append(ObjectId(user_id))
        except (InvalidId, TypeError):
            continue
    if not ids:
        return {}
    cursor = keel.db.get_collection(Preference).find({"user_id": {"$in": ids}})
    return {str(doc["user_id"]): doc["choices"] async for doc in cursor}


def allowed(prefs: dict[str, Choices], user_id: str, event: str, channel: str) -> bool:
    """Whether ``user_id`` wants ``event`` on ``channel`` (default yes)."""
    return prefs.get(user_id, {}).get(field_of(event), {}).get(channel, True)


def _view(choices: Choices) -> schemas.Preferences:
    items = []
    for reaction in REACTIONS:
        mine = choices.get(field_of(reaction.event), {})
        always = ["email"] if reaction.always_email else []
        channels: dict[str, bool] = {c: c in always or mine.get(c, True) for c in reaction.channels}
        items.append(
            schemas.EventPreference(
                event=reaction.event,
                description=reaction.description,
                channels=channels,
                always_sent=always,
            )
        )
    return schemas.Preferences(items=items)


async def get_preferences(keel: Keel, user_id: ObjectId) -> schemas.Preferences:
    """The caller's preferences for every event type."""
    doc = await keel.db.get_collection(Preference).find_one({"user_id": user_id})
    return _view(doc["choices"] if doc else {})


def _changes(data: schemas.PreferencesUpdate) -> dict[str, bool]:
    """``{"choices.<event>.<channel>": on}``; unknown or locked choices are a 400."""
    changes: dict[str, bool] = {}
    problems: list[str] = []
    for event, choice in data.preferences.items():
        reaction = BY_EVENT.get(event)
        if reaction is None:
            problems.append(f"preferences.{event}: unknown event type")
            continue
        for channel in ("email", "in_app"):
            value: Any = getattr(choice, channel)
            if value is UNSET:
                continue
            where = f"preferences.{event}.{channel}"
            if channel not in reaction.channels:
                problems.append(f"{where}: this event has no {channel} notification")
            elif channel == "email" and reaction.always_email and not value:
                problems.append(f"{where}: receipts and security mail are always sent")
            else:
                changes[f"choices.{field_of(event)}.{channel}"] = bool(value)
    if problems:
        raise BadRequestError("invalid preferences", details={"problems": problems})
    return changes


async def update_preferences(
    keel: Keel, user_id: ObjectId, data: schemas.PreferencesUpdate
) -> schemas.Preferences:
    """Apply the given choices (others keep theirs) and return the result."""
    changes = _changes(data)
    await keel.db.get_collection(Preference).update_one(
        {"user_id": user_id},
        {"$set": {**changes, "updated_at": utcnow()}, "$setOnInsert": {"user_id": user_id}},
        upsert=True,
    )
    return await get_preferences(keel, user_id)
