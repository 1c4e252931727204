"""MongoDB collections of the bookings plugin, declared as odmantic models for their indexes.

The service layer reads and writes raw documents through motor (atomic updates,
transactions); these models name the collections, document the fields and declare an
index for every query the plugin makes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow

__all__ = [
    "MODELS",
    "Booking",
    "PendingHolds",
    "ReminderMarker",
    "Review",
    "Service",
    "SlotClaim",
    "utcnow",
]

ASC, DESC = pymongo.ASCENDING, pymongo.DESCENDING


def _idx(*keys: tuple[str, int], **kwargs: Any) -> pymongo.IndexModel:
    return pymongo.IndexModel(list(keys), **kwargs)


class Service(Model):
    """A service a provider offers; ``rating_sum``/``rating_count`` are kept by ``$inc``."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_services",
        "indexes": lambda: [
            _idx(("active", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("active", ASC), ("price", ASC), ("_id", ASC)),
            _idx(("category", ASC), ("active", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("category", ASC), ("active", ASC), ("price", ASC), ("_id", ASC)),
            _idx(("provider_id", ASC), ("active", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("provider_id", ASC), ("active", ASC), ("price", ASC), ("_id", ASC)),
            _idx(("provider_id", ASC), ("name", ASC)),
        ],
    }

    provider_id: ObjectId
    name: str
    description: str = ""
    category: str
    price: int
    currency: str
    duration_minutes: int
    active: bool = True
    images: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    availability: dict[str, list[dict[str, str]]] = Field(default_factory=dict)
    rating_sum: int = 0
    rating_count: int = 0
    revision: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Booking(Model):
    """A booking of a service; ``slot_keys`` are its claims in ``bookings_slot_claims``."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_bookings",
        "indexes": lambda: [
            _idx(("customer_id", ASC), ("start", ASC), ("_id", ASC)),
            _idx(("customer_id", ASC), ("status", ASC), ("start", ASC), ("_id", ASC)),
            _idx(("provider_id", ASC), ("start", ASC), ("_id", ASC)),
            _idx(("provider_id", ASC), ("status", ASC), ("start", ASC), ("_id", ASC)),
            _idx(("start", ASC), ("_id", ASC)),
            _idx(("status", ASC), ("start", ASC), ("_id", ASC)),
            _idx(("status", ASC), ("paid", ASC), ("created_at", ASC)),  # expiry
        ],
    }

    service_id: ObjectId
    service_name: str
    provider_id: ObjectId
    customer_id: ObjectId
    start: datetime
    end: datetime
    timezone: str
    status: str = "pending"
    price: int
    currency: str
    paid: bool = False
    payment_id: str | None = None
    notes: str = ""
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SlotClaim(Model):
    """One 5-minute slot of one provider held by an active booking.

    The ``_id`` is ``<provider id>:<slot start, epoch minutes>``, so the always-unique
    ``_id`` index lets exactly one booking hold a slot; claims are inserted in one
    transaction with their booking and deleted when it is cancelled. ``expires_at``
    (the slot's end plus a day) lets MongoDB drop claims of the past.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_slot_claims",
        "indexes": lambda: [
            _idx(("booking_id", ASC)),
            _idx(("expires_at", ASC), expireAfterSeconds=0),
        ],
    }

    id: str = Field(primary_field=True)
    booking_id: ObjectId
    expires_at: datetime


class PendingHolds(Model):
    """A customer's unpaid pending bookings, counted for the cap (``_id``: the customer).

    ``n`` is ``len(holds)``, kept beside it so the cap is a plain comparison (``n < cap``)
    in the filter of the ``find_one_and_update`` that takes a hold.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_pending_holds",
    }

    id: ObjectId = Field(primary_field=True)
    n: int = 0
    holds: list[ObjectId] = Field(default_factory=list)


class Review(Model):
    """A customer's review of a completed booking (one per booking)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_reviews",
        "indexes": lambda: [
            _idx(("booking_id", ASC), unique=True),
            _idx(("service_id", ASC), ("created_at", DESC), ("_id", DESC)),
        ],
    }

    booking_id: ObjectId
    service_id: ObjectId
    service_name: str
    provider_id: ObjectId
    customer_id: ObjectId
    rating: int
    comment: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class ReminderMarker(Model):
    """``booking.reminder_due`` was emitted for a booking and day (``_id`` ``<booking>:<day>``)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "bookings_reminders",
        "indexes": lambda: [_idx(("expires_at", ASC), expireAfterSeconds=0)],
    }

    id: str = Field(primary_field=True)
    expires_at: datetime


MODELS: tuple[type[Model], ...] = (
    Service,
    Booking,
    SlotClaim,
    PendingHolds,
    Review,
    ReminderMarker,
)
