"""Realtime test helpers: apps served by a real uvicorn on a free port, WebSocket clients.

Each ``serve(...)`` builds a keel app with ``keel_app_factory`` (the test's database and
key prefix; several apps in one test share both, like several ``keel serve`` processes)
and serves it with uvicorn in this event loop, so clients speak real WebSocket frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core import Event, Plugin, hookimpl
from core.testing import KeelTestApp
from plugins.realtime.hookspecs import WsContext, WsError, WsEvent

KEEL = str(Path(sys.executable).with_name("keel"))
FAST = {
    "plugins.realtime.heartbeat_s": 30.0,
    "plugins.realtime.typing_timeout_s": 5.0,
}


class BookingRef(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    provider_id: str


class FakeBookingCreated(Event, frozen=True, kw_only=True):
    """Shaped like the bookings plugin's event (realtime reads only these fields)."""

    name: ClassVar[str] = "booking.created"
    booking: BookingRef


class FakeNotificationCreated(Event, frozen=True, kw_only=True):
    """Shaped like the notifications plugin's event."""

    name: ClassVar[str] = "notification.created"
    notification_id: str
    user_id: str
    kind: str
    title: str
    data: dict[str, str] = msgspec.field(default_factory=dict)


class EchoData(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str


async def _echo(ctx: WsContext, data: EchoData) -> None:
    if data.text == "fail":
        raise WsError("echo_failed", "asked to fail")
    ctx.reply("echoed", {"text": data.text, "userId": ctx.user.id})


async def _shout(ctx: WsContext, data: Any) -> None:
    await ctx.send_to_users([str(data["to"])], "shouted", {"from": ctx.user.id})


class RtFixturePlugin(Plugin):
    """Publishes booking/notification events and adds the ``echo`` / ``shout`` events
    (and ``echoTyping``, behind realtime's ``typing`` switch)."""

    name = "rtfixture"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [FakeBookingCreated, FakeNotificationCreated]

    @hookimpl
    def register_ws_events(self) -> list[WsEvent]:
        return [
            WsEvent("echo", _echo, EchoData),
            WsEvent("shout", _shout),
            WsEvent("echoTyping", _echo, EchoData, feature="typing"),
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running app, its uvicorn server and the ``ws://`` URL of ``/ws``."""

    env: KeelTestApp
    server: uvicorn.Server
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def token(self, role: str = "customer") -> tuple[str, str]:
        """A new user's (id, access token)."""
        user, headers = await self.env.signed_in(role)
        return str(user.id), headers["Authorization"].removeprefix("Bearer ")

    async def client(self, token: str, **kwargs: Any) -> Client:
        """A connected client that has received its ``connected`` frame."""
        ws = await connect(f"{self.ws_url}?token={token}", **kwargs)
        client = Client(ws)
        await client.expect("connected")
        return client


class StalledClient:
    """A raw WebSocket client that reads nothing unless asked, with a 4 KiB kernel buffer.

    Frames the server sends it back up in the server's buffers, as for a phone on a
    dead network: the case the send queue limit is for.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, token: str) -> StalledClient:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # no autotuning
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2048)
        writer.write(
            f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        client = cls(reader, writer)
        opcode, payload = await client.frame()
        assert opcode == 1, (opcode, payload)
        assert json.loads(payload)["event"] == "connected"
        return client

    async def send(self, event: str, data: Any) -> None:
        """Send one frame (masked with a zero key: the payload goes as is)."""
        payload = json.dumps({"event": event, "data": data}).encode()
        size = len(payload)
        head = bytes([0x81, 0xFE]) + size.to_bytes(2, "big") if size < 65_536 else b""
        assert head, "frames up to 64 KiB"
        self.writer.write(head + b"\0\0\0\0" + payload)
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        """The next frame the server sent: (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(await self.reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(size)

    async def closed(self, within: float = 10.0) -> int:
        """Read everything until the server's close frame; its close code."""
        async with asyncio.timeout(within):
            while True:
                opcode, payload = await self.frame()
                if opcode == 0x8:
                    await self.close()
                    return int.from_bytes(payload[:2], "big")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Client:
    """A WebSocket client that reads frames by event name (other frames are kept)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: str, data: Any = None) -> None:
        await self.ws.send(json.dumps({"event": event, "data": data or {}}))

    async def expect(
        self, event: str, within: float = 5.0, where: Callable[[Any], bool] | None = None
    ) -> Any:
        """The data of the next unread frame named ``event`` (and matching ``where``)."""
        deadline = time.monotonic() + within
        while True:
            for i, got in enumerate(self.seen):
                if got["event"] == event and (where is None or where(got["data"])):
                    del self.seen[i]
                    return got["data"]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} frame within {within} s; saw {self.seen}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                continue
            got = json.loads(raw)
            if got["event"] == "ping" and event != "ping":  # as a live client does
                await self.send("pong")
            self.seen.append(got)

    async def absent(self, event: str, within: float = 0.3) -> None:
        """Assert that no ``event`` frame arrives within ``within`` seconds."""
        with contextlib.suppress(AssertionError):
            data = await self.expect(event, within)
            raise AssertionError(f"unexpected {event!r} frame: {data}")

    async def closed(self, within: float = 5.0) -> int | None:
        """Read until the server closes the socket; its close code."""
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(within):
                while True:
                    self.seen.append(json.loads(await self.ws.recv()))
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


Serve = Callable[..., AbstractAsyncContextManager[Served]]


KEEL = str(Path(sys.executable).with_name("keel"))


class Proc:
    """A ``keel serve`` process on its own port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [KEEL, "serve", "--port", str(self.port), "--workers", "1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    async def client(self, token: str) -> Client:
        ws = await connect(f"ws://127.0.0.1:{self.port}/ws?token={token}")
        client = Client(ws)
        await client.expect("connected")
        return client


@contextlib.contextmanager
def serve_procs(
    env: KeelTestApp, stack: Any, tmp_path: Path, realtime: dict[str, float], count: int = 2
) -> Iterator[list[Proc]]:
    """``count`` ready ``keel serve`` processes on ``env``'s database and key prefix."""
    config = tmp_path / "config.toml"
    table = "".join(f"{key} = {value}\n" for key, value in realtime.items())
    config.write_text(
        '[app]\nenv = "test"\nlog_level = "WARNING"\n\n[server]\ngrace_period_s = 2.0\n\n'
        f'[plugins]\nenabled = ["realtime"]\n\n[plugins.realtime]\n{table}',
        encoding="utf-8",
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    child_env = {
        **base,
        **stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": env.settings.database.name,
        "KEEL_VALKEY__KEY_PREFIX": env.settings.valkey.key_prefix,
    }
    started = [Proc(child_env, tmp_path / f"serve{i}.log") for i in range(1, count + 1)]
    try:
        for proc in started:
            proc.wait_ready()
        yield started
    finally:
        for proc in started:
            proc.kill()
