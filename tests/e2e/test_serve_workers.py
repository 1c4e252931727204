"""``keel serve --workers 2``: one port, two uvicorn worker processes, one system.

Nothing in an HTTP answer says which worker served it, but a WebSocket does: realtime
records, in Valkey, the process id of every process that holds a user's socket. So the
tests open sockets on fresh connections until both processes hold some, then check that
messages flow between users on different processes and that presence is shared; and
that the rate limit, counted in Valkey, stays exact over many fresh connections (which
the kernel hands to whichever worker accepts first).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import valkey.asyncio as avalkey
from _keel_procs import KeelProcess, free_port, write_config
from websockets.asyncio.client import ClientConnection, connect

from core.testing import KeelTestApp

pytestmark = pytest.mark.e2e

RATE_LIMIT = 20
MAX_SOCKETS = 30  # users to connect before giving up on both processes holding one


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database and key prefix, to make users and tokens."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def served(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[KeelProcess]:
    """``keel serve --workers 2`` on ``env``'s database and key prefix."""
    config = write_config(
        tmp_path / "config.toml",
        enabled=["realtime"],
        extra=f"[server.rate_limit]\ndefault_per_minute = {RATE_LIMIT}\n",
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    child_env = {
        **base,
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": env.settings.database.name,
        "KEEL_VALKEY__KEY_PREFIX": env.settings.valkey.key_prefix,
    }
    port = free_port()
    args = ["serve", "--workers", "2", "--port", str(port)]
    proc = KeelProcess("serve", args, child_env, tmp_path / "serve.log", port).start()
    try:
        proc.wait_ready(timeout=60)
        yield proc
    finally:
        proc.kill()


class Socket:
    """A user's WebSocket; frames read by event name (others kept for later)."""

    def __init__(self, user_id: str, ws: ClientConnection) -> None:
        self.user_id = user_id
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: str, data: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"event": event, "data": data}))

    async def expect(self, event: str, within: float = 5.0, text: str | None = None) -> Any:
        """The next unread ``event`` frame's data (with ``text``, one carrying it)."""
        deadline = time.monotonic() + within
        while True:
            for i, got in enumerate(self.seen):
                if got["event"] == event and text in (None, got["data"].get("text")):
                    return self.seen.pop(i)["data"]
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event!r} frame within {within} s; saw {self.seen}"
            try:
                got = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            except TimeoutError:
                continue
            if got["event"] == "ping":
                await self.send("pong", {})
            self.seen.append(got)


async def _holder(client: avalkey.Valkey, env: KeelTestApp, user_id: str) -> str:
    """The process id realtime records (in batches, soon after the connect) for the
    process holding ``user_id``'s only socket."""
    key = env.keel.key("realtime", "online", user_id)
    deadline = time.monotonic() + 5
    while not (members := await client.smembers(key)):  # type: ignore[misc]
        assert time.monotonic() < deadline, f"{user_id}'s socket is in no process's presence"
        await asyncio.sleep(0.05)
    assert len(members) == 1, members
    return str(next(iter(members)).decode())


async def _sockets_on_both(
    env: KeelTestApp, served: KeelProcess
) -> tuple[dict[str, list[Socket]], list[Socket]]:
    """Users' sockets (each on a fresh connection) until two processes hold some."""
    client = avalkey.Valkey.from_url(env.settings.valkey.url)
    by_process: dict[str, list[Socket]] = {}
    opened: list[Socket] = []
    try:
        while len(by_process) < 2 and len(opened) < MAX_SOCKETS:
            user, headers = await env.signed_in("provider")  # providers are reachable
            token = headers["Authorization"].removeprefix("Bearer ")
            ws = await connect(f"ws://127.0.0.1:{served.port}/ws?token={token}")
            socket = Socket(str(user.id), ws)
            opened.append(socket)
            await socket.expect("connected")
            by_process.setdefault(await _holder(client, env, socket.user_id), []).append(socket)
    finally:
        await client.aclose()
    return by_process, opened


async def test_sockets_on_both_processes_exchange_messages(
    env: KeelTestApp, served: KeelProcess
) -> None:
    by_process, opened = await _sockets_on_both(env, served)
    try:
        assert len(by_process) == 2, (
            f"{len(opened)} sockets all held by one process; the log:\n{served.output()[-3000:]}"
        )
        one, two = (sockets[0] for sockets in by_process.values())
        for sender, receiver in ((one, two), (two, one)):
            text = f"from {sender.user_id} {uuid.uuid4().hex[:6]}"
            await sender.send("message", {"receiverId": receiver.user_id, "text": text})
            got = await receiver.expect("message", text=text)  # (the sender gets it too)
            assert got["senderId"] == sender.user_id, got
        # presence is shared: having written to each other they are contacts, and each
        # process sees the user on the other one online
        for asker, other in ((one, two), (two, one)):
            await asker.send("getOnlineStatus", {"userIds": [other.user_id]})
            status = await asker.expect("onlineStatus")
            assert status["users"][0]["online"] is True, status
        served.check_alive()
    finally:
        await asyncio.gather(*(s.ws.close() for s in opened))


def test_rate_limit_holds_across_both_processes(served: KeelProcess) -> None:
    # A source address of its own (the sockets above used 127.0.0.1), and a new
    # connection per request, so that both worker processes take requests.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(transport=transport, timeout=5, headers={"Connection": "close"}) as client:
        url = f"{served.url}/api/auth/sessions"
        statuses = [client.get(url).status_code for _ in range(RATE_LIMIT + 5)]
    assert statuses[:RATE_LIMIT] == [401] * RATE_LIMIT, statuses  # no token: counted all the same
    assert statuses[RATE_LIMIT:] == [429] * 5, statuses
    served.check_alive()
