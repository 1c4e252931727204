"""Lean WebSocket clients of ``bench/realtime.py``: one protocol adapter per server kind.

The clients must cost far less than the servers they measure, so they are not a
WebSocket library: a raw asyncio protocol that sends the upgrade request, masks
outgoing frames with a zero key (valid, and a no-op) and splits incoming frames by
their headers. They offer no extension, so no server compresses (permessage-deflate
would cost every server a zlib state per connection and a deflate per frame).

A :class:`Peer` knows how to reach one server kind for a user, speak its handshake, and
build the typing and fan-out frames.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
MAX_OPEN_AT_ONCE = 200
OPEN_TIMEOUT_S = 30


@dataclass
class Peer:
    """How to talk to one server kind.

    Attributes:
        name: shown in the table (``keel``, ``bare`` or ``python-socketio``).
        ports: the server processes' ports (clients alternate between them).
        tokens: user id -> access token (keel only).
        room: the fan-out room id (keel only).
    """

    name: str
    ports: list[int]
    tokens: dict[str, str] = field(default_factory=dict)
    room: str = ""

    def path(self, uid: str) -> str:
        if self.name == "keel":
            return f"/ws?token={self.tokens[uid]}"
        if self.name == "bare":
            return f"/ws?uid={uid}"
        return f"/socket.io/?EIO=4&transport=websocket&uid={uid}"

    def typing(self, to: str) -> bytes:
        if self.name == "keel":
            return json.dumps({"event": "typing", "data": {"receiverId": to}}).encode()
        if self.name == "bare":
            return json.dumps({"event": "typing", "to": [to], "data": {"to": to}}).encode()
        return b"42" + json.dumps(["typing", {"to": to}]).encode()

    def fanout(self, members: list[str], n: int) -> bytes:
        text = f"fan-out {n}"
        if self.name == "keel":
            data = {"event": "message", "data": {"roomId": self.room, "text": text}}
            return json.dumps(data).encode()
        if self.name == "bare":
            return json.dumps({"event": "message", "to": members, "data": {"text": text}}).encode()
        return b"42" + json.dumps(["message", {"to": "all", "text": text}]).encode()


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A masked client frame (mask key 0: the payload goes as is)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65_536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class Client(asyncio.Protocol):
    """One WebSocket connection; ``on_text`` gets each text frame's payload.

    Args:
        peer: the server kind (its handshake).
        uid: the user it connects as.
    """

    def __init__(self, peer: Peer, uid: str) -> None:
        self.peer = peer
        self.uid = uid
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_text: Callable[[bytes], None] = _ignore
        self._buf = bytearray()
        self._upgraded = False
        self._sio_stage = 0

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's TCPTransport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.uid}: closed before ready"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                head = bytes(buf[:end]).decode(errors="replace")
                self.ready.set_exception(ConnectionError(f"upgrade refused: {head}"))
                return
            del buf[: end + 4]
            self._upgraded = True
            if self.peer.name == "bare":
                self.ready.set_result(None)
        pos, size_all = 0, len(buf)
        while size_all - pos >= 2:
            size = buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if size_all - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if size_all - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + size
            if end > size_all:
                break
            self._frame(buf[pos] & 0x0F, bytes(buf[pos + head : end]))
            pos = end
        del buf[:pos]

    # -- frames ---------------------------------------------------------------------------

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            if self.ready.done():
                self.on_text(payload)
            else:
                self._handshake(payload)
        elif opcode == OP_PING:
            self.send(payload, OP_PONG)
        elif opcode == OP_CLOSE and self.transport is not None:
            self.transport.close()

    def _handshake(self, payload: bytes) -> None:
        if self.peer.name == "keel":  # the "connected" frame
            self.ready.set_result(None)
        elif self._sio_stage == 0:  # engine.io open; ask for the socket.io namespace
            self._sio_stage = 1
            self.send(b"40")
        else:  # socket.io connect ack
            self.ready.set_result(None)

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        """Queue one frame (never blocks)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(payload, opcode))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _ignore(_payload: bytes) -> None:
    return None


def _sio_pong(client: Client, handler: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """Answer engine.io's ``2`` (ping) with ``3`` before handing frames to ``handler``."""

    def on_text(payload: bytes) -> None:
        if payload == b"2":
            client.send(b"3")
        else:
            handler(payload)

    return on_text


def listen(client: Client, handler: Callable[[bytes], None]) -> None:
    """Route ``client``'s text frames to ``handler`` (after protocol housekeeping)."""
    client.on_text = (
        _sio_pong(client, handler) if client.peer.name == "python-socketio" else handler
    )


async def open_client(peer: Peer, uid: str, index: int) -> Client:
    """Connect ``uid`` to port ``index % len(ports)``; returns once the server greeted it."""
    loop = asyncio.get_running_loop()
    port = peer.ports[index % len(peer.ports)]
    _, client = await loop.create_connection(lambda: Client(peer, uid), "127.0.0.1", port)
    listen(client, _ignore)
    assert client.transport is not None
    client.transport.write(
        (
            f"GET {peer.path(uid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(OPEN_TIMEOUT_S):
        await client.ready
    return client


async def open_many(peer: Peer, uids: list[str], start: int = 0) -> list[Client]:
    """Connect every uid, ``MAX_OPEN_AT_ONCE`` at a time, alternating between the ports."""
    clients: list[Client] = []
    for i in range(0, len(uids), MAX_OPEN_AT_ONCE):
        chunk = uids[i : i + MAX_OPEN_AT_ONCE]
        clients += await asyncio.gather(
            *(open_client(peer, uid, start + i + j) for j, uid in enumerate(chunk))
        )
    return clients


def close_all(clients: list[Client]) -> None:
    """Drop every connection at once (the servers see a disconnect)."""
    for client in clients:
        client.close()
