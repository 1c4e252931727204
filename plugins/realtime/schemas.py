"""Response Structs of the history, blocks and online-count routes."""

from __future__ import annotations

import msgspec


class RoomOut(msgspec.Struct, frozen=True, rename="camel"):
    """A room the caller is a member of."""

    id: str
    kind: str
    members: list[str]
    booking_id: str | None
    created_at: str
    last_message_at: str


class RoomPage(msgspec.Struct, frozen=True, rename="camel"):
    """A page of rooms, most recently active first."""

    items: list[RoomOut]
    page: int
    limit: int
    total: int


class MessageOut(msgspec.Struct, frozen=True, rename="camel"):
    """A stored message."""

    id: str
    room_id: str
    sender_id: str
    text: str
    client_id: str | None
    created_at: str


class MessagePage(msgspec.Struct, frozen=True, rename="camel"):
    """Messages newest first; pass ``next_before`` as ``before`` for older ones."""

    items: list[MessageOut]
    next_before: str | None


class BlockOut(msgspec.Struct, frozen=True, rename="camel"):
    """A user the caller blocked."""

    user_id: str
    created_at: str


class BlockPage(msgspec.Struct, frozen=True, rename="camel"):
    """A page of blocked users, most recently blocked first."""

    items: list[BlockOut]
    page: int
    limit: int
    total: int


class OnlineCount(msgspec.Struct, frozen=True, rename="camel"):
    """How many distinct users have an open socket on any process."""

    count: int
