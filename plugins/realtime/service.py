"""Rooms and messages: the domain logic behind the socket events and the history routes."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pymongo
from bson import ObjectId
from odmantic import query
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.errors import BadRequestError, NotFoundError
from plugins.realtime import contacts
from plugins.realtime.models import BookingParties, Message, Room

if TYPE_CHECKING:
    from core.context import Keel

FOLLOWED_KINDS = ("direct", "booking")
"""Rooms whose members follow each other's presence (small by construction)."""


class RoomCache:
    """Members of recently used rooms (they never change), bounded, per process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rooms: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def get(self, room_id: str) -> tuple[str, ...] | None:
        """The cached members of ``room_id``, or None."""
        found = self._rooms.get(room_id)
        if found is not None:
            self._rooms.move_to_end(room_id)
        return found

    def put(self, room: Room) -> tuple[str, ...]:
        """Remember ``room``'s members; returns them."""
        members = tuple(room.members)
        self._rooms[str(room.id)] = members
        if len(self._rooms) > self.size:
            self._rooms.popitem(last=False)
        return members


async def _get_or_create(keel: Keel, key: str, kind: str, members: list[str], **extra: Any) -> Room:
    collection = keel.db.get_collection(Room)
    found = await collection.find_one({"key": key})
    if found is None:
        room = Room(id=ObjectId(), key=key, kind=kind, members=sorted(members), **extra)
        try:
            await collection.insert_one(room.model_dump_doc())
        except DuplicateKeyError:  # created by a concurrent first use
            found = await collection.find_one({"key": key})
        else:
            return room
    if found is None:
        raise NotFoundError(f"room {key} not found")
    return Room.model_validate_doc(found)


async def direct_room(keel: Keel, user_id: str, other_id: str) -> Room:
    """The direct room of two users, created on first use.

    Raises:
        BadRequestError: both ids are the same user.
        NotFoundError: no such user, or ``user_id`` may not contact them (see
            :func:`plugins.realtime.contacts.may_contact`; indistinguishable). Nothing
            is stored.
    """
    if user_id == other_id:
        raise BadRequestError("a direct room needs two different users")
    a, b = sorted((user_id, other_id))
    key = f"direct:{a}:{b}"
    found = await keel.db.get_collection(Room).find_one({"key": key})
    invited = found is not None and other_id in found.get("spoke", ())  # a reply
    if not await contacts.may_contact(keel, user_id, other_id, invited=invited):
        raise NotFoundError(f"user {other_id[:64]} not found")
    if found is not None:
        return Room.model_validate_doc(found)
    return await _get_or_create(keel, key, "direct", [a, b])


async def booking_room(keel: Keel, booking_id: str, user_id: str) -> Room:
    """The room of a booking (its customer and provider), created on first use.

    Raises:
        NotFoundError: no such booking is known, or ``user_id`` is not one of its parties.
    """
    parties = await keel.db.find_one(BookingParties, BookingParties.booking_id == booking_id)
    if parties is None or user_id not in (parties.customer_id, parties.provider_id):
        raise NotFoundError(f"booking {booking_id} not found")
    members = [parties.customer_id, parties.provider_id]
    if await contacts.blocked_among(keel, members[0], members[1:]):
        raise NotFoundError(f"booking {booking_id} not found")
    return await _get_or_create(
        keel, f"booking:{booking_id}", "booking", members, booking_id=booking_id
    )


async def member_room(keel: Keel, room_id: str, user_id: str) -> Room:
    """The room ``room_id`` when ``user_id`` is a member.

    Raises:
        NotFoundError: no such room, or the user is not a member (indistinguishable).
    """
    room = None
    if ObjectId.is_valid(room_id):
        room = await keel.db.find_one(Room, Room.id == ObjectId(room_id))
    if room is None or user_id not in room.members:
        raise NotFoundError(f"room {room_id} not found")
    return room


