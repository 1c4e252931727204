"""Abuse limits: sockets per user, upgrades per client IP, frames refused by the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import uvicorn
from _realtime_helpers import FAST, RtFixturePlugin, Serve, StalledClient, free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.cli._serve import _uvicorn_kwargs
from core.http.clients import client_key
from plugins.realtime.settings import RealtimeSettings, frame_limit_problems


async def test_the_eleventh_socket_closes_the_users_oldest_with_4409(serve: Serve) -> None:
    async with serve() as served:
        _, token = await served.token()
        _, other_token = await served.token()
        other = await served.client(other_token)
        clients = [await served.client(token) for _ in range(10)]
        for client in clients:
            await client.send("ping")
            await client.expect("pong")
        newest = await served.client(token)  # the 11th
        assert await clients[0].closed() == 4409
        assert clients[0].ws.close_reason == "too_many_sockets"
        for client in [*clients[1:], newest, other]:  # the others stay open
            await client.send("ping")
            assert await client.expect("pong") == {}
        for client in [*clients[1:], newest, other]:
            await client.close()


async def test_upgrades_over_the_per_ip_limit_close_4429(serve: Serve) -> None:
    if time.time() % 60 > 50:  # a fixed window: don't straddle a minute
        await asyncio.sleep(61 - time.time() % 60)
    async with serve({"plugins.realtime.upgrades_per_ip_per_minute": 3}) as served:
        _, token = await served.token()
        clients = [await served.client(token) for _ in range(3)]
        ws = await connect(f"{served.ws_url}?token={token}")  # the 4th this minute
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4429
        assert ws.close_reason == "too_many_upgrades"
        for client in clients:  # counted upgrades, not open sockets: these stay open
            await client.send("ping")
            assert await client.expect("pong") == {}
            await client.close()


def test_ipv6_clients_count_per_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"


async def test_an_oversized_frame_is_refused_1009_before_it_is_buffered(
    keel_app_factory: Any,
) -> None:
    overrides = {**FAST, "server.ws_max_bytes": 1024, "plugins.realtime.max_frame_bytes": 1024}
    async with keel_app_factory(
        plugins=["realtime"], extra=(RtFixturePlugin,), overrides=overrides
    ) as env:
        port = free_port()
        kwargs = {  # what `keel serve` passes uvicorn, on a free port, in this loop
            **_uvicorn_kwargs(env.settings),
            "port": port,
            "lifespan": "off",
            "log_level": "warning",
        }
        server = uvicorn.Server(uvicorn.Config(env.app, **kwargs))  # type: ignore[arg-type]
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not task.done()
                await asyncio.sleep(0.01)
            _, headers = await env.signed_in("customer")
            token = headers["Authorization"].removeprefix("Bearer ")
            client = await StalledClient.connect(port, token)
            # a header announcing 10 MB, then only a few bytes of it: the server must
            # close on the header alone (the app's own check would wait for all 10 MB)
            size = 10 * 1024 * 1024
            head = bytes([0x81, 0xFF]) + size.to_bytes(8, "big") + b"\0\0\0\0"
            client.writer.write(head + json.dumps({"event": "ping"}).encode())
            await client.writer.drain()
            assert await client.closed(within=5) == 1009
        finally:
            server.should_exit = True
            await task


def test_max_frame_bytes_over_the_server_limit_is_a_problem() -> None:
    settings = RealtimeSettings(max_frame_bytes=100_000)
    [problem] = frame_limit_problems(settings, 65_536)
    assert "plugins.realtime.max_frame_bytes: 100000" in problem
    assert "server.ws_max_bytes (65536)" in problem
    assert frame_limit_problems(RealtimeSettings(), 65_536) == []
