"""Valkey killed and restarted, an API process killed: real processes, real signals.

Runtime: about 75 s in all on this machine (each case 11-20 s). Payments webhooks during
a Valkey restart are not covered yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Cluster, book, make_service, market, relay_now, signup, wait_mails
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "realtime"))
from _realtime_helpers import Client

pytestmark = pytest.mark.e2e

LEASE = "[events]\nlease_s = 1.0\n"
HEARTBEAT_S = 1.0


def outbox_bookings(cluster: Cluster) -> list[dict[str, Any]]:
    with cluster.mongo() as client:
        found = client[cluster.db_name]["core_outbox"].find({"name": "booking.created"})
        return list(found.sort("at", 1))


def test_valkey_killed_while_customers_book(cluster_factory: Any) -> None:
    """Valkey down: bookings are still 201 (the outbox is in MongoDB); their emails come
    once it is back, even empty (nothing of theirs was queued yet). A token this process
    has not checked within ``[auth] revocation_stale_s`` is refused with a 503: whether it
    was revoked is known only to Valkey."""
    cluster = cluster_factory()
    serve = cluster.serve()
    cluster.worker()
    serve.wait_ready()
    service, email, headers = market(cluster, serve.url)
    assert httpx.get(f"{serve.url}/api/users/me", headers=headers, timeout=10).is_success
    _, unseen = signup(cluster, serve.url, "customer")
    argv = cluster.kill_valkey()
    answers = [book(serve.url, service, headers, 30 + i) for i in range(3)]
    assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
    refused = book(serve.url, service, unseen, 35)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert refused.json()["error"]["details"] == {"service": "valkey"}
    time.sleep(1.0)
    assert cluster.mails_to(email) == []
    cluster.start_valkey(argv)
    assert book(serve.url, service, headers, 40).status_code == 201
    wait_mails(cluster, email, 4)


@pytest.mark.parametrize("persistence", ["aof", "none"])
def test_valkey_killed_with_jobs_queued(cluster_factory: Any, persistence: str) -> None:
    """Deliveries queued, not run, when Valkey is SIGKILLed. With an append-only file (what
    keel requires, docs/deploy.md) they survive the restart; without one Valkey comes back
    empty and the relay notices and queues them again. Each email arrives exactly once."""
    cluster = cluster_factory(extra=LEASE)
    serve = cluster.serve()
    worker = cluster.worker()
    serve.wait_ready()
    if persistence == "aof":
        cluster.persist_valkey()
    service, email, headers = market(cluster, serve.url)
    assert book(serve.url, service, headers, 20).status_code == 201
    wait_mails(cluster, email, 1)  # delivered and recorded done before the loss
    worker.send(signal.SIGKILL)
    worker.wait(10)
    for i in range(3):
        assert book(serve.url, service, headers, 30 + i).status_code == 201
    assert relay_now(cluster) == 3  # on the queue, and no worker to take them
    assert all(e["relayed_at"] is not None for e in outbox_bookings(cluster))
    cluster.start_valkey(cluster.kill_valkey())
    assert book(serve.url, service, headers, 40).status_code == 201
    after = cluster.worker("worker2")
    wait_mails(cluster, email, 5)
    recovered = [e["recovered"] for e in outbox_bookings(cluster)]
    lost = "Valkey lost its data" in after.output()
    if persistence == "aof":
        assert (recovered, lost) == ([0, 0, 0, 0, 0], False)
    else:
        assert (recovered, lost) == ([0, 1, 1, 1, 0], True)


def _ws(base: str, headers: dict[str, str]) -> Any:
    token = headers["Authorization"].removeprefix("Bearer ")
    return connect(f"{base.replace('http', 'ws', 1)}/ws?token={token}")


async def _client(base: str, headers: dict[str, str]) -> Client:
    client = Client(await _ws(base, headers))
    await client.expect("connected")
    return client


def contacts(cluster: Cluster, base: str) -> tuple[dict[str, str], dict[str, str], str, str]:
    """A customer and a provider who share a booking (contacts), once the worker has
    recorded it: their auth headers and ids."""
    _, provider = signup(cluster, base, "provider")
    service = make_service(base, provider)
    email, customer = signup(cluster, base, "customer")
    made = book(base, service, customer, 20)
    assert made.status_code == 201, made.text
    wait_mails(cluster, email, 1)
    return customer, provider, made.json()["customerId"], made.json()["providerId"]


def test_valkey_killed_during_chat(cluster_factory: Any) -> None:
    """Sockets lose Valkey pub/sub: closed with 1013 ``bus_lost`` as soon as resubscribing
    fails, about 0.5 s (and refused so while it is down), so no client waits for frames
    that cannot come. Back up, they reconnect; a message sent again with its clientId is
    stored once and delivered."""
    cluster = cluster_factory()
    serve = cluster.serve()
    cluster.worker()
    serve.wait_ready()
    customer, provider, _, provider_id = contacts(cluster, serve.url)

    async def scenario() -> list[dict[str, Any]]:
        a, b = await _client(serve.url, customer), await _client(serve.url, provider)
        await a.send("message", {"receiverId": provider_id, "text": "one", "clientId": "c1"})
        assert (await b.expect("message"))["clientId"] == "c1"
        argv = await asyncio.to_thread(cluster.kill_valkey)
        assert (await a.closed(3), a.ws.close_reason) == (1013, "bus_lost")
        assert (await b.closed(3), b.ws.close_reason) == (1013, "bus_lost")
        retry = Client(await _ws(serve.url, customer))
        assert (await retry.closed(3), retry.ws.close_reason) == (1013, "bus_lost")
        await asyncio.to_thread(cluster.start_valkey, argv)
        a = b = None
        deadline = time.monotonic() + 10
        while a is None or b is None:  # as a client does: reconnect with a backoff
            assert time.monotonic() < deadline, "no socket accepted again within 10 s"
            with contextlib.suppress(Exception):
                a, b = await _client(serve.url, customer), await _client(serve.url, provider)
                await a.send("getOnlineStatus", {"userIds": [provider_id]})
                await a.expect("onlineStatus")
            await asyncio.sleep(0.2)
        two = {"receiverId": provider_id, "text": "two", "clientId": "c2"}
        await a.send("message", two)
        first = await b.expect("message")
        await a.send("message", two)  # the client did not see its echo: it sends again
        again = await b.expect("message")
        await a.close()
        await b.close()
        return [first, again]

    first, again = asyncio.run(scenario())
    assert first["clientId"] == "c2"
    assert again["id"] == first["id"]  # the same message, delivered again
    with cluster.mongo() as client:
        stored = client[cluster.db_name]["realtime_messages"].find({}, {"client_id": 1})
        assert sorted(m["client_id"] for m in stored) == ["c1", "c2"]


def test_api_process_killed_with_sockets_open(cluster_factory: Any) -> None:
    """Two ``keel serve`` processes; one is SIGKILLed holding a user's socket. Its lease
    (``heartbeat_s``, 1 s here) lapses and the survivor announces the user offline within
    1.5 heartbeats plus its maintenance tick; the survivor keeps serving."""
    cluster = cluster_factory(extra=f"[plugins.realtime]\nheartbeat_s = {HEARTBEAT_S}\n")
    one, two = cluster.serve("serve1"), cluster.serve("serve2")
    cluster.worker()
    one.wait_ready()
    two.wait_ready()
    customer, provider, customer_id, provider_id = contacts(cluster, one.url)

    async def scenario() -> float:
        watcher = await _client(one.url, customer)
        doomed = await _client(two.url, provider)
        await watcher.send("getOnlineStatus", {"userIds": [provider_id]})
        assert (await watcher.expect("onlineStatus"))["users"][0]["online"] is True
        await asyncio.to_thread(two.send, signal.SIGKILL)
        killed = time.monotonic()
        offline = await watcher.expect("userOffline", within=3 * HEARTBEAT_S + 2)
        took = time.monotonic() - killed
        assert offline["userId"] == provider_id
        await watcher.send("getOnlineStatus", {"userIds": [provider_id]})
        assert (await watcher.expect("onlineStatus"))["users"][0]["online"] is False
        back = await _client(one.url, provider)  # the provider reconnects to the survivor
        assert (await watcher.expect("userOnline"))["userId"] == provider_id
        await back.send("message", {"receiverId": customer_id, "text": "hi", "clientId": "h"})
        assert (await watcher.expect("message"))["text"] == "hi"
        for client in (watcher, back):
            await client.close()
        with contextlib.suppress(Exception):
            await doomed.ws.close()
        return took

    took = asyncio.run(scenario())
    assert took <= 2 * HEARTBEAT_S + 1.0, took
