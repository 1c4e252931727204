"""Two real ``keel serve`` processes: delivery between them, and presence after SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _realtime_helpers import Client, free_port
from websockets.asyncio.client import connect

from core.testing import KeelTestApp

KEEL = str(Path(sys.executable).with_name("keel"))
HEARTBEAT_S = 1.0


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


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database, to create users and tokens."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def procs(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[list[Proc]]:
    config = tmp_path / "config.toml"
    config.write_text(
        '[app]\nenv = "test"\nlog_level = "WARNING"\n\n[server]\ngrace_period_s = 2.0\n\n'
        f'[plugins]\nenabled = ["realtime"]\n\n[plugins.realtime]\nheartbeat_s = {HEARTBEAT_S}\n'
        f"heartbeat_timeout_s = {HEARTBEAT_S}\n",
        encoding="utf-8",
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    child_env = {
        **base,
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": env.settings.database.name,
        "KEEL_VALKEY__KEY_PREFIX": env.settings.valkey.key_prefix,
    }
    started = [Proc(child_env, tmp_path / f"serve{i}.log") for i in (1, 2)]
    try:
        for proc in started:
            proc.wait_ready()
        yield started
    finally:
        for proc in started:
            proc.kill()


async def _token(env: KeelTestApp) -> tuple[str, str]:
    user, headers = await env.signed_in()
    return str(user.id), headers["Authorization"].removeprefix("Bearer ")


async def test_two_processes_and_a_sigkill(env: KeelTestApp, procs: list[Proc]) -> None:
    one, two = procs
    a_id, a_token = await _token(env)
    b_id, b_token = await _token(env)
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
