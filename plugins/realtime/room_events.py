"""The built-in room events: ``joinRoom``, ``leaveRoom`` and ``message``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from valkey.exceptions import ValkeyError

from plugins.realtime import contacts, service
from plugins.realtime.protocol import (
    INVALID_DATA,
    NOT_FOUND,
    UNAVAILABLE,
    MessageIn,
    RoomRef,
    WsError,
    frame,
    one_of,
)

if TYPE_CHECKING:
    from plugins.realtime.connection import Connection
    from plugins.realtime.hookspecs import WsContext
    from plugins.realtime.hub import Hub
    from plugins.realtime.models import Message, Room

TOUCH_EVERY_S = 1.0
"""How often a process updates a busy room's ``last_message_at``."""
TOUCH_MEMBERS_PER_S = 100
"""... and in a room of more members than this, once per ``members / this`` seconds."""


async def ensure_member(hub: Hub, conn: Connection, room_id: str) -> tuple[str, ...]:
    """The members of ``room_id``; ``not_found`` unless ``conn``'s user is one (and no
    block separates them from the other member)."""
    members = hub.rooms.get(room_id)
    if members is None:
        members = hub.rooms.put(await service.member_room(hub.keel, room_id, conn.user.id))
    if conn.user.id not in members:
        raise WsError(NOT_FOUND, f"room {room_id} not found")
    await _ensure_unblocked(hub, conn, members, room_id)
    return members


async def _ensure_unblocked(
    hub: Hub, conn: Connection, members: tuple[str, ...] | list[str], room_id: str
) -> None:
    """``not_found`` when one of the two members of a room blocked the other."""
    others = [m for m in members if m != conn.user.id]
    if (
        len(others) == 1
        and others[0] not in conn.contacts  # a known contact is unblocked
        and await contacts.blocked_among(hub.keel, conn.user.id, others)
    ):
        raise WsError(NOT_FOUND, f"room {room_id} not found")


async def visible(hub: Hub, conn: Connection, user_ids: list[str]) -> set[str]:
    """Those of ``user_ids`` who are contacts of ``conn``'s user (remembered on the socket):
    whose presence and typing it may see."""
    found = {u for u in user_ids if u in conn.contacts}
    rest = [u for u in user_ids if u not in found and u != conn.user.id]
    if rest:
        more = await contacts.contacts_among(hub.keel, conn.user.id, rest)
        hub.know(conn, more)
        found |= more
    return found


async def _resolve(hub: Hub, conn: Connection, ref: RoomRef | MessageIn, event: str) -> Room:
    refs: dict[str, str | None] = {"room_id": ref.room_id}
    if isinstance(ref, MessageIn):
        refs["receiver_id"] = ref.receiver_id
    else:
        refs["user_id"] = ref.user_id
    field, value = one_of(event, **refs, booking_id=ref.booking_id)
    if field == "room_id":
        room = await service.member_room(hub.keel, value, conn.user.id)
        await _ensure_unblocked(hub, conn, room.members, value)
    elif field in {"user_id", "receiver_id"}:
        room = await service.direct_room(hub.keel, conn.user.id, value)
    else:
        room = await service.booking_room(hub.keel, value, conn.user.id)
    hub.rooms.put(room)
    return room


async def on_join_room(ctx: WsContext, ref: RoomRef) -> None:
    """``joinRoom`` (members only) -> ``roomJoined``; creates a direct/booking room."""
    hub, conn = ctx.hub, ctx.connection
    room = await _resolve(hub, conn, ref, "joinRoom")
    hub.join(conn, str(room.id))
    if room.kind in service.FOLLOWED_KINDS:  # their presence, if contacts
        hub.watch(conn, await visible(hub, conn, room.members))
    conn.push(frame("roomJoined", {"room": service.room_data(room)}))


async def on_leave_room(ctx: WsContext, ref: RoomRef) -> None:
    """``leaveRoom`` -> ``roomLeft``."""
    _, room_id = one_of("leaveRoom", room_id=ref.room_id)
    ctx.hub.leave(ctx.connection, room_id)
    ctx.connection.push(frame("roomLeft", {"roomId": room_id}))


async def on_message(ctx: WsContext, data: MessageIn) -> None:
    """``message``: stored, then delivered to every socket of every member."""
    hub, conn = ctx.hub, ctx.connection
    if len(data.text) > hub.settings.max_message_chars:
        limit = hub.settings.max_message_chars
        raise WsError(INVALID_DATA, f"'message': text is longer than {limit} characters")
    if data.room_id is not None:
        room_id, members = data.room_id, await ensure_member(hub, conn, data.room_id)
    else:
        room = await _resolve(hub, conn, data, "message")
        room_id, members = str(room.id), tuple(room.members)
    message = await service.post_message(hub.keel, room_id, conn.user.id, data.text, data.client_id)
    # before delivery, so that a reply finds the conversation started (both wrote: contacts)
    if await contacts.note_message(hub.keel, room_id, conn.user.id):
        hub.know(conn, members)
    try:
        await hub.to_users(members, frame("message", service.message_data(message)))
    except (ValkeyError, OSError):
        raise WsError(
            UNAVAILABLE,
            f"message {message.client_id or message.id} stored but not delivered (Valkey"
            " unreachable): send it again with the same clientId",
        ) from None
    _touch(hub, room_id, len(members), message)


def _touch(hub: Hub, room_id: str, members: int, message: Message) -> None:
    """Move the room's activity time in the background: at most once a second per
    process, and in big rooms less often (each move rewrites an index entry per member)."""
    now = time.monotonic()
    every = max(TOUCH_EVERY_S, members / TOUCH_MEMBERS_PER_S)
    if now - hub.touched.get(room_id, -every) >= every:
        hub.touched.pop(room_id, None)
        hub.touched[room_id] = now
        if len(hub.touched) > hub.settings.room_cache_size:
            hub.touched.popitem(last=False)
        hub.background(service.touch_room(hub.keel, message))
