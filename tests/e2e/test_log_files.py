"""``keel serve --workers 2`` with one ``[app] log_dir``: a rotating file per process.

Two uvicorn worker processes write JSON lines to the same directory with a tiny
``log_max_bytes``, so both rotate many times while the test runs. What an operator reading
the directory sees: one file family per process, named after its role and pid; every line
whole JSON; one access line per request made, none lost across rotations, none twice; a
signed-in request's lines name its user and the client IP its proxy forwarded; no token or
password anywhere. Runtime: the test body ~4 s (bounded at 25 s); starting the two
workers 5-30 s, depending on the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _keel_procs import KeelProcess, free_port, write_config
from websockets.asyncio.client import connect

from core.testing import PASSWORD, KeelTestApp

pytestmark = pytest.mark.e2e

MAX_BYTES = 4096  # about 17 access lines per file
ROTATIONS = 2  # rotated copies each process must have made before the test stops sending
ROUND = 60  # requests per round, each on a fresh connection (either worker may accept it)
FORWARDED_IP = "203.0.113.7"
FAMILY = re.compile(r"keel-(?P<role>[a-z]+)-(?P<pid>\d+)\.log(?:\.(?P<n>\d+))?")


@pytest.fixture
async def env(keel_app_factory: Any) -> AsyncIterator[KeelTestApp]:
    """An in-process app on the test's database and key prefix, to make users."""
    async with keel_app_factory(plugins=["realtime"]) as app:
        yield app


@pytest.fixture
def served(env: KeelTestApp, keel_stack: Any, tmp_path: Path) -> Iterator[tuple[KeelProcess, Path]]:
    """``keel serve --workers 2`` writing INFO JSON lines to ``tmp_path/logs``."""
    config = write_config(
        tmp_path / "config.toml",
        enabled=["realtime"],
        extra="[server.rate_limit]\ndefault_per_minute = 100000\n",
    )
    log_dir = tmp_path / "logs"
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    child_env = {
        **base,
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": env.settings.database.name,
        "KEEL_VALKEY__KEY_PREFIX": env.settings.valkey.key_prefix,
        "KEEL_APP__LOG_DIR": str(log_dir),
        "KEEL_APP__LOG_LEVEL": "INFO",
        "KEEL_APP__LOG_FORMAT": "json",
        "KEEL_APP__LOG_MAX_BYTES": str(MAX_BYTES),
        "KEEL_APP__LOG_BACKUPS": "500",  # nothing deleted: every line must be found
    }
    port = free_port()
    args = ["serve", "--workers", "2", "--port", str(port)]
    proc = KeelProcess("serve", args, child_env, tmp_path / "serve.log", port).start()
    try:
        proc.wait_ready(timeout=60)
        yield proc, log_dir
    finally:
        proc.kill()


def _families(log_dir: Path) -> dict[int, list[Path]]:
    """Log files by the pid in their name (any other file fails the test)."""
    found: dict[int, list[Path]] = {}
    for path in sorted(log_dir.iterdir()):
        match = FAMILY.fullmatch(path.name)
        assert match is not None, f"unexpected file {path.name} in the log directory"
        assert match["role"] == "serve", path.name
        found.setdefault(int(match["pid"]), []).append(path)
    return found


def _parent(pid: int) -> int:
    """The parent of process ``pid`` (Linux)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _lines(paths: list[Path]) -> list[str]:
    return [line for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


async def _round(client: httpx.AsyncClient, url: str, first: int) -> int:
    """``ROUND`` unauthenticated requests, 12 at a time; returns how many were made."""
    gate = asyncio.Semaphore(12)

    async def one(i: int) -> None:
        async with gate:
            response = await client.get(url, headers={"X-Request-ID": f"bulk-{i}"})
            assert response.status_code == 200, response.text

    await asyncio.gather(*(one(i) for i in range(first, first + ROUND)))
    return ROUND


async def _until_both_rotated(base: str, log_dir: Path) -> int:
    """Rounds of requests until two file families exist, each rotated ``ROTATIONS``
    times (at most 20 s); returns how many requests were made."""
    sent = 0
    deadline = time.monotonic() + 20
    # fresh connections, so that the kernel hands them to both workers
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        while True:
            sent += await _round(client, f"{base}/health/live", sent)
            families = _families(log_dir)
            if len(families) == 2 and all(len(f) > ROTATIONS for f in families.values()):
                return sent
            rotated = {pid: len(files) - 1 for pid, files in families.items()}
            assert time.monotonic() < deadline, f"{sent} requests; rotations by pid: {rotated}"


async def _settle(log_dir: Path, sent: int) -> None:
    """Wait (at most 5 s) until ``sent`` bulk access lines are on disk, then a little more:
    access lines are written in batches, at most ~0.3 s late."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            lines = _lines([p for files in _families(log_dir).values() for p in files])
        except FileNotFoundError:  # rotated while being read: look again
            continue
        bulk = [line for line in lines if '"requestId":"bulk-' in line and "core.access" in line]
        if len(bulk) >= sent:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # a last batch in flight, then the directory is quiet


