"""One socket's life: authentication, the read loop, cleanup (frames: ``dispatch``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from core.errors import DomainError
from core.http import server_send
from core.http.clients import client_key
from plugins.accounts.api import authenticate
from plugins.realtime import service
from plugins.realtime.connection import Connection
from plugins.realtime.dispatch import dispatch
from plugins.realtime.hookspecs import WsContext
from plugins.realtime.presence import iso_seen
from plugins.realtime.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY_UPGRADES,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    RATE_LIMITED,
    TOO_MANY_UPGRADES,
    error_frame,
    frame,
)
from plugins.realtime.sockets import EVICT, evict
from plugins.realtime.typing_indicators import stop_all_typing

if TYPE_CHECKING:
    from litestar import WebSocket

    from plugins.realtime.hub import Hub

log = logging.getLogger("plugins.realtime")
SUBPROTOCOL = "keel"
"""Offered next to the token in ``Sec-WebSocket-Protocol``; the server selects it."""
FLUSH_S = 0.5
"""How long a closing socket's waiting frames may take to go out."""
CLOSE_FRAME_S = 5.0
"""How long the close frame may wait behind bytes the client has not read yet."""
UPGRADE_WINDOW_S = 60
"""The fixed window of ``upgrades_per_ip_per_minute``."""


def _bearer(socket: WebSocket[Any, Any, Any]) -> str | None:
    header = socket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None  # none, or malformed: ``authenticate`` says what is wrong


def _offered(socket: WebSocket[Any, Any, Any]) -> list[str]:
    header = socket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


async def _upgrade_allowed(hub: Hub, socket: WebSocket[Any, Any, Any]) -> bool:
    """Count this upgrade for its client IP (in Valkey, over every process); False when
    the IP is over ``upgrades_per_ip_per_minute`` in the current one-minute window."""
    limit = hub.settings.upgrades_per_ip_per_minute
    if not limit:
        return True
    ip = client_key(socket.client.host if socket.client else "unknown")
    window = int(time.time()) // UPGRADE_WINDOW_S
    key = hub.keel.key("realtime", "upgrades", ip, str(window))
    try:
        async with hub.keel.valkey.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, UPGRADE_WINDOW_S * 2)
            count, _ = await pipe.execute()
    except Exception:  # Valkey is down: realtime fails anyway, the limit must not mask why
        log.warning("realtime: upgrade count failed for %s", ip, exc_info=True)
        return True
    return int(count) <= limit


async def _enforce_limit(hub: Hub, conn: Connection) -> None:
    """Close the user's oldest sockets beyond ``max_sockets_per_user``, on any process."""
    limit, user_id = hub.settings.max_sockets_per_user, conn.user.id
    try:
        members = await hub.sockets.opened(user_id, conn.id, limit)
    except Exception:  # Valkey is down: hold the limit in this process at least
        log.warning("realtime: socket count failed for user %s", user_id, exc_info=True)
        live = [c for c in hub.by_user.get(user_id, ()) if not c.closing and c is not conn]
        live.sort(key=lambda c: int(c.id))  # ids count up within a process
        members = [hub.sockets.member(c.id) for c in live[: max(len(live) + 1 - limit, 0)]]
    if not members:
        return
    evict(hub.by_user.get(user_id, ()), hub.sockets, ",".join(members))
    own = f"{hub.process_id}:"
    if remote := [m for m in members if not m.startswith(own)]:
        await hub.publish(EVICT, [user_id], ",".join(remote))


async def open_session(hub: Hub, socket: WebSocket[Any, Any, Any]) -> None:
    """Accept, authenticate (else close 4401), then serve the socket until it closes."""
    if not await _upgrade_allowed(hub, socket):
        await socket.accept()  # a close code the client can read, not a bare HTTP 403
        await socket.close(code=CLOSE_TOO_MANY_UPGRADES, reason=TOO_MANY_UPGRADES)
        return
    offered = _offered(socket)
    token = socket.query_params.get("token")
    if token is None:
        token = next((p for p in offered if p != SUBPROTOCOL), None)
    if token is None:
        token = _bearer(socket)  # kept, like the others, to be verified again later
    await socket.accept(subprotocols=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    try:
        user = await authenticate(socket, token)
    except DomainError:
        await socket.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")
        return
    if hub.closing:
        await socket.close(code=CLOSE_GOING_AWAY, reason="server shutting down")
        return
    await hub.ensure_started()
    conn = Connection(user, server_send(socket), hub.settings, token or "")
    conn.reader = asyncio.current_task()
    disconnected = False
    try:
        await _welcome(hub, conn)
        if not conn.closing:  # e.g. revoked while it was being authenticated
            disconnected = await _read_loop(hub, conn, socket)
    except asyncio.CancelledError:
        if not conn.closing:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    except Exception:
        log.exception("realtime: socket of user %s failed", user.id)
        conn.close(CLOSE_INTERNAL, "internal error")
    finally:
        await _cleanup(hub, conn, socket, disconnected=disconnected)


async def _welcome(hub: Hub, conn: Connection) -> None:
    await hub.add(conn)
    await _enforce_limit(hub, conn)
    if hub.feature("messages"):
        found = await service.comembers(hub.keel, conn.user.id)
        hub.know(conn, found)
        if hub.feature("presence"):
            hub.watch(conn, found)
    expires = iso_seen(conn.user.expires_at)
    conn.push(
        frame("connected", {"userId": conn.user.id, "connectionId": conn.id, "expiresAt": expires})
    )


async def _read_loop(hub: Hub, conn: Connection, socket: WebSocket[Any, Any, Any]) -> bool:
    """Serve frames until the client disconnects (True) or the server closes (False)."""
    settings = hub.settings
    limit, rate, burst = settings.max_frame_bytes, settings.rate_per_s, settings.rate_burst
    receive = socket.receive
    ctx = WsContext(hub, conn)  # one per socket: a frame costs no allocation for it
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return True
        data: str | bytes = message.get("text") or message.get("bytes") or b""  # type: ignore[assignment]
        size = len(data)
        if size > limit or (
            isinstance(data, str) and size * 4 > limit and len(data.encode()) > limit
        ):
            conn.close(CLOSE_TOO_BIG, f"frame over {limit} bytes")
            return False
        conn.awaiting_pong = False
        if not conn.allow(rate, burst):
            if conn.strike() > settings.rate_strikes:
                conn.close(CLOSE_POLICY, "rate limit exceeded")
                return False
            conn.push(error_frame(RATE_LIMITED, f"over {rate:g} frames/s (burst {burst})"))
            continue
        await dispatch(ctx, data)
        if conn.closing:  # the handler overflowed this socket's own queue
            return False


async def _cleanup(
    hub: Hub, conn: Connection, socket: WebSocket[Any, Any, Any], *, disconnected: bool
) -> None:
    conn.closing = True
    with contextlib.suppress(Exception):
        await stop_all_typing(hub, conn)
    try:
        await hub.remove(conn)
    except Exception:
        log.exception("realtime: presence update failed for user %s", conn.user.id)
    if disconnected or conn.close_code == CLOSE_TRY_AGAIN:
        await conn.flush(0)
    else:
        await conn.flush(FLUSH_S)
    if not disconnected:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_FRAME_S):  # a client that reads nothing
                await socket.send(
                    {
                        "type": "websocket.close",
                        "code": conn.close_code,
                        "reason": conn.close_reason,
                    }
                )
