"""Who may see, reach and type to whom: contacts, reachable providers, and blocks.

Two users are **contacts** while they share a booking (one not cancelled, or cancelled
less than :data:`CANCELLED_GRACE` ago) or an accepted direct conversation (both have
written in their direct room), and neither blocked the other. Presence and typing flow
only between contacts. A direct conversation may be opened with a contact or with any
provider; with nobody else (``not_found``, as for an id that does not exist).

Bookings are the bookings plugin's data: realtime learns them from its ``booking.*``
events into ``realtime_contacts`` (:class:`~plugins.realtime.models.Contact`).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.clock import utcnow
from core.stash import StashKey
from plugins.accounts.api import get_user
from plugins.realtime.bus import publish
from plugins.realtime.models import Block, Contact, Room

if TYPE_CHECKING:
    from core.context import Keel

FORGET = "f"
"""Bus kind: the target users' sockets forget the user named in the last part (a block,
a deleted account): they stop following their presence and knowing them as a contact."""
CANCELLED_GRACE = timedelta(days=30)
"""How long a cancelled booking keeps its customer and provider contacts."""
REACHABLE_ROLES = frozenset({"provider"})
"""Roles anyone signed in may open a direct conversation with."""
MAX_CONTACTS = 2000
"""Contacts read at connect time (a socket follows at most this many users)."""
SETTLED_SIZE = 10_000
SETTLED = StashKey[OrderedDict[str, None]]("realtime.settled_rooms")
"""Rooms of this process whose acceptance needs no more tracking (accepted, or not direct)."""


def pair_key(user_id: str, other_id: str) -> str:
    """The key of a pair of users, the same whichever comes first."""
    a, b = sorted((user_id, other_id))
    return f"{a}:{b}"


def _qualifies(now: datetime) -> dict[str, Any]:
    return {
        "$or": [
            {"bookings.0": {"$exists": True}},
            {"until": {"$gt": now}},
            {"accepted_at": {"$ne": None}},
        ]
    }


async def _upsert(keel: Keel, filter_: dict[str, Any], update: dict[str, Any]) -> None:
    """An upsert whose filter may exclude the existing document: then it is a no-op."""
    with contextlib.suppress(DuplicateKeyError):  # it exists, and the filter excluded it
        await keel.db.get_collection(Contact).update_one(filter_, update, upsert=True)


async def record_booking(keel: Keel, booking: Any) -> None:
    """Project a ``booking.*`` event's snapshot onto its pair (idempotent, any order).

    A cancellation is final: a late ``booking.created`` does not revive the booking.
    """
    customer, provider = str(booking.customer_id), str(booking.provider_id)
    if customer == provider:
        return
    key, booking_id = pair_key(customer, provider), str(booking.id)
    insert = {"users": sorted((customer, provider)), "accepted_at": None}
    if getattr(booking, "status", "pending") != "cancelled":
        insert["cancelled"] = []
        update = {"$addToSet": {"bookings": booking_id}, "$setOnInsert": insert}
        await _upsert(keel, {"pair": key, "cancelled": {"$ne": booking_id}}, update)
        return
    changed = getattr(booking, "updated_at", None) or utcnow()
    await _upsert(
        keel,
        {"pair": key},
        {
            "$pull": {"bookings": booking_id},
            "$addToSet": {"cancelled": booking_id},
            "$max": {"until": changed + CANCELLED_GRACE},
            "$setOnInsert": insert,
        },
    )


async def lapsed_between(keel: Keel, start: datetime, end: datetime) -> list[list[str]]:
    """The pairs that stopped being contacts in ``(start, end]``: their last cancellation
    turned :data:`CANCELLED_GRACE` old, and nothing else keeps them contacts."""
    query = {
        "until": {"$gt": start, "$lte": end},
        "bookings.0": {"$exists": False},
        "accepted_at": None,
    }
    cursor = keel.db.get_collection(Contact).find(query, {"users": 1})
    return [list(doc["users"]) async for doc in cursor]


async def forget_user(keel: Keel, user_id: str) -> None:
    """A deleted account: its pairs and blocks go, and every socket forgets it."""
    collection = keel.db.get_collection(Contact)
    cursor = collection.find({"users": user_id}, {"users": 1})
    others = {u async for doc in cursor for u in doc["users"]} - {user_id}
    await collection.delete_many({"users": user_id})
    if others:
        await publish(keel, FORGET, sorted(others), user_id)
    await keel.db.get_collection(Block).delete_many(
        {"$or": [{"blocker": user_id}, {"blocked": user_id}]}
    )


async def note_message(keel: Keel, room_id: str, sender_id: str) -> bool:
    """A member wrote in a room: when both members of a direct room have, they are contacts.

    Costs one write per message until the room is settled (then nothing, per process).

    Returns:
        True when this message made the two contacts.
    """
    settled = keel.stash.setdefault(SETTLED, OrderedDict())
    if room_id in settled or not ObjectId.is_valid(room_id):
        return False
    room = await keel.db.get_collection(Room).find_one_and_update(
        {"_id": ObjectId(room_id), "kind": "direct"},
        {"$addToSet": {"spoke": sender_id}},
        projection={"spoke": 1, "members": 1},
        return_document=ReturnDocument.AFTER,
    )
    if room is not None and len(room.get("spoke", ())) < len(room["members"]):
        return False
    if room is not None:
        a, b = room["members"]
        insert = {"users": [a, b], "bookings": [], "cancelled": [], "until": None}
        update = {"$set": {"accepted_at": utcnow()}, "$setOnInsert": insert}
        await _upsert(keel, {"pair": pair_key(a, b), "accepted_at": None}, update)
    settled[room_id] = None
    if len(settled) > SETTLED_SIZE:
        settled.popitem(last=False)
    return room is not None


async def blocked_among(keel: Keel, user_id: str, others: Iterable[str]) -> set[str]:
    """Those of ``others`` who blocked ``user_id`` or whom ``user_id`` blocked."""
    ids = list(others)
    if not ids:
        return set()
    query = {
        "$or": [
            {"blocker": user_id, "blocked": {"$in": ids}},
            {"blocked": user_id, "blocker": {"$in": ids}},
        ]
    }
    cursor = keel.db.get_collection(Block).find(query, {"blocker": 1, "blocked": 1})
    return {doc["blocked"] if doc["blocker"] == user_id else doc["blocker"] async for doc in cursor}


async def contacts_among(keel: Keel, user_id: str, others: Iterable[str]) -> set[str]:
    """Those of ``others`` who are contacts of ``user_id`` (neither blocked the other)."""
    ids = [o for o in dict.fromkeys(others) if o != user_id]
    if not ids:
        return set()
    pairs = {pair_key(user_id, o): o for o in ids}
    query = {"pair": {"$in": list(pairs)}, **_qualifies(utcnow())}
    cursor = keel.db.get_collection(Contact).find(query, {"pair": 1})
    found = {pairs[doc["pair"]] async for doc in cursor}
    return found - await blocked_among(keel, user_id, found)


async def are_contacts(keel: Keel, user_id: str, other_id: str) -> bool:
    """Whether the two users are contacts."""
    return other_id in await contacts_among(keel, user_id, [other_id])


async def contacts_of(keel: Keel, user_id: str, limit: int = MAX_CONTACTS) -> set[str]:
    """The user's contacts (at most ``limit``): whose presence the user's sockets follow."""
    query = {"users": user_id, **_qualifies(utcnow())}
    cursor = keel.db.get_collection(Contact).find(query, {"users": 1}).limit(limit)
    found = {u async for doc in cursor for u in doc["users"]}
    found.discard(user_id)
    return found - await blocked_among(keel, user_id, found)


async def may_contact(keel: Keel, user_id: str, other_id: str, *, invited: bool = False) -> bool:
    """Whether ``user_id`` may open (or write in) a direct conversation with ``other_id``.

    The other must exist, and neither may have blocked the other; then: when ``invited``
    (the other wrote to them first), to a provider, or to a contact.
    """
    record = await get_user(keel, other_id)
    if record is None or await blocked_among(keel, user_id, [other_id]):
        return False
    if invited or record.get("role") in REACHABLE_ROLES:
        return True
    return await are_contacts(keel, user_id, other_id)
