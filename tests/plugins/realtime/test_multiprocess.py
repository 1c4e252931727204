"""Two real ``keel serve`` processes: delivery between them, and presence after SIGKILL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _contacts_helpers import befriend
from _realtime_helpers import Proc, serve_procs

from core.testing import KeelTestApp

HEARTBEAT_S = 1.0


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database, to create users and tokens."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    realtime = {"heartbeat_s": HEARTBEAT_S, "heartbeat_timeout_s": HEARTBEAT_S}
    with serve_procs(env, keel_stack, tmp_path, realtime) as started:
        yield started


async def _token(env: KeelTestApp) -> tuple[str, str]:
    user, headers = await env.signed_in()
    return str(user.id), headers["Authorization"].removeprefix("Bearer ")


async def test_two_processes_and_a_sigkill(env: KeelTestApp, procs: list[Proc]) -> None:
    one, two = procs
    a_id, a_token = await _token(env)
    b_id, b_token = await _token(env)
    await befriend(env.keel, a_id, b_id)
    a, b = await one.client(a_token), await two.client(b_token)
    # the client offered permessage-deflate (as browsers do); keel serve declines it
    assert a.ws.response is not None
    assert "permessage-deflate" in (a.ws.request.headers["Sec-WebSocket-Extensions"] or "")
    assert a.ws.response.headers.get("Sec-WebSocket-Extensions") is None

    await a.send("message", {"receiverId": b_id, "text": "across processes"})
    assert (await b.expect("message"))["text"] == "across processes"
    await a.send("typing", {"receiverId": b_id})
    assert (await b.expect("typing"))["userId"] == a_id

    await a.send("getOnlineStatus", {"userIds": [b_id]})
    assert (await a.expect("onlineStatus"))["users"][0]["online"] is True
    await a.send("typing", {"receiverId": b_id})
    await b.expect("typing")
    # the receiving process dies without closing anything
    await asyncio.to_thread(two.kill)
    killed = time.monotonic()
    offline = await a.expect("userOffline", within=2 * HEARTBEAT_S + 1)
    assert offline["userId"] == b_id
    assert time.monotonic() - killed <= 2 * HEARTBEAT_S + 0.5
    await a.send("getOnlineStatus", {"userIds": [b_id]})
    assert (await a.expect("onlineStatus"))["users"][0]["online"] is False
    # the sender's process dying ends its typing indicator for the other side too
    b = await one.client(b_token)
    await a.close()
    await b.close()
