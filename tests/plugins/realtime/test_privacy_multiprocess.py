"""Privacy across two real ``keel serve`` processes: contacts, and a block on the other one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _contacts_helpers import befriend
from _realtime_helpers import Proc, serve_procs

from core.testing import KeelTestApp


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database, to create users and tokens."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    with serve_procs(env, keel_stack, tmp_path, {"heartbeat_s": 5.0}) as started:
        yield started


async def _token(env: KeelTestApp) -> tuple[str, str]:
    user, headers = await env.signed_in()
    return str(user.id), headers["Authorization"].removeprefix("Bearer ")


async def test_contacts_and_a_block_across_processes(env: KeelTestApp, procs: list[Proc]) -> None:
    one, two = procs
    a_id, a_token = await _token(env)
    b_id, b_token = await _token(env)
    a, b = await one.client(a_token), await two.client(b_token)
    await a.send("getOnlineStatus", {"userIds": [b_id]})
    assert (await a.expect("onlineStatus"))["users"][0]["online"] is None  # a stranger
    await a.send("joinRoom", {"userId": b_id})
    assert (await a.expect("error"))["code"] == "not_found"

    await befriend(env.keel, a_id, b_id)  # a booking of the two
    await a.send("getOnlineStatus", {"userIds": [b_id]})
    assert (await a.expect("onlineStatus"))["users"][0]["online"] is True
    await b.send("typing", {"receiverId": a_id})
    assert (await a.expect("typing"))["userId"] == b_id

    # b blocks a through the other process: a's process stops a following b at once
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{two.port}") as http:
        blocked = await http.post(
            f"/api/realtime/blocks/{a_id}", headers={"Authorization": f"Bearer {b_token}"}
        )
    assert blocked.status_code == 204
    await b.send("typing", {"receiverId": a_id})
    assert (await b.expect("error"))["code"] == "not_found"
    await b.close()
    await a.absent("userOffline", within=0.5)
    await a.absent("typing", within=0.05)
    await a.close()
