"""Real ``keel serve`` and ``keel worker`` processes on services of the test's own.

Each test gets a :class:`Cluster`: a private valkey-server (and, when asked, a private
SecantusDB) next to the session's shared stack, a database and key prefix of its own, and
helpers to start keel processes, sign users in and wait for effects. Faults are real
signals to real processes; nothing in keel is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from core.devstack import DevStack
from core.pluginhost import PluginHost, discover, plugin_settings_types
from core.runtime import close_keel, open_keel
from core.settings import load_settings
from core.testing import private_stack

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from _keel_procs import KeelProcess, free_port, write_config

PLUGINS = ["bookings", "notifications", "realtime"]
ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
PASSWORD = "correct horse battery staple"


@dataclass
class Cluster:
    """One test's processes and what it needs to look at their shared state."""

    env: dict[str, str]
    tmp: Path
    own: DevStack
    shared: DevStack
    procs: list[KeelProcess] = field(default_factory=list)

    @property
    def db_name(self) -> str:
        return self.env["KEEL_DATABASE__NAME"]

    def mongo(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(self.env["KEEL_DATABASE__URL"], tz_aware=True)

    def pid(self, service: str) -> int:
        return self.own.services[service].pid

    def serve(self, name: str = "serve") -> KeelProcess:
        port = free_port()
        proc = KeelProcess(
            name, ["serve", "--port", str(port)], self.env, self.tmp / f"{name}.log", port
        )
        self.procs.append(proc.start())
        return proc

    def worker(self, name: str = "worker") -> KeelProcess:
        proc = KeelProcess(name, ["worker"], self.env, self.tmp / f"{name}.log")
        self.procs.append(proc.start())
        return proc

    def mails_to(self, email: str) -> list[Path]:
        box = self.shared.mail_dir
        return [p for p in box.glob("*.eml") if email in p.read_text(errors="replace")]

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Seconds it took until ``predicate()``; fails (with the processes' logs) after
        ``timeout``."""
        began = time.monotonic()
        while not predicate():
            for proc in self.procs:
                if proc.proc is not None and proc.proc.returncode is None:
                    proc.proc.poll()
            if time.monotonic() - began > timeout:
                logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.procs)
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            time.sleep(0.1)
        return time.monotonic() - began


def create_user(cluster: Cluster, role: str) -> str:
    """A verified user of ``role`` made through the accounts plugin (as ``KeelTestApp.user``
    does), in this test process; its email."""
    email = f"{role}.{uuid.uuid4().hex[:10]}@example.com"
    installed = discover()
    settings = load_settings(
        cluster.env["KEEL_CONFIG"],
        environ=cluster.env,
        plugin_types=plugin_settings_types(installed),
    )

    async def make() -> None:
        keel = await open_keel(settings, PluginHost(settings, installed))
        try:
            await keel.host.create_user(
                keel,
                email=email,
                password=PASSWORD,
                name="A Person",
                role=role,
                verified=True,
                publish=False,
            )
        finally:
            await close_keel(keel)

    asyncio.run(make())
    return email


def signup(cluster: Cluster, base: str, role: str) -> tuple[str, dict[str, str]]:
    """A verified user of ``role`` and the auth headers of its login through ``base``."""
    email = create_user(cluster, role)
    login = httpx.post(
        f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    return email, {"Authorization": f"Bearer {login.json()['accessToken']}"}


def make_service(base: str, headers: dict[str, str]) -> dict[str, Any]:
    body = {
        "name": "Plumber visit",
        "category": "plumbing",
        "price": 4500,
        "currency": "EUR",
        "durationMinutes": 60,
        "availability": ALL_WEEK,
    }
    made = httpx.post(f"{base}/api/services", json=body, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def booking_body(service: dict[str, Any], hours: int) -> dict[str, Any]:
    start = time.time() // 3600 * 3600 + hours * 3600
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    return {"serviceId": service["id"], "start": iso}


@pytest.fixture
def cluster_factory(keel_stack: DevStack, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``make(services=("valkey",), extra="")``: a :class:`Cluster` (no process started)."""
    made: list[Cluster] = []
    stacks: list[DevStack] = []

    def make(services: tuple[str, ...] = ("valkey",), extra: str = "") -> Cluster:
        own = private_stack(keel_stack, tmp_path / "own", *services)
        own.start()
        stacks.append(own)
        unique = uuid.uuid4().hex[:10]
        config = write_config(tmp_path / "config.toml", enabled=PLUGINS, extra=extra)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KEEL_")},
            **own.environ(),
            "KEEL_CONFIG": str(config),
            "KEEL_DATABASE__NAME": f"faults_{unique}",
            "KEEL_VALKEY__KEY_PREFIX": f"faults{unique}",
            "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
        }
        cluster = Cluster(env=env, tmp=tmp_path, own=own, shared=keel_stack)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        for proc in cluster.procs:
            proc.kill()
        with contextlib.suppress(Exception), cluster.mongo() as client:
            client.drop_database(cluster.db_name)
    for stack in stacks:
        stack.stop()
