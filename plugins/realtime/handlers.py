"""The built-in client events: ping, refresh, typing, presence, rooms and messages."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from plugins.realtime import service
from plugins.realtime.protocol import (
    INVALID_DATA,
    NOT_FOUND,
    MessageIn,
    OnlineStatusQuery,
    RoomRef,
    Target,
    WsError,
    decode_data,
    frame,
    one_of,
)
from plugins.realtime.tokens import on_refresh

if TYPE_CHECKING:
    from plugins.realtime.connection import Connection
    from plugins.realtime.hub import Hub
    from plugins.realtime.models import Room

Builtin = Callable[["Hub", "Connection", msgspec.Raw], Awaitable[None]]
PONG = frame("pong", {})
TOUCH_EVERY_S = 1.0
"""How often a process updates a busy room's ``last_message_at``."""
TOUCH_MEMBERS_PER_S = 100
"""... and in a room of more members than this, once per ``members / this`` seconds."""


async def on_ping(_hub: Hub, conn: Connection, _raw: msgspec.Raw) -> None:
    """``ping`` -> ``pong``."""
    conn.push(PONG)


async def on_pong(_hub: Hub, _conn: Connection, _raw: msgspec.Raw) -> None:
    """``pong``: the answer to a server ``ping`` (any frame resets the heartbeat)."""


# -- typing ----------------------------------------------------------------------------------


async def _typing_target(hub: Hub, conn: Connection, raw: msgspec.Raw, event: str) -> str:
    target = decode_data(raw, Target, event)
    field, value = one_of(event, receiver_id=target.receiver_id, room_id=target.room_id)
    if field == "room_id":
        await ensure_member(hub, conn, value)
        return f"r:{value}"
    if value == conn.user.id:
        raise WsError(INVALID_DATA, f"{event!r}: receiverId is the sender")
    if hub.settings.messages and value not in conn.contacts:
        # only to someone the sender talks with: a direct or booking room of the two
        if not await service.shares_room(hub.keel, conn.user.id, value):
            raise WsError(
                NOT_FOUND,
                f"{event!r}: no conversation with user {value}; joinRoom with its userId first",
            )
        hub.know(conn, [value])
    return f"u:{value}"


def _typing_frame(event: str, conn: Connection, key: str, timeout_s: float) -> str:
    data: dict[str, Any] = {"userId": conn.user.id}
    if key.startswith("r:"):
        data["roomId"] = key[2:]
    else:
        data["receiverId"] = key[2:]
    if event == "typing":
        data["expiresInMs"] = int(timeout_s * 1000)
    return frame(event, data)


_TYPING = """
if ARGV[1] == '0' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return redis.call('PUBLISH', KEYS[2], ARGV[2])
"""


async def send_typing(hub: Hub, conn: Connection, key: str, event: str) -> None:
    """Publish ``typing`` / ``stopTyping`` of ``conn``'s user for target ``key``.

    One script call sets (or deletes) the indicator's state key
    ``<prefix>:realtime:typing:<target>:<user>``, living ``typing_timeout_s``, and
    publishes the frame: one round trip on the hot path.
    """
    timeout = hub.settings.typing_timeout_s
    text = _typing_frame(event, conn, key, timeout)
    payload = hub.envelope("r" if key[0] == "r" else "u", [key[2:]], text, conn.user.id)
    state = hub.keel.key("realtime", "typing", key, conn.user.id)
    ttl_ms = int(timeout * 1000) if event == "typing" else 0
    script = hub.scripts.get("typing")
    if script is None:
        script = hub.scripts["typing"] = hub.keel.valkey.register_script(_TYPING)
    await script(keys=[state, hub.channel], args=[ttl_ms, payload])


