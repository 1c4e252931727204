"""MongoDB documents of the notifications plugin (odmantic models, ``notifications_*``).

Each query of the plugin is backed by an index declared here. The unique indexes are what
makes redelivery harmless: one notification per (event, user), one email per (event,
recipient, channel), one activity entry per (event, user).
"""

from __future__ import annotations

from datetime import datetime

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow

__all__ = [
    "DELIVERY_TTL_S",
    "MODELS",
    "Activity",
    "Delivery",
    "Notification",
    "Preference",
    "utcnow",
]

DELIVERY_TTL_S = 30 * 86_400
"""How long a delivery record (the email dedupe key) is kept."""


def _index(*keys: tuple[str, int], **options: object) -> pymongo.IndexModel:
    return pymongo.IndexModel(list(keys), **options)


_ASC, _DESC = pymongo.ASCENDING, pymongo.DESCENDING


class Notification(Model):
    """One entry of a user's in-app inbox."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "notifications_inbox",
        "indexes": lambda: [
            _index(("event_id", _ASC), ("user_id", _ASC), unique=True),
            _index(("user_id", _ASC), ("created_at", _DESC)),
            _index(("user_id", _ASC), ("read", _ASC), ("created_at", _DESC)),
        ],
    }

    user_id: ObjectId
    event_id: str = Field(description="Id of the event that caused it (dedupe key).")
    kind: str
    title: str
    body: str
    data: dict[str, str] = Field(default_factory=dict)
    read: bool = False
    read_at: datetime | None = None
    published: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(Model):
    """A claimed (event, recipient, channel): the email dedupe record."""

    model_config = {  # noqa: RUF012
        "collection": "notifications_deliveries",
        "indexes": lambda: [
            _index(("event_id", _ASC), ("recipient", _ASC), ("channel", _ASC), unique=True),
            _index(("created_at", _ASC), expireAfterSeconds=DELIVERY_TTL_S),
        ],
    }

    event_id: str
    recipient: str
    channel: str
    kind: str
    sent: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Preference(Model):
    """A user's choices: event type -> channel -> on/off (absent means on)."""

    model_config = {  # noqa: RUF012
        "collection": "notifications_preferences",
        "indexes": lambda: [_index(("user_id", _ASC), unique=True)],
    }

    user_id: ObjectId
    choices: dict[str, dict[str, bool]] = Field(default_factory=dict)
    updated_at: datetime = Field(default_factory=utcnow)


class Activity(Model):
    """One entry of a user's activity log (``user.updated``: what changed, when)."""

    model_config = {  # noqa: RUF012
        "collection": "notifications_activity",
        "indexes": lambda: [
            _index(("event_id", _ASC), ("user_id", _ASC), unique=True),
            _index(("user_id", _ASC), ("at", _DESC)),
        ],
    }

    user_id: ObjectId
    event_id: str
    kind: str
    changed: list[str] = Field(default_factory=list)
    at: datetime


MODELS: tuple[type[Model], ...] = (Notification, Delivery, Preference, Activity)
