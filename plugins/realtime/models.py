"""MongoDB documents of the realtime plugin (odmantic models, ``realtime_*``).

Every query of the plugin is backed by an index declared here.
"""

from __future__ import annotations

from datetime import datetime

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow

__all__ = ["MODELS", "Block", "BookingParties", "Contact", "Message", "Room", "utcnow"]

_ASC, _DESC = pymongo.ASCENDING, pymongo.DESCENDING


class Room(Model):
    """A conversation: ``direct`` (two users) or ``booking`` (its customer and provider).

    Members never change after creation, so every process may cache them.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_rooms",
        # rooms stored before a field existed (``spoke``) read with its default
        "parse_doc_with_default_factories": True,
        "indexes": lambda: [
            pymongo.IndexModel([("key", _ASC)], unique=True),
            pymongo.IndexModel([("members", _ASC), ("last_message_at", _DESC)]),
            pymongo.IndexModel([("members", _ASC), ("kind", _ASC), ("last_message_at", _DESC)]),
        ],
    }

    key: str = Field(description="direct:<user>:<user> (sorted) or booking:<booking id>.")
    kind: str
    members: list[str]
    booking_id: str | None = None
    spoke: list[str] = Field(default_factory=list)
    """Members who have sent a message (direct rooms; both: the conversation is accepted)."""
    created_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime = Field(default_factory=utcnow)


class Message(Model):
    """One message of a room; history pages by ``_id`` (time-ordered ObjectIds)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_messages",
        "indexes": lambda: [
            pymongo.IndexModel([("room_id", _ASC), ("_id", _DESC)]),
            # a retried message (same sender, room and clientId) finds the first one
            pymongo.IndexModel(
                [("room_id", _ASC), ("sender_id", _ASC), ("client_id", _ASC)],
                partialFilterExpression={"client_id": {"$type": "string"}},
            ),
        ],
    }

    room_id: ObjectId
    sender_id: str
    text: str
    client_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class BookingParties(Model):
    """Customer and provider of a booking, from ``booking.created`` (for its room)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_booking_parties",
        "indexes": lambda: [pymongo.IndexModel([("booking_id", _ASC)], unique=True)],
    }

    booking_id: str
    customer_id: str
    provider_id: str


class Contact(Model):
    """Why two users are contacts: a projection of their bookings and their direct room.

    Learned from ``booking.*`` events (the bookings plugin's data stays its own) and from
    the direct room's messages. The pair are contacts while a booking of theirs is not
    cancelled, until ``until`` (30 days after their last cancellation), or once their
    direct conversation is accepted (both have written).
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_contacts",
        "indexes": lambda: [
            pymongo.IndexModel([("pair", _ASC)], unique=True),
            pymongo.IndexModel([("users", _ASC)]),
            pymongo.IndexModel([("until", _ASC)], sparse=True),  # lapses, each minute
        ],
    }

    pair: str = Field(description="<user>:<user> (sorted).")
    users: list[str]
    bookings: list[str] = Field(default_factory=list)
    """Ids of the pair's bookings that are not cancelled."""
    cancelled: list[str] = Field(default_factory=list)
    """Ids of the pair's cancelled bookings (cancellation is final)."""
    until: datetime | None = None
    """Latest cancellation + 30 days: the pair stays contacts until then."""
    accepted_at: datetime | None = None
    """When their direct conversation was accepted (the second member wrote)."""


class Block(Model):
    """``blocker`` blocked ``blocked``: neither sees, reaches or types to the other."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_blocks",
        "indexes": lambda: [
            pymongo.IndexModel([("blocker", _ASC), ("blocked", _ASC)], unique=True),
            pymongo.IndexModel([("blocked", _ASC), ("blocker", _ASC)]),
            pymongo.IndexModel([("blocker", _ASC), ("created_at", _DESC)]),
        ],
    }

    blocker: str
    blocked: str
    created_at: datetime = Field(default_factory=utcnow)


MODELS: tuple[type[Model], ...] = (Room, Message, BookingParties, Contact, Block)
"""The plugin's models, for ``register_models``."""
