"""Request and response bodies of the notifications routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from core.pagination import MAX_LIMIT

MAX_PAGE_SIZE = MAX_LIMIT
EventName = Annotated[str, Meta(min_length=3, max_length=64, pattern=r"^[a-z_]+\.[a-z_]+$")]


class _In(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are rejected."""


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the caller's inbox."""

    id: str
    kind: str
    """The event that caused it, e.g. ``booking.created``."""
    title: str
    body: str
    data: dict[str, str]
    """Ids of what it is about (``booking_id``, ``payment_id``, ...)."""
    read: bool
    read_at: datetime | None
    created_at: datetime


class NotificationPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the caller's inbox, newest first."""

    items: list[Notification]
    total: int
    page: int
    limit: int


class UnreadCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many notifications the caller has not read."""

    count: int


class Updated(msgspec.Struct, frozen=True, kw_only=True):
    """How many notifications a bulk change touched."""

    updated: int


class ChannelChoice(_In, frozen=True):
    """On/off per channel; a channel left out keeps its current setting."""

    email: bool | UnsetType = UNSET
    in_app: bool | UnsetType = UNSET


class PreferencesUpdate(_In, frozen=True):
    """``{"preferences": {"booking.created": {"email": false}}}``."""

    preferences: Annotated[dict[EventName, ChannelChoice], Meta(max_length=32)]


class EventPreference(msgspec.Struct, frozen=True, kw_only=True):
    """The caller's choice for one event type."""

    event: str
    description: str
    channels: dict[str, bool]
    """The channels this event uses, each on or off."""
    always_sent: list[str]
    """Channels sent whatever the choice (receipts and security mail)."""


class Preferences(msgspec.Struct, frozen=True, kw_only=True):
    """Every event type the caller can be notified about."""

    items: list[EventPreference]


class ActivityEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the caller's activity log."""

    kind: str
    changed: list[str]
    at: datetime


class ActivityPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of the caller's activity log, newest first."""

    items: list[ActivityEntry]
    total: int
    page: int
    limit: int
