"""Events published by the notifications plugin; other plugins may import this module."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from core.events import Event


class NotificationCreated(Event, frozen=True, kw_only=True):
    """An in-app notification was added to a user's inbox (realtime pushes it live)."""

    name: ClassVar[str] = "notification.created"
    notification_id: str
    user_id: str
    kind: str
    """The event that caused it, e.g. ``booking.created``."""
    title: str
    body: str
    data: dict[str, str]
    """Ids the client may link to (``booking_id``, ``payment_id``, ...)."""
    created_at: datetime


EVENT_TYPES: tuple[type[Event], ...] = (NotificationCreated,)
"""The notifications plugin's events, for the event catalog."""
