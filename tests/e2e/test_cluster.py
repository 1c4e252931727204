"""Two ``keel serve`` processes and ``keel worker`` processes against one embedded stack.

The processes start once for the module; the tests run in file order (the last one stops
them with SIGTERM). Every-second ``hello.tick`` records one document per run in
``hello_ticks`` with its SAQ key ``sched:hello.tick:<tick epoch>``.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import valkey
from _keel_procs import BUILT_INS, KeelProcess, free_port, write_config

pytestmark = pytest.mark.e2e

RATE_LIMIT = 12
TICKS = 10


@dataclass
class Cluster:
    """The running processes and what the tests need to inspect their shared state."""

    env: dict[str, str]
    tmp: Path
    db_name: str
    prefix: str
    mongo_url: str
    valkey_url: str
    servers: list[KeelProcess]
    workers: list[KeelProcess]

    def start_worker(self) -> KeelProcess:
        n = len(self.workers) + 1
        worker = KeelProcess(f"worker{n}", ["worker"], self.env, self.tmp / f"worker{n}.log")
        self.workers.append(worker.start())
        return worker

    def tick_counts(self, mongo: pymongo.MongoClient[Any]) -> collections.Counter[int]:
        """Runs of ``hello.record_tick`` per tick epoch (its documents in ``hello_ticks``)."""
        docs = mongo[self.db_name]["hello_ticks"].find({}, {"job_key": 1})
        prefix = "sched:hello.tick:"
        return collections.Counter(
            int(d["job_key"].removeprefix(prefix)) for d in docs if d["job_key"].startswith(prefix)
        )

    def live_workers(self, client: valkey.Valkey) -> int:
        """Worker processes heartbeating on the ``default`` queue (SAQ's stats set)."""
        key = f"saq:{self.prefix}:default:stats"
        count: int = client.zcount(key, time.time() * 1000, "+inf")  # type: ignore[assignment]
        return count


@pytest.fixture(scope="module")
def cluster(keel_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    unique = uuid.uuid4().hex[:10]
    config = write_config(
        tmp / "config.toml",
        enabled=[*BUILT_INS, "hello"],
        extra=f"[server.rate_limit]\ndefault_per_minute = {RATE_LIMIT}\n\n"
        '[plugins.hello]\ntick_cron = "* * * * * *"\n',
    )
    stack_env = keel_stack.environ()
    env = {
        **_base_env(),
        **stack_env,
        # valkey:// (not the stack's redis://): API, worker and SAQ all take Valkey's scheme.
        "KEEL_VALKEY__URL": stack_env["KEEL_VALKEY__URL"].replace("redis://", "valkey://", 1),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": f"e2e_{unique}",
        "KEEL_VALKEY__KEY_PREFIX": f"e2e{unique}",
    }
    servers = [
        KeelProcess(f"serve{i}", ["serve", "--port", str(port)], env, tmp / f"serve{i}.log", port)
        for i, port in enumerate((free_port(), free_port()), start=1)
    ]
    cluster = Cluster(
        env=env,
        tmp=tmp,
        db_name=env["KEEL_DATABASE__NAME"],
        prefix=env["KEEL_VALKEY__KEY_PREFIX"],
        mongo_url=env["KEEL_DATABASE__URL"],
        valkey_url=env["KEEL_VALKEY__URL"],
        servers=servers,
        workers=[],
    )
    try:
        for server in servers:
            server.start()
        cluster.start_worker()
        for server in servers:
            server.wait_ready()
        yield cluster
    finally:
        for proc in [*cluster.servers, *cluster.workers]:
            proc.kill()
        with pymongo.MongoClient[dict[str, Any]](cluster.mongo_url) as client:
            client.drop_database(cluster.db_name)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}


@pytest.fixture(scope="module")
def mongo(cluster: Cluster) -> Iterator[pymongo.MongoClient[Any]]:
    with pymongo.MongoClient[dict[str, Any]](cluster.mongo_url, tz_aware=True) as client:
        yield client


@pytest.fixture(scope="module")
def valkey_client(cluster: Cluster) -> Iterator[valkey.Valkey]:
    client: valkey.Valkey = valkey.Valkey.from_url(cluster.valkey_url)
    yield client
    client.close()  # type: ignore[no-untyped-call]


def _wait_for(predicate: Any, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in [*cluster.servers, *cluster.workers]:
            proc.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _assert_each_tick_once(cluster: Cluster, mongo: pymongo.MongoClient[Any], since: float) -> None:
    """Every tick after ``since`` (up to two seconds ago) was handled exactly once.

    Handled means the job ran (one ``hello_ticks`` document) or the core's overrun guard
    skipped it because the previous tick's run still held the schedule's lock (one
    ``skipped`` run record, no document). A tick with neither, or with two runs, fails.
    """
    ran = cluster.tick_counts(mongo)
    skipped = _skipped_ticks(cluster, mongo)
    horizon = int(time.time()) - 2
    ticks = sorted(t for t in set(ran) | set(skipped) if since < t <= horizon)
    assert len(ticks) >= TICKS, f"only {len(ticks)} ticks after {since}: {ticks}"
    window = range(ticks[0], ticks[-1] + 1)
    missing = [t for t in window if t not in ran and t not in skipped]
    twice = {t: (ran[t], skipped[t]) for t in window if ran[t] + skipped[t] > 1}
    assert (missing, twice) == ([], {}), (
        f"ticks {ticks[0]}..{ticks[-1]}: missing {missing}, (ran, skipped) more than once {twice}",
        cluster.workers[0].output()[-3000:],
    )
    assert sum(1 for t in window if ran[t]) >= len(window) // 2, ("mostly skipped", skipped)


def _skipped_ticks(cluster: Cluster, mongo: pymongo.MongoClient[Any]) -> collections.Counter[int]:
    """Ticks of ``hello.tick`` whose run the overrun guard skipped (``core_schedule_runs``)."""
    prefix = "sched:hello.tick:"
    docs = mongo[cluster.db_name]["core_schedule_runs"].find(
        {"schedule": "hello.tick", "outcome": "skipped"}, {"job_key": 1}
    )
    return collections.Counter(
        int(d["job_key"].removeprefix(prefix)) for d in docs if d["job_key"].startswith(prefix)
    )


def test_schedule_runs_once_per_tick(
    cluster: Cluster, mongo: pymongo.MongoClient[Any], valkey_client: valkey.Valkey
) -> None:
    # Every tick since worker 1 started counts: it has been ticking since the fixture began.
    _wait_for(lambda: cluster.live_workers(valkey_client) >= 1, 20, "worker 1", cluster)
    _wait_for(lambda: len(cluster.tick_counts(mongo)) >= TICKS + 2, TICKS + 15, "ticks", cluster)
    _assert_each_tick_once(cluster, mongo, since=0)


def test_schedule_runs_once_per_tick_with_two_workers(
    cluster: Cluster, mongo: pymongo.MongoClient[Any], valkey_client: valkey.Valkey
) -> None:
    cluster.start_worker()
    _wait_for(lambda: cluster.live_workers(valkey_client) >= 2, 20, "worker 2", cluster)
    started = time.time()
    _wait_for(
        lambda: len([t for t in cluster.tick_counts(mongo) if t > started]) >= TICKS + 2,
        TICKS + 15,
        "ten more ticks",
        cluster,
    )
    _assert_each_tick_once(cluster, mongo, started)


def test_rate_limit_is_shared_by_the_api_processes(cluster: Cluster) -> None:
    urls = [f"{server.url}/api/hello" for server in cluster.servers]
    with httpx.Client(timeout=5) as client:
        answers = [client.get(urls[i % 2]) for i in range(RATE_LIMIT)]
        over = client.get(urls[RATE_LIMIT % 2])
    assert [r.status_code for r in answers] == [200] * RATE_LIMIT
    assert answers[0].json() == {"message": "hello"}
    assert over.status_code == 429
    body = over.json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert "Retry-After" in over.headers
    assert "Traceback" not in over.text


def test_durable_listener_runs_in_the_worker(
    cluster: Cluster, mongo: pymongo.MongoClient[Any]
) -> None:
    # Another loopback source address: a client of its own for the rate limit used up above.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=5) as client:
        greeted = client.post(f"{cluster.servers[1].url}/api/hello/greet", json={"who": "e2e"})
    assert greeted.status_code == 202, greeted.text
    event_id = greeted.json()["eventId"]
    greetings = mongo[cluster.db_name]["hello_greetings"]
    _wait_for(lambda: greetings.count_documents({"event_id": event_id}) == 1, 15, "greet", cluster)
    found = greetings.find_one({"event_id": event_id})
    assert found is not None
    assert found["who"] == "e2e"


def test_sigterm_stops_every_process_cleanly(cluster: Cluster) -> None:
    grace = 5.0  # [server] grace_period_s in the config
    procs = [*cluster.servers, *cluster.workers]
    for proc in procs:
        proc.check_alive()
    for proc in procs:
        proc.send(signal.SIGTERM)
    results = {proc.name: proc.wait(timeout=grace + 5) for proc in procs}
    outputs = {proc.name: proc.output()[-2000:] for proc in procs}
    assert {name: code for name, (code, _) in results.items()} == dict.fromkeys(results, 0), (
        results,
        outputs,
    )
    assert all(took <= grace for _, took in results.values()), results
    assert not any("Traceback" in text for text in outputs.values()), outputs
