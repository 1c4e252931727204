"""Realtime: keel's /ws against a bare Litestar relay and python-socketio (Valkey pub/sub).

For each server kind, two processes share one embedded valkey-server (keel also its
SecantusDB). The clients are the lean raw-socket ones of ``bench/_realtime_clients.py``
(no compression offered), and every connection but the measured pair lives in a
separate "crowd" process (``bench/_realtime_crowd.py``), so the probe never waits for
the load it measures under. Measured:

1. memory per idle connection: RSS growth of one process / connections (``--idle``);
2. typing latency from a client on process 1 to one on process 2, ``--messages``
   sequential frames after a warm-up, at rest and while ``--load-rate`` typing frames/s,
   evenly paced, flow between ``--pairs`` other cross-process pairs (``--connections``
   in all, split between the processes);
3. fan-out: ``--fanout`` messages to a room of all ``--connections``; delivered/s, and
   the CPU each delivery cost the servers, the clients and Valkey + the database.

Latency and fan-out run ``--rounds`` times; the table shows the median round (the
machines are shared and noisy). Server CPU under load is also shown: the same latency
with less CPU leaves more room for everything else.

Run: ``.venv/bin/python -m bench.realtime`` (needs ``python-socketio``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymongo
import uvloop
from bson import ObjectId

from bench._realtime_clients import Client, Peer, close_all, listen, open_many
from bench._servers import ROOT, base_env, free_port, keel_argv, uvicorn_argv, wait_http
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings
from plugins.accounts.tokens import TokenCodec

KINDS = ("keel", "bare", "python-socketio")
CONFIG = """[app]
env = "production"
access_log = false
log_level = "WARNING"

[server.rate_limit]
enabled = false

[plugins]
enabled = ["realtime"]

[plugins.realtime]
rate_per_s = 1000000.0
rate_burst = 1000000
heartbeat_s = 3600.0
send_queue_size = 4096
# every crowd socket comes from 127.0.0.1: the per-IP upgrade limit is for the internet
upgrades_per_ip_per_minute = 0
"""


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_pids() -> list[int]:
    """The embedded valkey-server and SecantusDB processes (their CPU is shared cost)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"valkey-server" in cmdline or b"secantus" in cmdline:
                found.append(int(entry.name))
    return found


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def servers(kind: str, env: dict[str, str], n: int = 2) -> Iterator[list[tuple[int, int]]]:
    """Start ``n`` server processes of ``kind``; yields (port, pid) pairs."""
    started: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(n):
            port = free_port()
            if kind == "keel":
                argv = [*keel_argv(port), "--workers", "1"]
            else:
                target = "bench._realtime_peers:" + ("bare_app" if kind == "bare" else "sio_app")
                argv = uvicorn_argv(target, port)
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            started.append((port, proc))
            if kind == "keel":
                wait_http(f"http://127.0.0.1:{port}/health/live")
            else:
                wait_port(port)
        yield [(port, proc.pid) for port, proc in started]
    finally:
        for _, proc in started:
            proc.terminate()
        for _, proc in started:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} never opened")


