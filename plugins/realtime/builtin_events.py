"""Realtime's own client events, as :class:`WsEvent` records like any plugin's.

The realtime plugin returns :data:`BUILTIN_EVENTS` from its ``register_ws_events``, so
they enter the event table and the dispatch path exactly as other plugins' events do.
"""

from __future__ import annotations

from typing import Any

from plugins.realtime.hookspecs import WsContext, WsEvent
from plugins.realtime.protocol import (
    MessageIn,
    OnlineStatusQuery,
    RefreshIn,
    RoomRef,
    Target,
    frame,
)
from plugins.realtime.room_events import on_join_room, on_leave_room, on_message, visible
from plugins.realtime.tokens import on_refresh
from plugins.realtime.typing_indicators import on_stop_typing, on_typing

PONG = frame("pong", {})


async def on_ping(ctx: WsContext, _data: Any) -> None:
    """``ping`` -> ``pong``."""
    ctx.connection.push(PONG)


async def on_pong(_ctx: WsContext, _data: Any) -> None:
    """``pong``: the answer to a server ``ping`` (any frame resets the heartbeat)."""


async def on_get_online_status(ctx: WsContext, query: OnlineStatusQuery) -> None:
    """``getOnlineStatus`` -> ``onlineStatus``; the socket then follows their changes.

    Only contacts (and oneself) are shown and followed; anyone else answers
    ``online: null``, exactly as an id that does not exist.
    """
    hub, conn = ctx.hub, ctx.connection
    ids = list(dict.fromkeys(query.user_ids))
    shown = await visible(hub, conn, ids)
    if conn.user.id in ids:
        shown.add(conn.user.id)
    hub.watch(conn, [u for u in ids if u in shown])
    known = {u["userId"]: u for u in await hub.presence.status([u for u in ids if u in shown])}
    unknown: dict[str, Any] = {"online": None, "lastSeen": None}
    users = [known.get(u) or {"userId": u, **unknown} for u in ids]
    conn.push(frame("onlineStatus", {"users": users}))


BUILTIN_EVENTS: tuple[WsEvent, ...] = (
    WsEvent("ping", on_ping),
    WsEvent("pong", on_pong),
    WsEvent("refresh", on_refresh, RefreshIn),
    WsEvent("typing", on_typing, Target, feature="typing"),
    WsEvent("stopTyping", on_stop_typing, Target, feature="typing"),
    WsEvent("getOnlineStatus", on_get_online_status, OnlineStatusQuery, feature="presence"),
    WsEvent("joinRoom", on_join_room, RoomRef, feature="messages"),
    WsEvent("leaveRoom", on_leave_room, RoomRef, feature="messages"),
    WsEvent("message", on_message, MessageIn, feature="messages"),
)
"""The built-in events; ``feature`` names the ``[plugins.realtime]`` switch of each."""
