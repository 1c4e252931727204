"""Notification preferences: per event type and channel, on unless switched off.

The stored document (``notifications_preferences``) is always complete and valid: a
change is applied to the repaired current choices, the whole result is validated as a
:class:`~plugins.notifications.models.Preference`, and written only if nobody changed it
in between. Readers repair what they find (a document from an older version, or one
written by hand) rather than trust it: unknown event types, unused channels and
non-boolean values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from msgspec import UNSET
from pymongo.errors import DuplicateKeyError

from core.errors import BadRequestError, ConflictError
from plugins.notifications import schemas
from plugins.notifications.models import Preference, utcnow
from plugins.notifications.reactions import BY_EVENT, CHANNELS, REACTIONS

if TYPE_CHECKING:
    from core.context import Keel

Choices = dict[str, dict[str, bool]]
WRITE_ATTEMPTS = 5
"""Tries of a preferences change against concurrent changes of the same user."""


def field_of(event: str) -> str:
    """The stored key of an event type (MongoDB keys cannot hold dots)."""
    return event.replace(".", "_")


def normalise(raw: Any) -> Choices:
    """The valid part of stored choices: known event types, their channels, booleans."""
    if not isinstance(raw, dict):
        return {}
    choices: Choices = {}
    for reaction in REACTIONS:
        mine = raw.get(field_of(reaction.event))
        if not isinstance(mine, dict):
            continue
        kept: dict[str, bool] = {
            c: v for c in reaction.channels if isinstance(v := mine.get(c), bool)
        }
        if kept:
            choices[field_of(reaction.event)] = kept
    return choices


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
    return {str(doc["user_id"]): normalise(doc.get("choices")) async for doc in cursor}


def allowed(prefs: dict[str, Choices], user_id: str, event: str, channel: str) -> bool:
    """Whether ``user_id`` wants ``event`` on ``channel`` (default yes)."""
    return prefs.get(user_id, {}).get(field_of(event), {}).get(channel, True)


def _view(choices: Choices) -> schemas.Preferences:
    items = []
    for reaction in REACTIONS:
        mine = choices.get(field_of(reaction.event), {})
        always = ["email"] if reaction.always_email else []
        channels = {
            schemas.WIRE_CHANNELS[c]: c in always or mine.get(c, True) for c in reaction.channels
        }
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
    return _view(normalise(doc.get("choices")) if doc else {})


def _changes(data: schemas.PreferencesUpdate) -> dict[tuple[str, str], bool]:
    """``{(stored event key, channel): on}``; unknown or locked choices are a 400."""
    changes: dict[tuple[str, str], bool] = {}
    problems: list[str] = []
    for event, choice in data.preferences.items():
        reaction = BY_EVENT.get(event)
        if reaction is None:
            problems.append(f"preferences.{event}: unknown event type")
            continue
        for channel in CHANNELS:
            value: Any = getattr(choice, channel)
            if value is UNSET:
                continue
            wire = schemas.WIRE_CHANNELS[channel]
            where = f"preferences.{event}.{wire}"
            if channel not in reaction.channels:
                problems.append(f"{where}: this event has no {wire} notification")
            elif channel == "email" and reaction.always_email and not value:
                problems.append(f"{where}: receipts and security mail are always sent")
            else:
                changes[field_of(event), channel] = bool(value)
    if problems:
        raise BadRequestError("invalid preferences", details={"problems": problems})
    return changes


async def update_preferences(
    keel: Keel, user_id: ObjectId, data: schemas.PreferencesUpdate
) -> schemas.Preferences:
    """Apply the given choices (others keep theirs) and return the result.

    Raises:
        BadRequestError: an unknown event type, a channel it does not use, or a receipt
            switched off (``details.problems`` lists each).
        ConflictError: the user's preferences kept changing under this write.
    """
    changes = _changes(data)
    for _ in range(WRITE_ATTEMPTS):
        choices = await _write(keel, user_id, changes)
        if choices is not None:
            return _view(choices)
    raise ConflictError("preferences changed concurrently; try again")


async def _write(
    keel: Keel, user_id: ObjectId, changes: dict[tuple[str, str], bool]
) -> Choices | None:
    """One read-change-write of the whole document; None when another write won."""
    collection = keel.db.get_collection(Preference)
    doc = await collection.find_one({"user_id": user_id})
    choices = normalise(doc.get("choices")) if doc else {}
    for (event, channel), on in changes.items():
        choices.setdefault(event, {})[channel] = on
    stored = Preference(
        id=doc["_id"] if doc else ObjectId(), user_id=user_id, choices=choices, updated_at=utcnow()
    ).model_dump_doc()  # validated as a whole before it is written
    if doc is None:
        try:
            await collection.insert_one(stored)
        except DuplicateKeyError:  # a concurrent first write
            return None
        return choices
    # compare-and-set on what was read: a concurrent change makes this match nothing
    found = await collection.replace_one({"_id": doc["_id"], "choices": doc.get("choices")}, stored)
    return choices if found.matched_count == 1 else None