class CrowdProcess:
    """The ``bench._realtime_crowd`` process holding every connection but the probe's."""

    def __init__(self, peer: Peer, tmp: Path, env: dict[str, str]) -> None:
        spec = tmp / f"peer-{peer.name}-{len(peer.ports)}.json"
        spec.write_text(json.dumps(dataclasses.asdict(peer)), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._realtime_crowd", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )

    def ask(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the crowd process exited ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"crowd: {cmd}: {answer['error']}")
        return answer

    async def aask(self, cmd: str, **fields: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.ask, cmd, **fields)

    def end(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def latency(peer: Peer, a: Client, b: Client, n: int, warmup: int) -> list[float]:
    """Milliseconds from a's ``typing`` to b's receipt, ``n`` sequential frames."""
    frame = peer.typing(b.uid)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[float] | None = None

    def received(payload: bytes) -> None:
        if b"typing" in payload[:24] and waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())

    listen(b, received)
    out: list[float] = []
    for i in range(warmup + n):
        waiter = loop.create_future()
        start = time.perf_counter()
        a.send(frame)
        try:
            async with asyncio.timeout(10):
                got = await waiter
        except TimeoutError:
            print(f"  {peer.name}: typing frame {i} lost", file=sys.stderr)
            raise
        if i >= warmup:
            out.append((got - start) * 1000)
    return out


async def latency_rounds(peer: Peer, a: Client, b: Client, args: Any) -> tuple[float, float]:
    """Median over ``--rounds`` rounds of each round's (p50, p99) typing latency."""
    p50s, p99s = [], []
    for i in range(args.rounds):
        times = await latency(peer, a, b, args.messages, args.warmup if i == 0 else 0)
        p50s.append(pct(times, 0.5))
        p99s.append(pct(times, 0.99))
    return statistics.median(p50s), statistics.median(p99s)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def memory(peer: Peer, pid: int, uids: list[str], tmp: Path, env: dict[str, str]) -> float:
    """KB of RSS per idle connection held by the process ``pid`` (all of ``uids``)."""
    crowd = CrowdProcess(Peer(peer.name, peer.ports[:1], peer.tokens, peer.room), tmp, env)
    try:
        await asyncio.sleep(0.5)
        before = rss_kb(pid)
        await crowd.aask("open", uids=uids, start=0)
        await asyncio.sleep(1.0)
        after = rss_kb(pid)
        await crowd.aask("close")
    finally:
        crowd.end()
    await asyncio.sleep(1.0)  # let the server forget them
    return (after - before) / len(uids)


async def run_kind(  # noqa: PLR0917 - the benchmark's one driver
    peer: Peer, pids: list[int], uids: list[str], idle: list[str], args: Any, tmp: Path
) -> dict[str, float]:
    """Every measurement against one server kind."""
    env = base_env({})
    result: dict[str, float] = {"held": len(idle)}
    result["kb_per_conn"] = await memory(peer, pids[0], idle, tmp, env)
    crowd = CrowdProcess(peer, tmp, env)
    try:
        a, b = await open_many(peer, uids[:2])
        await crowd.aask("open", uids=uids[2:], start=2)
        await asyncio.sleep(0.5)
        result["rest_p50"], result["rest_p99"] = await latency_rounds(peer, a, b, args)
        await crowd.aask("load", pairs=args.pairs, rate=args.load_rate)
        await asyncio.sleep(1.0)
        cpu = [cpu_s(pid) for pid in pids]
        result["load_p50"], result["load_p99"] = await latency_rounds(peer, a, b, args)
        stats = await crowd.aask("stop")
        used = sum(cpu_s(pid) - was for pid, was in zip(pids, cpu, strict=True))
        result["load_server_cpu"] = used / (stats["seconds"] - 1.0) * 100
        result["load_rate"] = stats["sent"] / stats["seconds"]
        result["load_lost"] = stats["sent"] - stats["received"]
        close_all([a, b])
        await asyncio.sleep(0.5)
        await crowd.aask("open", uids=uids[:2], start=0)
        rates, server_s, client_s, stack_s, delivered = [], 0.0, 0.0, 0.0, 0
        watched = [*pids, crowd.proc.pid, *stack_pids()]
        for _ in range(args.rounds):
            cpu = [cpu_s(pid) for pid in watched]
            fan = await crowd.aask("fanout", messages=args.fanout, members=uids)
            used_s = [cpu_s(p) - was for p, was in zip(watched, cpu, strict=True)]
            rates.append(fan["delivered"] / fan["seconds"])
            server_s += sum(used_s[: len(pids)])
            client_s += used_s[len(pids)]
            stack_s += sum(used_s[len(pids) + 1 :])
            delivered += fan["delivered"]
        result["fanout"] = statistics.median(rates)
        result["fanout_server_us"] = server_s / delivered * 1e6
        result["fanout_client_us"] = client_s / delivered * 1e6
        result["fanout_stack_us"] = stack_s / delivered * 1e6
        result["members"] = len(uids)
        await crowd.aask("close")
    finally:
        crowd.end()
    return result


def table(results: dict[str, dict[str, float]]) -> str:
    rows = [
        ("typing p50 at rest (ms)", "rest_p50", "{:.3f}"),
        ("typing p99 at rest (ms)", "rest_p99", "{:.3f}"),
        ("typing p50 under load (ms)", "load_p50", "{:.3f}"),
        ("typing p99 under load (ms)", "load_p99", "{:.3f}"),
        ("background typing frames/s", "load_rate", "{:.0f}"),
        ("background frames not delivered", "load_lost", "{:.0f}"),
        ("server CPU under load (% of one core, both)", "load_server_cpu", "{:.0f}"),
        ("fan-out delivered msg/s", "fanout", "{:,.0f}"),
        ("fan-out room members", "members", "{:.0f}"),
        ("fan-out server CPU per delivery (us)", "fanout_server_us", "{:.1f}"),
        ("fan-out client CPU per delivery (us)", "fanout_client_us", "{:.1f}"),
        ("fan-out Valkey + database CPU per delivery (us)", "fanout_stack_us", "{:.1f}"),
        ("RSS per idle connection (KB)", "kb_per_conn", "{:.1f}"),
        ("connections held by one process", "held", "{:.0f}"),
    ]
    kinds = list(results)
    lines = ["| measure | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for label, key, fmt in rows:
        cells = [fmt.format(results[k][key]) if key in results[k] else "-" for k in kinds]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _room(kind: str, key: str, members: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "_id": ObjectId(),
        "key": key,
        "kind": kind,
        "members": members,
        "booking_id": None,
        "created_at": now,
        "last_message_at": now,
    }


def _keel_peer(  # noqa: PLR0917 - a private helper of main()
    ports: list[int],
    mongo_url: str,
    db: str,
    settings: Any,
    uids: list[str],
    idle: list[str],
    args: Any,
) -> Peer:
    """Tokens for every user, the fan-out room of all ``uids``, and a direct room for each
    typing pair (keel sends typing indicators only between users who share a room)."""
    codec = TokenCodec(settings)
    tokens = {u: codec.issue(u, "customer", secrets.token_hex(8)) for u in [*uids, *idle]}
    room = _room("group", f"bench:{ObjectId()}", uids)
    # the probe's pair, then the crowd's pairs (its connections 2i -> 2i+1)
    pairs = [(uids[0], uids[1])] + [(uids[2 + 2 * i], uids[3 + 2 * i]) for i in range(args.pairs)]
    direct = [_room("direct", "direct:{}:{}".format(*sorted(p)), sorted(p)) for p in pairs]
    # keel refuses tokens of users that do not exist: make them (a bare record is enough)
    people = [{"_id": ObjectId(u), "email_key": f"{u}@bench.invalid"} for u in [*uids, *idle]]
    # typing flows only between contacts: make each typing pair an accepted conversation
    now = datetime.now(UTC)
    contacts = [
        {
            "pair": ":".join(sorted(p)),
            "users": sorted(p),
            "bookings": [],
            "cancelled": [],
            "until": None,
            "accepted_at": now,
        }
        for p in pairs
    ]
    with pymongo.MongoClient[dict[str, Any]](mongo_url) as client:
        client[db]["users"].insert_many(people)
        client[db]["realtime_rooms"].insert_many([room, *direct])
        client[db]["realtime_contacts"].insert_many(contacts)
    return Peer("keel", ports, tokens, str(room["_id"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--load-rate", type=float, default=1000.0)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--fanout", type=int, default=100)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="latency and fan-out rounds; medians are shown"
    )
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    installed = discover()
    secret = secrets.token_urlsafe(48)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        config = Path(tmp) / "config.toml"
        config.write_text(CONFIG, encoding="utf-8")
        settings = load_settings(
            config,
            environ={"KEEL_AUTH__JWT_SECRET": secret},
            plugin_types=plugin_settings_types(installed),
        )
        dev = stack.enter_context(
            DevStack(settings, [], data_dir=Path(tmp) / "stack", ephemeral=True)
        )
        env = base_env(
            {
                **dev.environ(),
                "KEEL_CONFIG": str(config),
                "KEEL_AUTH__JWT_SECRET": secret,
                "KEEL_DATABASE__NAME": "bench_realtime",
                "BENCH_VALKEY_URL": dev.overrides["valkey.url"],
            }
        )
        uids = [str(ObjectId()) for _ in range(args.connections)]
        idle = [str(ObjectId()) for _ in range(args.idle)]
        for kind in args.kinds.split(","):
            with servers(kind, env) as procs:
                ports, pids = [p for p, _ in procs], [pid for _, pid in procs]
                if kind == "keel":
                    peer = _keel_peer(
                        ports,
                        dev.overrides["database.url"],
                        "bench_realtime",
                        settings,
                        uids,
                        idle,
                        args,
                    )
                else:
                    peer = Peer(kind, ports)
                try:
                    results[kind] = uvloop.run(run_kind(peer, pids, uids, idle, args, Path(tmp)))
                except Exception as exc:
                    print(f"{kind}: failed: {exc!r}", file=sys.stderr)
                    results[kind] = {}
                print(f"{kind}: {results[kind]}", file=sys.stderr)
    print(
        f"{args.connections} connections over 2 processes per server kind; "
        f"{args.messages} sequential typing frames after {args.warmup} warm-up; "
        f"load: {args.load_rate:.0f} frames/s over {args.pairs} pairs; "
        f"fan-out: {args.fanout} messages; each the median of {args.rounds} rounds"
    )
    print(table(results))
    if all(results.get(k, {}).get("fanout") for k in ("keel", "bare")):
        k, b = results["keel"], results["bare"]
        ratio = k["fanout"] / b["fanout"]
        line = f"\nkeel fan-out = {ratio:.0%} of the bare relay"
        if results.get("python-socketio", {}).get("fanout"):
            line += f", {k['fanout'] / results['python-socketio']['fanout']:.1f}x python-socketio"
        print(line)


if __name__ == "__main__":
    main()
