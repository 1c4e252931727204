"""WebSocket clients of ``bench/realtime.py``: one protocol adapter per server kind.

Every server is driven by the same ``websockets`` client code, so differences come from
the servers. A :class:`Peer` knows how to reach one server kind for a user, speak its
handshake, and build/recognise typing and fan-out frames.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect


@dataclass
class Peer:
    """How to talk to one server kind.

    Attributes:
        name: shown in the table.
        ports: the server processes' ports (clients alternate between them).
        tokens: user id -> access token (keel only).
        room: the fan-out room id (keel only).
    """

    name: str
    ports: list[int]
    tokens: dict[str, str] = field(default_factory=dict)
    room: str = ""

    def url(self, uid: str, index: int) -> str:
        port = self.ports[index % len(self.ports)]
        if self.name == "keel":
            return f"ws://127.0.0.1:{port}/ws?token={self.tokens[uid]}"
        if self.name == "bare":
            return f"ws://127.0.0.1:{port}/ws?uid={uid}"
        return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&uid={uid}"

    async def handshake(self, ws: ClientConnection) -> None:
        if self.name == "keel":
            await ws.recv()  # connected
        elif self.name == "python-socketio":
            await ws.recv()  # engine.io open
            await ws.send("40")
            await ws.recv()  # socket.io connect ack

    def typing(self, to: str) -> str:
        if self.name == "keel":
            return json.dumps({"event": "typing", "data": {"receiverId": to}})
        if self.name == "bare":
            return json.dumps({"event": "typing", "to": [to], "data": {"to": to}})
        return "42" + json.dumps(["typing", {"to": to}])

    def fanout(self, members: list[str], n: int) -> str:
        text = f"fan-out {n}"
        if self.name == "keel":
            return json.dumps({"event": "message", "data": {"roomId": self.room, "text": text}})
        if self.name == "bare":
            return json.dumps({"event": "message", "to": members, "data": {"text": text}})
        return "42" + json.dumps(["message", {"to": "all", "text": text}])


@dataclass
class Conn:
    """One connected client and what it received."""

    uid: str
    ws: ClientConnection
    typing: asyncio.Queue[float] = field(default_factory=asyncio.Queue)
    on_message: Callable[[], None] | None = None
    task: asyncio.Task[None] | None = None


async def open_conn(peer: Peer, uid: str, index: int) -> Conn:
    """Connect ``uid`` (to port ``index % len(ports)``) and start its reader."""
    ws = await connect(peer.url(uid, index), max_queue=None, ping_interval=None)
    await peer.handshake(ws)
    conn = Conn(uid, ws)
    conn.task = asyncio.create_task(_read(peer, conn))
    return conn


async def _read(peer: Peer, conn: Conn) -> None:
    sio = peer.name == "python-socketio"
    async for raw in conn.ws:
        text = raw if isinstance(raw, str) else raw.decode()
        if sio and text == "2":
            await conn.ws.send("3")
            continue
        head = text[:24]
        if '"error"' in head:
            print(f"  {peer.name}: {text[:200]}", file=sys.stderr)
        elif "typing" in head:
            conn.typing.put_nowait(time.perf_counter())
        elif "message" in head and conn.on_message is not None:
            conn.on_message()


async def open_many(peer: Peer, uids: list[str], start: int = 0, batch: int = 100) -> list[Conn]:
    """Connect every uid, ``batch`` at a time, alternating between the ports."""
    conns: list[Conn] = []
    for i in range(0, len(uids), batch):
        chunk = uids[i : i + batch]
        conns += await asyncio.gather(
            *(open_conn(peer, uid, start + i + j) for j, uid in enumerate(chunk))
        )
    return conns


async def close_all(conns: list[Conn]) -> None:
    """Close every client (without waiting long for the server's answer)."""
    for conn in conns:
        if conn.task is not None:
            conn.task.cancel()
    await asyncio.gather(*(c.ws.close() for c in conns), return_exceptions=True)


async def load(
    peer: Peer, pairs: list[tuple[Conn, Conn]], per_s: float, stop: asyncio.Event
) -> int:
    """Send typing frames at ``per_s`` in total over ``pairs`` until ``stop``; frames sent."""
    sent = 0
    interval = len(pairs) / per_s
    frames = [(a, peer.typing(b.uid)) for a, b in pairs]

    async def drain(conn: Conn) -> None:
        while True:
            await conn.typing.get()

    drains = [asyncio.create_task(drain(b)) for _, b in pairs]
    start = time.perf_counter()
    tick = 0
    while not stop.is_set():
        for a, text in frames:
            await a.ws.send(text)
            sent += 1
        tick += 1
        delay = start + tick * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    for task in drains:
        task.cancel()
    return sent
