"""Graceful drains: SIGTERM to ``keel serve`` (1 and 2 workers) loses no request in flight.

The requests are written on raw TCP connections, all established and sent before the
signal, so "in flight" is a fact and not a guess about the client's timing: some are being
answered, some are accepted but unread, some still wait in the kernel's accept queue. Each
must get its normal answer; connections opened after the signal must be refused (or
reset) without hanging; WebSockets must be closed with 1001. Runtime: about 25 s on a
quiet machine (three ``keel serve`` start-ups), up to ~75 s with the CPU saturated.
"""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import time
from typing import Any

import pytest
from _keel_procs import KeelProcess, free_port
from conftest import Cluster, make_service, signup
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

IN_FLIGHT = 200
GRACE_S = 30
REFUSED_WITHIN_S = 5.0
"""From the signal: the workers' supervisor looks at its signals every 0.5 s."""


def serve(cluster: Cluster, workers: int) -> KeelProcess:
    """``keel serve --workers N`` with the production grace period, and MongoDB/Valkey
    timeouts long enough that 200 concurrent requests on a loaded 2-core machine do not
    answer 503: that is the overload policy, not the drain under test (for the same reason
    the requests are a public listing: a token check waits 0.5 s for Valkey at most)."""
    cluster.env.update(
        {
            "KEEL_SERVER__GRACE_PERIOD_S": str(GRACE_S),
            "KEEL_VALKEY__TIMEOUT_S": str(GRACE_S),
            "KEEL_DATABASE__TIMEOUT_MS": str(GRACE_S * 1000),
        }
    )
    port = free_port()
    args = ["serve", "--port", str(port), "--workers", str(workers)]
    proc = KeelProcess(f"serve{workers}", args, cluster.env, cluster.tmp / "serve.log", port)
    cluster.procs.append(proc.start())
    proc.wait_ready(60)
    return proc


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


async def answer(reader: asyncio.StreamReader) -> tuple[int | str, bytes]:
    """(status, body) of the response read to the end, or the error's name."""
    try:
        async with asyncio.timeout(30):
            raw = await reader.read()
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return f"no response ({len(raw)} bytes)", b""
    return int(head.split(b" ", 2)[1]), body


async def after_signal(port: int) -> str:
    """What a new connection gets after the signal, once serving stops: ``refused``/``reset``;
    fails if one hangs or if the server still answers after :data:`REFUSED_WITHIN_S`."""
    deadline = time.monotonic() + REFUSED_WITHIN_S
    while time.monotonic() < deadline:
        try:
            async with asyncio.timeout(3):  # a hang is a failure, not a slow refusal
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request("/health/live"))
                status, _ = await answer(reader)
                writer.close()
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            pytest.fail("a connection made after SIGTERM hung instead of being refused")
        if not isinstance(status, int):
            return "reset"
        await asyncio.sleep(0.05)
    pytest.fail(f"still answering {REFUSED_WITHIN_S} s after SIGTERM")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_sigterm_with_200_requests_in_flight(cluster_factory: Any, workers: int) -> None:
    cluster = cluster_factory()
    proc = serve(cluster, workers)
    _, provider = signup(cluster, proc.url, "provider")
    made = make_service(proc.url, provider)
    assert proc.port is not None
    port = proc.port

    async def scenario() -> tuple[list[tuple[int | str, bytes]], str]:
        opened = [asyncio.open_connection("127.0.0.1", port) for _ in range(IN_FLIGHT)]
        conns = await asyncio.gather(*opened)
        for _, writer in conns:
            writer.write(request("/api/services"))
        await asyncio.gather(*(writer.drain() for _, writer in conns))
        proc.send(signal.SIGTERM)  # every request is established and sent by now
        answers = asyncio.gather(*(answer(reader) for reader, _ in conns))
        refused = await after_signal(port)
        results = await answers
        for _, writer in conns:
            writer.close()
        return results, refused

    results, refused = asyncio.run(scenario())
    statuses = [status for status, _ in results]
    others = {str(status): body[:300] for status, body in results if status != 200}
    log = proc.output()[-3000:]
    assert statuses == [200] * IN_FLIGHT, (collections.Counter(statuses), others, log)
    assert all([s["id"] for s in json.loads(body)["items"]] == [made["id"]] for _, body in results)
    assert refused in {"refused", "reset"}
    code, took = proc.wait(GRACE_S + 10)
    assert code == 0, proc.output()[-3000:]
    assert took < GRACE_S


def test_serve_sigterm_closes_websockets_with_1001(cluster_factory: Any) -> None:
    cluster = cluster_factory()
    proc = serve(cluster, 1)
    _, headers = signup(cluster, proc.url, "customer")
    token = headers["Authorization"].removeprefix("Bearer ")

    async def scenario() -> list[tuple[int | None, str | None]]:
        url = f"ws://127.0.0.1:{proc.port}/ws?token={token}"
        sockets = [await connect(url) for _ in range(3)]
        for ws in sockets:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["event"] == "connected", first
        proc.send(signal.SIGTERM)
        closes = []
        for ws in sockets:
            async with asyncio.timeout(5):
                await ws.wait_closed()
            closes.append((ws.close_code, ws.close_reason))
        return closes

    closes = asyncio.run(scenario())
    assert closes == [(1001, "server shutting down")] * 3
    code, took = proc.wait(GRACE_S + 10)
    assert code == 0, proc.output()[-3000:]
    assert took < 10  # well within the grace period: no socket is left for it to run out on
