"""The seed's clients, unchanged, across two real ``keel serve`` processes: its typing
frame ``{receiverId, roomId, isTyping}``, and who is online (Python API and admin route)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _contacts_helpers import befriend
from _realtime_helpers import Proc, serve_procs

from core.testing import KeelTestApp
from plugins.realtime.api import is_user_online, online_users_count


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database and key prefix (users, tokens, the API)."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    realtime = {"typing_timeout_s": 30.0, "heartbeat_s": 2.0, "heartbeat_timeout_s": 5.0}
    with serve_procs(env, keel_stack, tmp_path, realtime) as started:
        yield started


async def _token(env: KeelTestApp, role: str = "customer") -> tuple[str, str]:
    user, headers = await env.signed_in(role)
    return str(user.id), headers["Authorization"].removeprefix("Bearer ")


async def _until(check: Any, want: Any, within: float = 5.0) -> None:
    """Wait until ``await check()`` answers ``want`` (presence changes apply in batches)."""
    async with asyncio.timeout(within):
        while True:
            got = await check()
            if got == want:
                return
            await asyncio.sleep(0.02)


async def test_the_seed_typing_frame_crosses_processes_and_false_stops_it(
    env: KeelTestApp, procs: list[Proc]
) -> None:
    one, two = procs
    a_id, a_token = await _token(env)
    b_id, b_token = await _token(env)
    await befriend(env.keel, a_id, b_id)
    a, b = await one.client(a_token), await two.client(b_token)
    await a.send("joinRoom", {"userId": b_id})
    room_id = (await a.expect("roomJoined"))["room"]["id"]  # b never joins it on its socket

    seed = {"receiverId": b_id, "roomId": room_id, "isTyping": True}
    await a.send("typing", seed)
    got = await b.expect("typing")
    assert got == {
        "userId": a_id,
        "receiverId": b_id,
        "roomId": room_id,  # the indicator is scoped to the room
        "isTyping": True,
        "expiresInMs": 30_000,
    }
    await a.send("typing", {**seed, "isTyping": False})
    stopped = await b.expect("stopTyping", within=2)  # long before the 30 s timeout
    assert stopped == {"userId": a_id, "receiverId": b_id, "roomId": room_id, "isTyping": False}

    # stopTyping takes the same shape; isTyping false without a room stops a user indicator
    await a.send("typing", {"receiverId": b_id, "isTyping": True})
    assert "roomId" not in await b.expect("typing")
    await a.send("typing", {"receiverId": b_id, "isTyping": False})
    assert (await b.expect("stopTyping"))["receiverId"] == b_id
    await a.send("typing", seed)
    await b.expect("typing")
    await a.send("stopTyping", seed)
    assert (await b.expect("stopTyping"))["roomId"] == room_id

    # a receiver outside the room, or a wrong type, is refused and nothing is sent
    c_id, _ = await _token(env)
    await befriend(env.keel, a_id, c_id)  # a contact, but not a member of the room
    await a.send("typing", {"receiverId": c_id, "roomId": room_id, "isTyping": True})
    assert (await a.expect("error"))["code"] == "not_found"
    await a.send("typing", {**seed, "isTyping": "yes"})
    error = await a.expect("error")
    assert error["code"] == "invalid_data"
    assert "isTyping" in error["message"]
    await b.absent("typing", within=0.2)
    for client in (a, b):
        await client.close()


async def test_who_is_online_cluster_wide(env: KeelTestApp, procs: list[Proc]) -> None:
    one, two = procs
    a_id, a_token = await _token(env)
    b_id, b_token = await _token(env)
    admin_id, admin_token = await _token(env, "admin")
    _, customer_token = await _token(env)
    assert await online_users_count(env.keel) == 0
    assert await is_user_online(env.keel, a_id) is False
    assert await is_user_online(env.keel, "not-an-id") is False

    a = await one.client(a_token)
    a_again, b = await two.client(a_token), await two.client(b_token)  # a on both processes
    await _until(lambda: online_users_count(env.keel), 2)  # users, not sockets
    assert await is_user_online(env.keel, a_id) is True
    assert await is_user_online(env.keel, b_id) is True
    assert await is_user_online(env.keel, admin_id) is False

    url = f"http://127.0.0.1:{one.port}/api/realtime/online-count"
    async with httpx.AsyncClient() as http:
        answer = await http.get(url, headers={"Authorization": f"Bearer {admin_token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"count": 2}
        forbidden = await http.get(url, headers={"Authorization": f"Bearer {customer_token}"})
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"
        anonymous = await http.get(url)
        assert anonymous.status_code == 401
        assert "error" in anonymous.json()

    await a.close()  # a still has a socket on the other process
    await b.close()
    await _until(lambda: online_users_count(env.keel), 1)
    assert await is_user_online(env.keel, a_id) is True
    assert await is_user_online(env.keel, b_id) is False

    # a process that dies without closing its sockets: its users stop counting
    two.kill()
    await _until(lambda: is_user_online(env.keel, a_id), False)  # its lease ran out
    await _until(lambda: online_users_count(env.keel), 0, within=8)  # reaped by the other
    await a_again.closed(within=1)


async def test_the_route_is_documented_for_admins(env: KeelTestApp) -> None:
    schema = (await env.client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/realtime/online-count"]["get"]
    assert operation["tags"] == ["realtime"]
    assert operation.get("security")