async def on_typing(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``typing``: to a user or a room's joined sockets; ends by itself after the timeout."""
    key = await _typing_target(hub, conn, raw, "typing")
    hub.typing_until(conn, key, time.monotonic() + hub.settings.typing_timeout_s)
    await send_typing(hub, conn, key, "typing")


async def on_stop_typing(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``stopTyping``: ends a typing indicator."""
    key = await _typing_target(hub, conn, raw, "stopTyping")
    conn.typing.pop(key, None)
    await send_typing(hub, conn, key, "stopTyping")


async def stop_all_typing(hub: Hub, conn: Connection) -> None:
    """A closing socket ends its user's typing indicators."""
    keys = list(conn.typing)
    conn.typing.clear()
    for key in keys:
        await send_typing(hub, conn, key, "stopTyping")


# -- presence ----------------------------------------------------------------------------------


async def on_get_online_status(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``getOnlineStatus`` -> ``onlineStatus``; the socket then follows their changes."""
    query = decode_data(raw, OnlineStatusQuery, "getOnlineStatus")
    hub.watch(conn, query.user_ids)
    users = await hub.presence.status(list(dict.fromkeys(query.user_ids)))
    conn.push(frame("onlineStatus", {"users": users}))


# -- rooms and messages ------------------------------------------------------------------------


async def ensure_member(hub: Hub, conn: Connection, room_id: str) -> tuple[str, ...]:
    """The members of ``room_id``; ``not_found`` unless ``conn``'s user is one."""
    members = hub.rooms.get(room_id)
    if members is None:
        members = hub.rooms.put(await service.member_room(hub.keel, room_id, conn.user.id))
    if conn.user.id not in members:
        raise WsError(NOT_FOUND, f"room {room_id} not found")
    return members


async def _resolve(hub: Hub, conn: Connection, ref: RoomRef | MessageIn, event: str) -> Room:
    refs: dict[str, str | None] = {"room_id": ref.room_id}
    if isinstance(ref, MessageIn):
        refs["receiver_id"] = ref.receiver_id
    else:
        refs["user_id"] = ref.user_id
    field, value = one_of(event, **refs, booking_id=ref.booking_id)
    if field == "room_id":
        room = await service.member_room(hub.keel, value, conn.user.id)
    elif field in {"user_id", "receiver_id"}:
        room = await service.direct_room(hub.keel, conn.user.id, value)
    else:
        room = await service.booking_room(hub.keel, value, conn.user.id)
    hub.rooms.put(room)
    return room


async def on_join_room(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``joinRoom`` (members only) -> ``roomJoined``; creates a direct/booking room."""
    room = await _resolve(hub, conn, decode_data(raw, RoomRef, "joinRoom"), "joinRoom")
    hub.join(conn, str(room.id))
    if room.kind in service.FOLLOWED_KINDS:
        hub.know(conn, room.members)
        hub.watch(conn, room.members)
    conn.push(frame("roomJoined", {"room": service.room_data(room)}))


async def on_leave_room(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``leaveRoom`` -> ``roomLeft``."""
    ref = decode_data(raw, RoomRef, "leaveRoom")
    _, room_id = one_of("leaveRoom", room_id=ref.room_id)
    hub.leave(conn, room_id)
    conn.push(frame("roomLeft", {"roomId": room_id}))


async def on_message(hub: Hub, conn: Connection, raw: msgspec.Raw) -> None:
    """``message``: stored, then delivered to every socket of every member."""
    data = decode_data(raw, MessageIn, "message")
    if len(data.text) > hub.settings.max_message_chars:
        limit = hub.settings.max_message_chars
        raise WsError(INVALID_DATA, f"'message': text is longer than {limit} characters")
    if data.room_id is not None:
        room_id, members = data.room_id, await ensure_member(hub, conn, data.room_id)
    else:
        room = await _resolve(hub, conn, data, "message")
        room_id, members = str(room.id), tuple(room.members)
        hub.know(conn, members)
    message = await service.post_message(hub.keel, room_id, conn.user.id, data.text, data.client_id)
    await hub.to_users(members, frame("message", service.message_data(message)))
    # the room's activity time moves in the background, at most once a second per process,
    # and in big rooms less often: each move rewrites an index entry per member
    now = time.monotonic()
    every = max(TOUCH_EVERY_S, len(members) / TOUCH_MEMBERS_PER_S)
    if now - hub.touched.get(room_id, -every) >= every:
        hub.touched.pop(room_id, None)
        hub.touched[room_id] = now
        if len(hub.touched) > hub.settings.room_cache_size:
            hub.touched.popitem(last=False)
        hub.background(service.touch_room(hub.keel, message))


BUILTINS: dict[str, tuple[str | None, Builtin]] = {
    "ping": (None, on_ping),
    "pong": (None, on_pong),
    "refresh": (None, on_refresh),
    "typing": ("typing", on_typing),
    "stopTyping": ("typing", on_stop_typing),
    "getOnlineStatus": ("presence", on_get_online_status),
    "joinRoom": ("messages", on_join_room),
    "leaveRoom": ("messages", on_leave_room),
    "message": ("messages", on_message),
}
"""Event name -> (the feature switch that governs it, or None; handler)."""
