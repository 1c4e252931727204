"""The fault suite: real ``keel serve`` / ``keel worker`` processes, real signals.

Every case checks what a user sees: each accepted request keeps its effect (the email
arrives, once), each refused one says why (503 ``service_unavailable``), nothing runs twice.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from conftest import Cluster, book, market, wait_mails

from core.testing import frozen

pytestmark = pytest.mark.e2e


def ready(cluster: Cluster, *, workers: int = 1) -> tuple[Any, list[Any]]:
    serve = cluster.serve()
    procs = [cluster.worker(f"worker{i}") for i in range(1, workers + 1)]
    serve.wait_ready()
    return serve, procs


def lease_holder_pid(cluster: Cluster) -> int:
    with cluster.mongo() as client:
        doc = client[cluster.db_name]["core_leases"].find_one({"_id": "outbox-relay"})
    assert doc is not None
    return int(doc["owner"].split(":")[1])


def test_valkey_frozen_5s_while_customers_book(cluster_factory: Any) -> None:
    cluster = cluster_factory()
    serve, _ = ready(cluster)
    service, email, headers = market(cluster, serve.url)
    with frozen(cluster.pid("valkey")):
        began = time.monotonic()
        answers = [book(serve.url, service, headers, 30 + i) for i in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
        time.sleep(max(0.0, 5 - (time.monotonic() - began)))
        assert cluster.mails_to(email) == []
    wait_mails(cluster, email, 3)


def test_relay_killed_a_standby_relays_once(cluster_factory: Any) -> None:
    cluster = cluster_factory(extra="[events]\nlease_s = 2.0\n")
    serve, workers = ready(cluster, workers=2)
    service, email, headers = market(cluster, serve.url)
    cluster.wait_for(lambda: _has_lease(cluster), 10, "a relay to take the lease")
    leader = next(w for w in workers if w.proc.pid == lease_holder_pid(cluster))
    with frozen(cluster.pid("valkey")):
        for i in range(2):
            assert book(serve.url, service, headers, 30 + i).status_code == 201
        leader.send(signal.SIGKILL)
        leader.wait(10)
    wait_mails(cluster, email, 2)
    assert lease_holder_pid(cluster) != leader.proc.pid


def _has_lease(cluster: Cluster) -> bool:
    with cluster.mongo() as client:
        return client[cluster.db_name]["core_leases"].find_one({"_id": "outbox-relay"}) is not None


def test_mongodb_frozen_requests_503_and_nothing_partial(cluster_factory: Any) -> None:
    cluster = cluster_factory(services=("valkey", "secantusdb"))
    serve, _ = ready(cluster)
    service, email, headers = market(cluster, serve.url)
    with frozen(cluster.pid("secantusdb")):
        began = time.monotonic()
        refused = book(serve.url, service, headers, 30)
        assert time.monotonic() - began < 10
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "service_unavailable"
    time.sleep(1)
    with cluster.mongo() as client:
        db = client[cluster.db_name]
        assert db["bookings_bookings"].count_documents({}) == 0
        assert db["core_outbox"].count_documents({"name": {"$regex": "^booking"}}) == 0
    cluster.wait_for(
        lambda: book(serve.url, service, headers, 30).status_code == 201, 20, "a booking again"
    )
    wait_mails(cluster, email, 1)


def test_worker_sigterm_exits_in_grace_and_hands_the_relay_over(cluster_factory: Any) -> None:
    cluster = cluster_factory(extra="[events]\nlease_s = 30.0\n")
    serve, workers = ready(cluster, workers=2)
    service, email, headers = market(cluster, serve.url)
    cluster.wait_for(lambda: _has_lease(cluster), 10, "a relay to take the lease")
    leader = next(w for w in workers if w.proc.pid == lease_holder_pid(cluster))
    leader.send(signal.SIGTERM)
    code, took = leader.wait(15)
    assert code == 0, leader.output()[-2000:]
    assert took < 5 + 3  # the grace period (5 s in these configs) plus start-up margin
    assert book(serve.url, service, headers, 30).status_code == 201
    # the lease was released (not left to lapse: it is 30 s), so the standby relays at once
    assert wait_mails(cluster, email, 1) < 10
