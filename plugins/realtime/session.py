"""One socket's life: authentication, the read loop, dispatch of frames, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from core.accounts import authenticate
from core.errors import DomainError
from core.http import server_send
from plugins.realtime import service
from plugins.realtime.connection import Connection
from plugins.realtime.handlers import BUILTINS, stop_all_typing
from plugins.realtime.hooks import WsContext, WsEvent
from plugins.realtime.presence import iso_seen
from plugins.realtime.protocol import (
    BAD_FRAME,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    FEATURE_DISABLED,
    INTERNAL,
    RATE_LIMITED,
    UNKNOWN_EVENT,
    WsError,
    decode_data,
    error_frame,
    frame,
    parse_frame,
)

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


def _bearer(socket: WebSocket[Any, Any, Any]) -> str | None:
    header = socket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None  # none, or malformed: ``authenticate`` says what is wrong


def _offered(socket: WebSocket[Any, Any, Any]) -> list[str]:
    header = socket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


async def open_session(hub: Hub, socket: WebSocket[Any, Any, Any]) -> None:
    """Accept, authenticate (else close 4401), then serve the socket until it closes."""
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
        await socket.close(code=1001, reason="server shutting down")
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
    if hub.settings.messages:
        found = await service.comembers(hub.keel, conn.user.id)
        hub.know(conn, found)
        if hub.settings.presence:
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
        await dispatch(hub, conn, data)
        if conn.closing:  # the handler overflowed this socket's own queue
            return False


async def dispatch(hub: Hub, conn: Connection, data: str | bytes) -> None:
    """Run the handler of one frame; every failure is an ``error`` frame."""
    try:
        if isinstance(data, bytes):
            raise WsError(BAD_FRAME, "binary frames are not supported; send JSON text")
        parsed = parse_frame(data)
        builtin = BUILTINS.get(parsed.event)
        if builtin is not None:
            feature, handler = builtin
            if feature is not None and not getattr(hub.settings, feature):
                raise WsError(FEATURE_DISABLED, f"{parsed.event!r}: feature {feature!r} is off")
            await handler(hub, conn, parsed.data)
            return
        extension = hub.extensions.get(parsed.event)
        if extension is None:
            raise WsError(UNKNOWN_EVENT, f"unknown event {parsed.event!r}")
        await _run_extension(hub, conn, extension, parsed.data)
    except WsError as exc:
        conn.push(error_frame(exc.code, exc.message))
    except DomainError as exc:
        conn.push(error_frame(exc.code, exc.message))
    except Exception:
        log.exception("realtime: handler of a frame failed (user %s)", conn.user.id)
        conn.push(error_frame(INTERNAL, "the server failed to handle this frame"))


async def _run_extension(hub: Hub, conn: Connection, event: WsEvent, raw: msgspec.Raw) -> None:
    tp = Any if event.data_type is None else event.data_type
    await event.handler(WsContext(hub, conn), decode_data(raw, tp, event.name))


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
