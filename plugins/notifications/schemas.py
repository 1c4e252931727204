"""Request and response bodies of the notifications routes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar.params import KwargDefinition
from msgspec import UNSET, Meta, UnsetType

from core.pagination import MAX_LIMIT
from plugins.notifications.reactions import REACTIONS, Reaction

MAX_PAGE_SIZE = MAX_LIMIT
EventName = Annotated[str, Meta(min_length=3, max_length=64, pattern=r"^[a-z_]+\.[a-z_]+$")]
WIRE_CHANNELS: dict[str, str] = {"email": "email", "in_app": "inApp"}
"""A channel's name on the wire (and in the OpenAPI document) by its Python name."""


class _In(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """Base of request bodies: unknown fields are rejected."""


class _Out(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of response bodies."""


class Notification(_Out, frozen=True):
    """One entry of the caller's inbox."""

    id: str
    kind: str
    """The event that caused it, e.g. ``booking.created``."""
    title: str
    body: str
    data: dict[str, str]
    """Ids of what it is about (``bookingId``, ``paymentId``, ...)."""
    read: bool
    read_at: datetime | None
    created_at: datetime


class NotificationPage(_Out, frozen=True):
    """One page of the caller's inbox, newest first."""

    items: list[Notification]
    total: int
    page: int
    limit: int


class UnreadCount(_Out, frozen=True):
    """How many notifications the caller has not read."""

    count: int


class Updated(_Out, frozen=True):
    """How many notifications a bulk change touched."""

    updated: int


class ChannelChoice(_In, frozen=True):
    """On/off per channel; a channel left out keeps its current setting."""

    email: bool | UnsetType = UNSET
    in_app: bool | UnsetType = UNSET


def _choice_schema(reaction: Reaction) -> dict[str, Any]:
    """The JSON schema of one event type's choice: only its channels; a receipt's email
    may only be on."""
    properties: dict[str, Any] = {}
    for channel in reaction.channels:
        locked = channel == "email" and reaction.always_email
        properties[WIRE_CHANNELS[channel]] = (
            {"type": "boolean", "const": True} if locked else {"type": "boolean"}
        )
    return {"type": "object", "properties": properties, "additionalProperties": False}


PREFERENCES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Event type -> channel -> on/off. Only the event types below, each with "
    "only the channels it uses; receipts and security mail (email) cannot be switched off.",
    "maxProperties": len(REACTIONS),
    "propertyNames": {"enum": [r.event for r in REACTIONS]},
    "patternProperties": {f"^{re.escape(r.event)}$": _choice_schema(r) for r in REACTIONS},
    "additionalProperties": False,
}
"""What the server accepts, in the OpenAPI document (map keys and per-type channels are
beyond what Litestar derives from the type)."""


class PreferencesUpdate(_In, frozen=True):
    """``{"preferences": {"booking.created": {"email": false}}}``."""

    preferences: Annotated[
        dict[EventName, ChannelChoice],
        Meta(max_length=32),
        KwargDefinition(schema_extra=PREFERENCES_SCHEMA),
    ]


class EventPreference(_Out, frozen=True):
    """The caller's choice for one event type."""

    event: str
    description: str
    channels: dict[str, bool]
    """The channels this event uses (``email``, ``inApp``), each on or off."""
    always_sent: list[str]
    """Channels sent whatever the choice (receipts and security mail)."""


class Preferences(_Out, frozen=True):
    """Every event type the caller can be notified about."""

    items: list[EventPreference]


class ActivityEntry(_Out, frozen=True):
    """One entry of the caller's activity log."""

    kind: str
    changed: list[str]
    at: datetime


class ActivityPage(_Out, frozen=True):
    """One page of the caller's activity log, newest first."""

    items: list[ActivityEntry]
    total: int
    page: int
    limit: int
