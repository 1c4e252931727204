"""Typing indicators: the ``typing`` / ``stopTyping`` events and the timer that ends them.

An indicator lives ``typing_timeout_s`` unless a new ``typing`` frame refreshes it. Its
target is ``u:<user>``, ``r:<room>`` or ``u:<user>:<room>`` (a user's sockets, scoped to a
room: the seed's ``{receiverId, roomId, isTyping}``). Its state key
``<prefix>:realtime:typing:<target>:<user>`` expires by itself in Valkey; the
sending process tells the receivers when it ends (``stopTyping``): on a ``stopTyping``
frame, when the socket closes, and through :class:`TypingTimer` when the timeout passes.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from plugins.realtime.bus import envelope
from plugins.realtime.protocol import INVALID_DATA, NOT_FOUND, Target, WsError, frame, one_of
from plugins.realtime.room_events import ensure_member, visible

if TYPE_CHECKING:
    from plugins.realtime.connection import Connection
    from plugins.realtime.hookspecs import WsContext
    from plugins.realtime.hub import Hub

_TYPING = """
if ARGV[1] == '0' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return redis.call('PUBLISH', KEYS[2], ARGV[2])
"""


async def on_typing(ctx: WsContext, target: Target) -> None:
    """``typing``: to a user or a room's joined sockets; ends by itself after the timeout.

    ``isTyping: false`` (the seed's clients) is a ``stopTyping``.
    """
    if not target.is_typing:
        await on_stop_typing(ctx, target)
        return
    hub, conn = ctx.hub, ctx.connection
    key = await _typing_target(hub, conn, target, "typing")
    hub.typing_timer.typing_until(conn, key, time.monotonic() + hub.settings.typing_timeout_s)
    await send_typing(hub, conn, key, "typing")


async def on_stop_typing(ctx: WsContext, target: Target) -> None:
    """``stopTyping``: ends a typing indicator (``isTyping`` is accepted and ignored)."""
    hub, conn = ctx.hub, ctx.connection
    key = await _typing_target(hub, conn, target, "stopTyping")
    conn.typing.pop(key, None)
    await send_typing(hub, conn, key, "stopTyping")


async def stop_all_typing(hub: Hub, conn: Connection) -> None:
    """A closing socket ends its user's typing indicators."""
    keys = list(conn.typing)
    conn.typing.clear()
    for key in keys:
        await send_typing(hub, conn, key, "stopTyping")


async def _typing_target(hub: Hub, conn: Connection, target: Target, event: str) -> str:
    """Where ``conn`` may send its indicator: ``r:<room>`` (the room's joined sockets),
    ``u:<user>`` (the user's sockets) or ``u:<user>:<room>`` (the user's sockets, the
    indicator scoped to a room both are members of)."""
    if target.receiver_id is not None and target.room_id is not None:
        members = await ensure_member(hub, conn, target.room_id)
        if target.receiver_id not in members:
            raise WsError(NOT_FOUND, f"{event!r}: user {target.receiver_id} is not in the room")
        user_key = await _user_target(hub, conn, target.receiver_id, event)
        return f"{user_key}:{target.room_id}"
    field, value = one_of(event, receiver_id=target.receiver_id, room_id=target.room_id)
    if field == "room_id":
        members = await ensure_member(hub, conn, value)
        others = [m for m in members if m != conn.user.id]
        if len(others) == 1 and not await visible(hub, conn, others):
            raise WsError(NOT_FOUND, f"{event!r}: user {others[0]} is not a contact")
        return f"r:{value}"
    return await _user_target(hub, conn, value, event)


async def _user_target(hub: Hub, conn: Connection, user_id: str, event: str) -> str:
    if user_id == conn.user.id:
        raise WsError(INVALID_DATA, f"{event!r}: receiverId is the sender")
    if not await visible(hub, conn, [user_id]):  # only between contacts
        raise WsError(NOT_FOUND, f"{event!r}: user {user_id} is not a contact")
    return f"u:{user_id}"


def _typing_frame(event: str, conn: Connection, key: str, timeout_s: float) -> str:
    target, _, room = key[2:].partition(":")
    data: dict[str, Any] = {"userId": conn.user.id}
    if key.startswith("r:"):
        data["roomId"] = target
    else:
        data["receiverId"] = target
        if room:
            data["roomId"] = room
    data["isTyping"] = event == "typing"
    if event == "typing":
        data["expiresInMs"] = int(timeout_s * 1000)
    return frame(event, data)


async def send_typing(hub: Hub, conn: Connection, key: str, event: str) -> None:
    """Publish ``typing`` / ``stopTyping`` of ``conn``'s user for target ``key``.

    One script call sets (or deletes) the indicator's state key
    ``<prefix>:realtime:typing:<target>:<user>``, living ``typing_timeout_s``, and
    publishes the frame: one round trip on the hot path.
    """
    timeout = hub.settings.typing_timeout_s
    text = _typing_frame(event, conn, key, timeout)
    target = key[2:].partition(":")[0]
    payload = envelope("r" if key[0] == "r" else "u", [target], text, conn.user.id)
    state = hub.keel.key("realtime", "typing", key, conn.user.id)
    ttl_ms = int(timeout * 1000) if event == "typing" else 0
    script = hub.scripts.get("typing")
    if script is None:
        script = hub.scripts["typing"] = hub.keel.valkey.register_script(_TYPING)
    await script(keys=[state, hub.channel], args=[ttl_ms, payload])


class TypingTimer:
    """Ends the process's typing indicators that pass their deadline.

    One timer per process, not one per frame: it wakes every tenth of the timeout while
    indicators are under way and ends the ones past their deadline (``stopTyping`` to
    their receivers), so an indicator ends within 110% of it.

    Args:
        hub: the process's hub (its settings, and its background tasks that publish).
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._typists: set[Connection] = set()
        """Sockets with an indicator under way."""
        self._timer: asyncio.TimerHandle | None = None

    def typing_until(self, conn: Connection, key: str, deadline: float) -> None:
        """Keep ``conn``'s indicator for ``key`` until ``deadline`` (``time.monotonic``)."""
        conn.typing[key] = deadline
        self._typists.add(conn)
        if self._timer is None:
            self._arm()

    def close(self) -> None:
        """Stop the timer (the hub is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        step = self.hub.settings.typing_timeout_s / 10
        self._timer = asyncio.get_running_loop().call_later(step, self._end_typing)

    def _end_typing(self) -> None:
        self._timer = None
        now = time.monotonic()
        for conn in list(self._typists):
            for key, deadline in list(conn.typing.items()):
                if deadline <= now:
                    del conn.typing[key]
                    self.hub.background(send_typing(self.hub, conn, key, "stopTyping"))
            if not conn.typing or conn.closing:
                self._typists.discard(conn)
        if self._typists:
            self._arm()
