"""The base class of every event (re-exported by :mod:`core.events` and :mod:`core`)."""

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

    def aggregate(self) -> str:
        """The thing this event is about (e.g. ``booking:<id>``); durable deliveries of one
        aggregate's events run in the order the events were written. ``""``: no order."""
        return ""
