"""Typed domain events and the event bus.

An event is a frozen msgspec Struct with a class-level ``name`` (``<area>.<past-tense>``)::

    class BookingCreated(Event, frozen=True, kw_only=True):
        name: ClassVar[str] = "booking.created"
        booking_id: str
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

import msgspec


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event. ``id`` identifies one occurrence (dedupe key of deliveries)."""

    name: ClassVar[str]
    id: str = msgspec.field(default_factory=_new_id)
    occurred_at: datetime = msgspec.field(default_factory=_now)
