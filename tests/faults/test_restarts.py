"""Valkey killed and restarted, an API process killed: real processes, real signals.

Runtime: about 60 s in all on this machine (each case 6-15 s).
"""

from __future__ import annotations

import signal
import time
from typing import Any

import httpx
import pytest
from conftest import Cluster, booking_body, make_service, relay_now, signup

pytestmark = pytest.mark.e2e

MAIL_WITHIN_S = 20.0
LEASE = "[events]\nlease_s = 1.0\n"


def market(cluster: Cluster, base: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    _, provider = signup(cluster, base, "provider")
    service = make_service(base, provider)
    email, customer = signup(cluster, base, "customer")
    return service, email, customer


def book(base: str, service: dict[str, Any], headers: dict[str, str], hours: int) -> Any:
    return httpx.post(
        f"{base}/api/bookings", json=booking_body(service, hours), headers=headers, timeout=15
    )


def wait_mails(cluster: Cluster, email: str, n: int) -> float:
    took = cluster.wait_for(lambda: len(cluster.mails_to(email)) >= n, MAIL_WITHIN_S, f"{n} mails")
    time.sleep(1.0)  # a duplicate would land by now
    assert len(cluster.mails_to(email)) == n
    return took


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
