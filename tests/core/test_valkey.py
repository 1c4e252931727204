"""The shared Valkey client: commands in the calling task, failures as valkey-py's."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from core.settings import ValkeySettings
from core.valkey import Connection, connect


async def test_commands_run_in_the_calling_task(keel_settings_factory: Any) -> None:
    settings = keel_settings_factory().valkey
    client = connect(settings)
    loop = asyncio.get_running_loop()
    created: list[Any] = []
    default = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    try:
        await client.set("test:valkey:tasks", "0")  # connects
        loop.set_task_factory(counting)
        for i in range(50):
            await client.set("test:valkey:tasks", str(i))
            assert await client.get("test:valkey:tasks") == str(i).encode()
        pipe = client.pipeline(transaction=False)
        pipe.incr("test:valkey:tasks").get("test:valkey:tasks")
        assert await pipe.execute() == [50, b"50"]
    finally:
        loop.set_task_factory(default)
        await client.delete("test:valkey:tasks")
        await client.aclose()
    assert created == []  # valkey-py's own send path starts one task per command
    assert client.connection_pool.connection_class is Connection


async def test_a_closed_port_fails_with_valkeys_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = connect(ValkeySettings(url=f"redis://127.0.0.1:{port}/0", timeout_s=1.0))
    try:
        with pytest.raises(ValkeyConnectionError):
            await client.ping()
    finally:
        await client.aclose()


async def test_an_idle_pooled_connection_is_checked_without_a_loop_turn(
    keel_settings_factory: Any,
) -> None:
    client = connect(keel_settings_factory().valkey)
    try:
        await client.ping()
        connection = await client.connection_pool.get_connection("PING")
        checking = connection.can_read_destructive()
        with pytest.raises(StopIteration) as answered:
            checking.send(None)  # a loop turn would suspend here instead
        assert answered.value.value is False
        # a reply nobody read: the pool must not hand the connection out as clean
        await connection.send_command("PING")
        await asyncio.sleep(0.1)
        assert await connection.can_read_destructive() is True
        await client.connection_pool.release(connection)
        assert await client.ping() is True  # the pool replaced it
    finally:
        await client.aclose()


async def test_a_connection_the_server_closed_is_replaced(keel_settings_factory: Any) -> None:
    settings = keel_settings_factory().valkey
    client, admin = connect(settings), connect(settings)
    try:
        await client.set("test:valkey:killed", "1")
        own_id = await client.client_id()  # the pool's one connection
        await admin.execute_command("CLIENT", "KILL", "ID", own_id)
        await asyncio.sleep(0.1)  # the EOF reaches the pooled connection's stream
        assert await client.get("test:valkey:killed") == b"1"
    finally:
        await admin.delete("test:valkey:killed")
        await client.aclose()
        await admin.aclose()
