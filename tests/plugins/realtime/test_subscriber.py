"""The hub's pub/sub subscriber against the real valkey-server: order, reconnects, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.valkey import connect
from plugins.realtime.subscriber import Subscriber


@contextlib.asynccontextmanager
async def subscribed(
    url: str, channel: str, got: list[bytes], **kw: Any
) -> AsyncIterator[Subscriber]:
    subscriber = Subscriber(url, channel, got.append, timeout_s=2.0, health_s=15.0, **kw)
    task = asyncio.create_task(subscriber.run())
    try:
        yield subscriber
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(check: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - polls state set by a protocol callback
            await asyncio.sleep(0.01)


async def test_messages_arrive_in_order_and_survive_a_killed_connection(
    keel_settings_factory: Any,
) -> None:
    settings = keel_settings_factory().valkey
    channel, name = f"test:sub:{secrets.token_hex(4)}", f"test-sub-{secrets.token_hex(4)}"
    publisher = connect(settings)
    got: list[bytes] = []
    try:
        async with subscribed(settings.url, channel, got, name=name) as subscriber:
            await asyncio.wait_for(subscriber.subscribed.wait(), 5)
            sent = [f"m{i}".encode() + b"\x1f" * (i % 3) for i in range(500)]
            for payload in sent:
                await publisher.publish(channel, payload)
            await _until(lambda: len(got) == len(sent))
            assert got == sent
            # the server drops the subscription: it comes back by itself
            clients = await publisher.execute_command("CLIENT", "LIST")
            text = clients.decode() if isinstance(clients, bytes) else str(clients)
            ids = [
                line.split()[0].split("=")[1]
                for line in text.splitlines()
                if f"name={name} " in line
            ]
            assert len(ids) == 1
            await publisher.execute_command("CLIENT", "KILL", "ID", ids[0])
            await _until(lambda: subscriber.connections == 2 and subscriber.subscribed.is_set())
            got.clear()
            await publisher.publish(channel, b"after")
            await _until(lambda: got == [b"after"])
    finally:
        await publisher.aclose()


async def test_a_refused_subscription_retries_without_crashing(
    keel_settings_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = keel_settings_factory().valkey.url.replace("redis://", "redis://nobody:wrong@")
    got: list[bytes] = []
    async with subscribed(url, "test:sub:refused", got) as subscriber:
        await asyncio.sleep(1.2)  # two or three attempts
        assert not subscriber.subscribed.is_set()
        assert subscriber.connections == 0
    assert "refused a pub/sub command" in caplog.text
