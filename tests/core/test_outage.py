"""A hung MongoDB or Valkey: 503 within a timeout, readiness names it, recovery by itself.

The service is frozen with SIGSTOP (it keeps its sockets open but answers nothing — the
nastiest kind of outage) and thawed with SIGCONT; nothing in keel is restarted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.devstack import DevStack
from core.testing import KeelTestApp
from core.testing._app import AppFactory

DEADLINE_S = 8.0  # generous for a loaded 2-core machine; the timeouts are 2 s


@contextmanager
def frozen(stack: DevStack, service: str) -> Iterator[None]:
    pid = stack.services[service].pid
    os.killpg(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while _state(pid) != "T":  # the signal lands asynchronously
            assert time.monotonic() < deadline, f"{service} did not stop"
            time.sleep(0.01)
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


async def wait_ready(env: KeelTestApp, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        response = await env.client.get("/health/ready")
        if response.status_code == 200:
            return
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("service", "check"), [("valkey", "valkey"), ("secantusdb", "mongodb")])
async def test_hung_service_gives_503_then_recovers(
    keel_app_factory: AppFactory, keel_stack: DevStack, service: str, check: str
) -> None:
    # revocation_stale_s = 0: token checks fail closed, so /users/me needs Valkey (the
    # fallback on recent readings is tested in test_outbox.py)
    async with keel_app_factory(plugins=[], auth__revocation_stale_s=0) as env:
        _, headers = await env.signed_in("customer")
        assert (await env.client.get("/api/users/me", headers=headers)).status_code == 200
        with frozen(keel_stack, service):
            start = time.monotonic()
            ready = await env.client.get("/health/ready")
            assert time.monotonic() - start < DEADLINE_S
            assert ready.status_code == 503
            assert check in ready.text, ready.text
            start = time.monotonic()
            me = await env.client.get("/api/users/me", headers=headers)
            assert time.monotonic() - start < DEADLINE_S
            assert me.status_code == 503, me.text
            assert me.json()["error"]["code"] == "service_unavailable"
            live = await env.client.get("/health/live")
            assert live.status_code == 200
        await wait_ready(env)
        assert (await env.client.get("/api/users/me", headers=headers)).status_code == 200
