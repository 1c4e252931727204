"""``max_sockets_per_user`` over two real ``keel serve`` processes: one count, one oldest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _realtime_helpers import Client, Proc, serve_procs

from core.testing import KeelTestApp

LIMIT = 3
HEARTBEAT_S = 2.0
"""Also each process's lease: a killed process's sockets stop counting after it."""


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database, to create users and tokens."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    realtime = {"heartbeat_s": HEARTBEAT_S, "max_sockets_per_user": LIMIT}
    with serve_procs(env, keel_stack, tmp_path, realtime) as started:
        yield started


async def _token(env: KeelTestApp) -> str:
    _, headers = await env.signed_in()
    return headers["Authorization"].removeprefix("Bearer ")


async def _alive(*clients: Client) -> None:
    for client in clients:
        await client.send("ping")
        assert await client.expect("pong") == {}


async def test_the_oldest_socket_on_another_process_closes_with_4409(
    env: KeelTestApp, procs: list[Proc]
) -> None:
    one, two = procs
    token, other = await _token(env), await _token(env)
    oldest = await one.client(token)
    await asyncio.sleep(0.01)  # open times order the sockets
    middle = await two.client(token)
    third = await one.client(token)
    bystander = await two.client(other)  # another user's socket does not count
    newest = await two.client(token)  # the 4th socket of the user, on process two
    assert await oldest.closed() == 4409
    assert oldest.ws.close_reason == "too_many_sockets"
    await _alive(middle, third, newest, bystander)

    fourth = await one.client(token)  # again: now the oldest is `middle`, on process two
    assert await middle.closed() == 4409
    await _alive(third, newest, fourth, bystander)
    for client in (third, newest, fourth, bystander):
        await client.close()


async def test_sockets_of_a_dead_process_stop_counting(env: KeelTestApp, procs: list[Proc]) -> None:
    one, two = procs
    token = await _token(env)
    first = await two.client(token)
    on_one = [await one.client(token) for _ in range(LIMIT - 1)]  # the user is at the limit
    await _alive(first, *on_one)
    one.kill()  # no clean-up: its sockets stay in Valkey until its lease runs out
    await asyncio.sleep(HEARTBEAT_S * 1.5)
    more = [await two.client(token) for _ in range(LIMIT - 1)]
    await _alive(first, *more)  # three live sockets: none closed for the dead ones
    for client in (first, *more):
        await client.close()