async def record_booking(keel: Keel, booking_id: str, customer_id: str, provider_id: str) -> None:
    """Remember who may talk in a booking's room (idempotent)."""
    await keel.db.get_collection(BookingParties).update_one(
        {"booking_id": booking_id},
        {"$setOnInsert": {"customer_id": customer_id, "provider_id": provider_id}},
        upsert=True,
    )


async def post_message(
    keel: Keel, room_id: str, sender_id: str, text: str, client_id: str | None
) -> Message:
    """Store a message in a room (membership is checked by the caller).

    With a ``client_id``, sending again (a retry after a failed delivery) returns the
    message already stored by this sender in this room under that id, not a second one.
    """
    message = Message(
        id=ObjectId(),
        room_id=ObjectId(room_id),
        sender_id=sender_id,
        text=text,
        client_id=client_id,
    )
    messages = keel.db.get_collection(Message)
    if client_id is None:
        await messages.insert_one(message.model_dump_doc())
        return message
    where = {"room_id": message.room_id, "sender_id": sender_id, "client_id": client_id}
    doc = message.model_dump_doc()
    stored = await messages.find_one_and_update(
        where, {"$setOnInsert": doc}, upsert=True, return_document=ReturnDocument.AFTER
    )
    return Message.model_validate_doc(stored)


async def touch_room(keel: Keel, message: Message) -> None:
    """Move the message's room up the ``GET /api/realtime/rooms`` order."""
    await keel.db.get_collection(Room).update_one(
        {"_id": message.room_id}, {"$max": {"last_message_at": message.created_at}}
    )


async def rooms_of(keel: Keel, user_id: str, *, page: int, limit: int) -> tuple[list[Room], int]:
    """A page of the user's rooms, most recently active first, and their total."""
    mine = Room.members == user_id  # type: ignore[comparison-overlap]
    total = await keel.db.count(Room, mine)
    rooms = await keel.db.find(
        Room, mine, sort=query.desc(Room.last_message_at), skip=(page - 1) * limit, limit=limit
    )
    return list(rooms), total


async def history(
    keel: Keel, room_id: str, *, before: str | None, limit: int
) -> tuple[list[Message], str | None]:
    """Messages older than ``before`` (a message id), newest first, and the next cursor.

    Raises:
        BadRequestError: ``before`` is not a message id.
    """
    query: dict[str, Any] = {"room_id": ObjectId(room_id)}
    if before is not None:
        if not ObjectId.is_valid(before):
            raise BadRequestError("invalid cursor", details={"before": before[:64]})
        query["_id"] = {"$lt": ObjectId(before)}
    cursor = (
        keel.db.get_collection(Message).find(query).sort("_id", pymongo.DESCENDING).limit(limit + 1)
    )
    docs = [doc async for doc in cursor]
    messages = [Message.model_validate_doc(d) for d in docs[:limit]]
    more = len(docs) > limit
    return messages, (str(messages[-1].id) if more and messages else None)


async def comembers(keel: Keel, user_id: str) -> set[str]:
    """The user's contacts: whose presence the user's sockets follow from connect time."""
    return await contacts.contacts_of(keel, user_id)


def iso(moment: datetime) -> str:
    """An ISO 8601 UTC time with ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


def message_data(message: Message) -> dict[str, Any]:
    """The ``data`` of a ``message`` frame (and of a history entry)."""
    return {
        "id": str(message.id),
        "roomId": str(message.room_id),
        "senderId": message.sender_id,
        "text": message.text,
        "clientId": message.client_id,
        "createdAt": iso(message.created_at),
    }


def room_data(room: Room) -> dict[str, Any]:
    """The ``data`` of a room in frames and routes."""
    return {
        "id": str(room.id),
        "kind": room.kind,
        "members": list(room.members),
        "bookingId": room.booking_id,
        "createdAt": iso(room.created_at),
        "lastMessageAt": iso(room.last_message_at),
    }
