"""The two comparison servers of ``bench/realtime.py``, served by uvicorn.

- ``bare_app``: a bare Litestar WebSocket relay through Valkey pub/sub. A client names
  itself with ``?uid=``; a frame ``{"to": [uids], ...}`` is published once and every
  process sends it to its local sockets of those users. No auth, no queues, no limits.
- ``sio_app``: python-socketio with ``AsyncRedisManager``; each socket enters a room named
  after its ``uid``; ``typing`` / ``message`` events go to ``data["to"]`` (a uid) or to
  the room ``"all"``.

Both read the Valkey URL from ``BENCH_VALKEY_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import socketio  # type: ignore[import-untyped]
import valkey.asyncio as valkey_async
from litestar import Litestar, WebSocket, websocket

VALKEY_URL = os.environ.get("BENCH_VALKEY_URL", "redis://127.0.0.1:6379/0")
CHANNEL = "bench:bare"
_local: dict[str, set[WebSocket[Any, Any, Any]]] = defaultdict(set)
_client = valkey_async.Valkey.from_url(VALKEY_URL, socket_timeout=None)


@websocket("/ws")
async def relay(socket: WebSocket[Any, Any, Any]) -> None:
    uid = socket.query_params.get("uid", "")
    await socket.accept()
    _local[uid].add(socket)
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = json.loads(str(message.get("text") or "{}"))
            to = frame.pop("to")
            payload = ",".join(to).encode() + b"\x1f" + json.dumps(frame).encode()
            await _client.publish(CHANNEL, payload)
    finally:
        _local[uid].discard(socket)


async def _listen() -> None:
    pubsub = _client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        targets, text = message["data"].split(b"\x1f", 1)
        decoded = text.decode()
        for uid in targets.decode().split(","):
            for socket in list(_local.get(uid, ())):
                with contextlib.suppress(Exception):
                    await socket.send_text(decoded)


@contextlib.asynccontextmanager
async def _lifespan(_app: Litestar) -> AsyncIterator[None]:
    task = asyncio.create_task(_listen())
    yield
    task.cancel()


bare_app = Litestar(route_handlers=[relay], lifespan=[_lifespan])

sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=socketio.AsyncRedisManager(VALKEY_URL, channel="bench-sio"),
    cors_allowed_origins="*",
)


@sio.event  # type: ignore[untyped-decorator]
async def connect(sid: str, environ: dict[str, Any], _auth: Any = None) -> None:
    query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    await sio.enter_room(sid, query.get("uid", ""))
    await sio.enter_room(sid, "all")


@sio.on("typing")  # type: ignore[untyped-decorator]
async def typing(_sid: str, data: dict[str, Any]) -> None:
    await sio.emit("typing", data, room=data["to"])


@sio.on("message")  # type: ignore[untyped-decorator]
async def message(_sid: str, data: dict[str, Any]) -> None:
    await sio.emit("message", data, room=data["to"])


sio_app = socketio.ASGIApp(sio)
