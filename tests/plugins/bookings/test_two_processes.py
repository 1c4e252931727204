"""Two real ``keel serve`` processes on one stack: still exactly one booking per slot.

The per-process lock in front of the slot claims does not span processes, so this is
the unique claims in MongoDB holding the line alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

from core.devstack import DevStack
from core.settings import AuthSettings
from plugins.accounts.documents import User
from plugins.accounts.passwords import PasswordHasher

from .conftest import ALL_WEEK, next_slot

pytestmark = pytest.mark.e2e

KEEL = str(Path(sys.executable).with_name("keel"))
PASSWORD = "two processes passphrase"
ROUNDS = 3


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.1)


@contextlib.contextmanager
def _serving(env: dict[str, str], logs: list[Path]) -> Iterator[list[str]]:
    """``keel serve`` processes, one per log file, started together; their URLs."""
    ports = [_free_port() for _ in logs]
    procs = []
    try:
        for port, log in zip(ports, logs, strict=True):
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [KEEL, "serve", "--port", str(port)],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, proc, log in zip(urls, procs, logs, strict=True):
            _wait_ready(url, proc, log)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Pair:
    """Two API processes on one database, and that database."""

    urls: list[str]
    db: Any


@pytest.fixture
async def pair(keel_stack: DevStack, tmp_path: Path) -> AsyncIterator[Pair]:
    config = tmp_path / "config.toml"
    config.write_text(
        '[app]\nenv = "test"\nlog_level = "WARNING"\n\n[server.rate_limit]\nenabled = false\n\n'
        '[plugins]\nenabled = ["bookings"]\n',
        encoding="utf-8",
    )
    unique = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env |= {
        **keel_stack.environ(),
        "KEEL_CONFIG": str(config),
        "KEEL_DATABASE__NAME": f"bk2p_{unique}",
        "KEEL_VALKEY__KEY_PREFIX": f"bk2p{unique}",
    }
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(env["KEEL_DATABASE__URL"], tz_aware=True)
    try:
        with _serving(env, [tmp_path / "serve1.log", tmp_path / "serve2.log"]) as urls:
            yield Pair(urls, client[env["KEEL_DATABASE__NAME"]])
    finally:
        await client.drop_database(env["KEEL_DATABASE__NAME"])
        client.close()


async def _signed_in(client: httpx.AsyncClient, pair: Pair, role: str) -> dict[str, str]:
    email = f"{role}.{ObjectId()}@example.com"
    user = User(
        id=ObjectId(),
        name=role,
        email=email,
        email_key=email,
        role=role,
        verified=True,
        password_hash=await PasswordHasher(AuthSettings()).hash(PASSWORD),
    )
    await pair.db.users.insert_one(user.model_dump_doc())
    response = await client.post(
        f"{pair.urls[0]}/api/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


async def test_one_booking_per_slot_across_two_processes(pair: Pair) -> None:
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        provider = await _signed_in(client, pair, "provider")
        customer = await _signed_in(client, pair, "customer")
        services = {}
        for minutes in (30, 60):
            body = {
                "name": f"S{minutes}",
                "category": "test",
                "price": 1000,
                "currency": "EUR",
                "durationMinutes": minutes,
                "availability": ALL_WEEK,
            }
            created = await client.post(f"{pair.urls[1]}/api/services", json=body, headers=provider)
            assert created.status_code == 201, created.text
            services[minutes] = created.json()["id"]

        async def book(i: int, minutes: int, start: Any) -> int:
            response = await client.post(
                f"{pair.urls[i % 2]}/api/bookings",
                json={"serviceId": services[minutes], "start": start.isoformat()},
                headers=customer,
            )
            return response.status_code

        booked = 0
        for round_ in range(ROUNDS):
            start = next_slot(hours=24 * (round_ + 1))
            same = await asyncio.gather(*(book(i, 60, start) for i in range(60)))
            assert sorted(same) == [201] + [409] * 59, (round_, sorted(same))
            later = start + timedelta(hours=3)
            # [L, L+60) overlaps both 30-minute ones, which do not overlap each other:
            # either the hour wins alone, or one or both half-hours win
            requests = [
                *((60, later) for _ in range(10)),
                *((30, later + timedelta(minutes=30)) for _ in range(10)),
                *((30, later - timedelta(minutes=15)) for _ in range(10)),
            ]
            mixed = await asyncio.gather(*(book(i, m, at) for i, (m, at) in enumerate(requests)))
            assert set(mixed) <= {201, 409}, (round_, sorted(mixed))
            won = [requests[i] for i, status in enumerate(mixed) if status == 201]
            assert len(set(won)) == len(won), (round_, won)  # no interval twice
            assert won, round_
            if (60, later) in won:
                assert won == [(60, later)], (round_, won)
            booked += 1 + len(won)
        active = await pair.db.bookings_bookings.count_documents({"status": "pending"})
        assert active == booked
