"""MongoDB documents of the realtime plugin (odmantic models, ``realtime_*``).

Every query of the plugin is backed by an index declared here.
"""

from __future__ import annotations

from datetime import datetime

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow

__all__ = ["MODELS", "BookingParties", "Message", "Room", "utcnow"]

_ASC, _DESC = pymongo.ASCENDING, pymongo.DESCENDING


class Room(Model):
    """A conversation: ``direct`` (two users) or ``booking`` (its customer and provider).

    Members never change after creation, so every process may cache them.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_rooms",
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
    created_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime = Field(default_factory=utcnow)


class Message(Model):
    """One message of a room; history pages by ``_id`` (time-ordered ObjectIds)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "realtime_messages",
        "indexes": lambda: [pymongo.IndexModel([("room_id", _ASC), ("_id", _DESC)])],
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


MODELS: tuple[type[Model], ...] = (Room, Message, BookingParties)
"""The plugin's models, for ``register_models``."""
