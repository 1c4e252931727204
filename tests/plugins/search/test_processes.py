"""Real processes: a ``keel worker`` writes one host's index, two ``keel serve`` read it."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.testing._app import AppFactory
from plugins.bookings.events import ServiceCreated
from plugins.search._layout import FileLock
from tests.e2e._keel_procs import KeelProcess, free_port, run_keel, write_config
from tests.plugins.search.conftest import snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def host(keel_stack: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """One host: a worker (the index writer) and two API processes on one index directory."""
    config = write_config(tmp_path / "config.toml", enabled=["bookings", "search"])
    unique = uuid.uuid4().hex[:10]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEEL_")},
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": f"search_{unique}",
        "KEEL_VALKEY__KEY_PREFIX": f"search{unique}",
        "KEEL_PLUGINS__SEARCH__INDEX_DIR": str(tmp_path / "index"),
    }
    procs = [KeelProcess("worker", ["worker", "--no-scheduler"], env, tmp_path / "worker.log")]
    for i in (1, 2):
        port = free_port()
        args = ["serve", "--port", str(port), "--workers", "1"]
        procs.append(KeelProcess(f"serve{i}", args, env, tmp_path / f"serve{i}.log", port))
    try:
        for proc in procs:
            proc.start()
        for proc in procs[1:]:
            proc.wait_ready()
        yield {"env": env, "worker": procs[0], "servers": procs[1:], "index": tmp_path / "index"}
    finally:
        for proc in procs:
            proc.kill()


def _found(url: str, name: str) -> int:
    response = httpx.get(f"{url}/api/search/services", params={"query": name}, timeout=5)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def test_two_api_processes_read_the_index_the_worker_writes(
    host: dict[str, Any], keel_app_factory: AppFactory, tmp_path: Path
) -> None:
    overrides = {
        "database.name": host["env"]["KEEL_DATABASE__NAME"],
        "valkey.key_prefix": host["env"]["KEEL_VALKEY__KEY_PREFIX"],
        "plugins.search.index_dir": str(tmp_path / "publisher"),
        "plugins.search.writer": "never",
    }
    # this app only emits: the deliveries run on the worker, which indexes them
    async with keel_app_factory(plugins=["bookings", "search"], overrides=overrides) as env:
        names = [f"Zither lesson {uuid.uuid4().hex[:6]}" for _ in range(3)]
        for name in names:
            await env.keel.events.emit(ServiceCreated(service=snapshot(name)))
        emitted = time.monotonic()
        for server in host["servers"]:
            deadline = emitted + 15
            while _found(server.url, "zither") < len(names):
                host["worker"].check_alive()
                assert time.monotonic() < deadline, server.output()[-2000:]
                await asyncio.sleep(0.05)
        lag = time.monotonic() - emitted
        assert lag < 10, lag
        for server in host["servers"]:
            assert _found(server.url, names[0]) == 1
    assert (host["index"] / "CURRENT").is_file()
    assert not any(p.name.startswith("tmp-") for p in host["index"].iterdir())


def test_keel_search_reindex_shows_progress_and_refuses_a_second_run_cleanly(
    host: dict[str, Any],
) -> None:
    done = run_keel(["search", "reindex"], host["env"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "search index generation g" in done.stdout
    assert "0 service(s), 0 user(s)" in done.stdout
    lock = FileLock(Path(host["index"]) / "reindex.lock")
    assert lock.acquire()  # as if another rebuild were running
    try:
        refused = run_keel(["search", "reindex"], host["env"], timeout=120)
    finally:
        lock.release()
    assert refused.returncode == 1
    assert "a search reindex is already running" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