async def _signed_in_traffic(env: KeelTestApp, base: str) -> dict[str, str]:
    """A login, a signed-in request and a WebSocket, all through the served processes and
    forwarded by a (trusted, loopback) proxy; returns the secrets they used."""
    user = await env.user()
    forwarded = {"X-Forwarded-For": FORWARDED_IP}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        login = await client.post(
            "/api/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={**forwarded, "X-Request-ID": "login-1"},
        )
        assert login.status_code == 200, login.text
        tokens = login.json()
        bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
        me = await client.get(
            "/api/users/me", headers={**forwarded, **bearer, "X-Request-ID": "me-1"}
        )
        assert me.status_code == 200, me.text
    async with connect(f"{base.replace('http', 'ws')}/ws?token={tokens['accessToken']}") as ws:
        assert json.loads(await ws.recv())["event"] == "connected"
    return {
        "user_id": str(user.id),
        "access": tokens["accessToken"],
        "refresh": tokens["refreshToken"],
    }


async def test_each_process_rotates_its_own_file_and_loses_no_line(
    env: KeelTestApp, served: tuple[KeelProcess, Path]
) -> None:
    proc, log_dir = served
    secrets = await _signed_in_traffic(env, proc.url)
    sent = await _until_both_rotated(proc.url, log_dir)
    await _settle(log_dir, sent)

    families = _families(log_dir)
    serve_pid = proc.proc.pid if proc.proc else 0
    assert len(families) == 2, f"one file family per API process: {families}"
    entries_by_pid: dict[int, list[dict[str, Any]]] = {}
    for pid, files in families.items():
        # each family is one live worker process of this keel serve, rotated ROTATIONS+ times
        assert _parent(pid) == serve_pid, f"pid {pid} is not a worker of keel serve"
        assert len(files) > ROTATIONS, files
        for path in files:
            text = path.read_text(encoding="utf-8")
            assert text.endswith("\n"), f"{path.name} ends in a partial line"
        entries_by_pid[pid] = [json.loads(line) for line in _lines(files)]  # every line JSON
    entries = [e for found in entries_by_pid.values() for e in found]
    assert all(
        isinstance(e, dict) and {"ts", "level", "logger", "msg", "requestId"} <= e.keys()
        for e in entries
    )

    # one access line per request made: none lost across rotations, none written twice
    access = [e for e in entries if e["logger"] == "core.access"]
    bulk_ids = sorted(e["requestId"] for e in access if e["requestId"].startswith("bulk-"))
    assert bulk_ids == sorted(f"bulk-{i}" for i in range(sent))
    anonymous = next(e for e in access if e["requestId"] == "bulk-0")
    assert anonymous["clientIp"] == "127.0.0.1"
    assert "userId" not in anonymous

    # the signed-in requests name their user and the client IP the proxy forwarded
    for rid, path in (("login-1", "/api/auth/login"), ("me-1", "/api/users/me")):
        line = next(e for e in access if e["requestId"] == rid)
        assert line["path"] == path
        assert line["userId"] == secrets["user_id"], line
        assert line["clientIp"] == FORWARDED_IP, line

    # no credential in any line; uvicorn's WebSocket line shows the token redacted
    every_file = "".join(p.read_text() for files in families.values() for p in files)
    for secret in (secrets["access"], secrets["refresh"], PASSWORD, "Bearer "):
        assert secret not in every_file
    socket_line = next(e for e in entries if "/ws?token=[redacted]" in e["msg"])
    assert socket_line["logger"] == "uvicorn.error"
    # written while serving the socket (accepted before its token is checked: no user yet)
    assert socket_line["requestId"] != "-", socket_line
    assert socket_line["clientIp"] == "127.0.0.1", socket_line
