"""Search: service search and autocomplete at 10k, 100k and 1M services on tantivy.

Starts the embedded stack, a ``keel worker`` (the index writer), ``keel serve`` (API
processes reading the index) and a bare Litestar handler doing one Valkey GET as the
baseline. For each size it builds a generation straight from generated services (the
bulk path of ``keel search reindex``), hands it to the writer, then measures through
HTTP, in one run:

* uncached service search (query + price window + sort by rating) and autocomplete,
  p50/p99 and req/s at ``--concurrency`` clients, next to the bare handler and keel's
  own ``/health/live`` (what the keel stack costs without any search);
* Valkey ``PING`` p99 from a separate process while service search is under load;
* index lag p99 (``service.created`` emitted -> found by the API) under ``--rate``
  changes/s;
* the RSS of each API process with that index open.

Targets (issue 15): at 100k, search p99 <= 15 ms, autocomplete p99 <= 10 ms and >= 60%
of the bare req/s; 100k -> 1M search p99 at most x2; PING p99 <= 2 ms; lag p99 <= 1 s.

    .venv/bin/python bench/search.py [--sizes 10000,100000,1000000] [--seconds 3]
        [--concurrency 16] [--api-workers 2] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Result, _read_response, _request
from bench._search_data import ADJECTIVES, TRADES, _brand, make_services
from bench._servers import base_env, free_port, keel_argv, uvicorn_argv, wait_http
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "benchsearch"


async def _feed_head(env: dict[str, str]) -> str:
    import valkey.asyncio as valkey_async

    client = valkey_async.Valkey.from_url(env["KEEL_VALKEY__URL"])
    last = await client.xrevrange(f"{PREFIX}:search:feed", count=1)
    await client.aclose()
    return last[0][0].decode() if last else "0-0"


def build(index_dir: Path, size: int, env: dict[str, str]) -> tuple[str, float]:
    """A generation of ``size`` generated services, handed to the writer (PENDING)."""
    from plugins.search._build import GenerationBuilder
    from plugins.search._layout import Layout
    from plugins.search.documents import service_document

    began = time.perf_counter()
    layout = Layout.of(str(index_dir))
    builder = GenerationBuilder(layout, 256)
    batch: list[Any] = []
    for snap in make_services(0, size):
        batch.append(service_document(snap))
        if len(batch) >= 5000:
            builder.add(batch)
            batch = []
    builder.add(batch)
    name = builder.finish(asyncio.run(_feed_head(env)))  # as a rebuild does
    layout.set_pending(name)
    return name, time.perf_counter() - began


def bare_valkey_app() -> Any:
    """A bare Litestar app whose one handler does one Valkey GET (the baseline)."""
    import valkey.asyncio as valkey_async
    from litestar import Litestar, get

    client = valkey_async.Valkey.from_url(os.environ["BENCH_VALKEY_URL"])

    @get("/get")
    async def one_get() -> dict[str, str | None]:
        value = await client.get("bench:bare")
        return {"value": value.decode() if value else None}

    @get("/health/live", sync_to_thread=False)
    def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(route_handlers=[one_get, live])


async def _client(port: int, raws: list[bytes], deadline: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = random.randrange(len(raws))
    try:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            writer.write(raws[i % len(raws)])
            status = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.requests += 1
            result.errors += status != 200
            i += 1
    finally:
        writer.close()


async def measure(name: str, port: int, paths: list[str], args: argparse.Namespace) -> Result:
    """``args.concurrency`` keep-alive clients cycling through ``paths`` (after a warm-up)."""
    raws = [_request("127.0.0.1", port, "GET", p, headers={}, body=b"") for p in paths]
    warm = Result(name, 0, 0, 0.0, [])
    end = time.perf_counter() + 0.7
    await asyncio.gather(*(_client(port, raws, end, warm) for _ in range(args.concurrency)))
    result = Result(name, 0, 0, 0.0, [])
    began = time.perf_counter()
    deadline = began + args.seconds
    await asyncio.gather(*(_client(port, raws, deadline, result) for _ in range(args.concurrency)))
    result.seconds = time.perf_counter() - began
    return result


def autocomplete_paths() -> list[str]:
    """A few hundred distinct autocomplete texts of 2-6 characters."""
    rng = random.Random(3)
    words = TRADES + ADJECTIVES + [_brand(rng) for _ in range(60)]
    texts = sorted({w[:n] for w in words for n in range(2, 7) if len(w) >= n})
    return [f"/api/search/autocomplete?query={t}" for t in texts]


def search_paths() -> list[str]:
    """Service searches: a trade (some with a typo), a price window, sorted by rating."""
    paths = []
    for trade in TRADES:
        for low in (1000, 8000, 15000, 30000):
            query = trade if low != 8000 else trade[:-1]
            paths.append(
                f"/api/search/services?query={query}&minPrice={low}&maxPrice={low + 12000}"
                "&sortBy=rating&sortOrder=desc&limit=20"
            )
    return paths


PINGER = """
import sys, time, valkey
client = valkey.Valkey.from_url(sys.argv[1]); end = time.perf_counter() + float(sys.argv[2])
out = []
while time.perf_counter() < end:
    t = time.perf_counter(); client.ping(); out.append((time.perf_counter() - t) * 1000)
    time.sleep(0.002)
print(" ".join(f"{x:.3f}" for x in out))
"""


async def search_with_pings(
    port: int, valkey_url: str, args: argparse.Namespace
) -> tuple[Result, Result]:
    """Service search under load while a separate process PINGs Valkey."""
    pinger = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PINGER, valkey_url, str(args.seconds + 0.7),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    searched = await measure("service search (uncached)", port, search_paths(), args)
    out, _ = await pinger.communicate()
    pings = [float(x) for x in out.split()]
    return searched, Result("valkey PING during search", len(pings), 0, args.seconds, pings)


async def index_lag(env: dict[str, str], port: int, args: argparse.Namespace) -> Result:
    """Milliseconds from emitting ``service.created`` to the API finding it, while
    ``args.rate`` services are created per second for ``args.seconds`` (+1) seconds."""
    from core.pluginhost import PluginHost
    from core.runtime import close_keel, open_keel
    from plugins.bookings.events import ServiceCreated

    installed = discover()
    types = plugin_settings_types(installed)
    settings = load_settings(ROOT / "config.toml", environ=env, plugin_types=types)
    keel = await open_keel(settings, PluginHost(settings, installed))
    lags: list[float] = []
    checks: list[asyncio.Task[None]] = []

    async def check(word: str, began: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        raw = _request("127.0.0.1", port, "GET", f"/api/search/services?query={word}",
                       headers={}, body=b"")  # fmt: skip
        try:
            while time.perf_counter() - began < 10:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[-1].split(b"\r\n")[0])
                if b'"total":0' not in await reader.readexactly(length):
                    lags.append((time.perf_counter() - began) * 1000)
                    return
                await asyncio.sleep(0.005)
        finally:
            writer.close()

    try:
        count = int(args.rate * (args.seconds + 1))
        began = time.perf_counter()
        base = 20_000_000 + random.randrange(10**6) * 1000
        for n, snap in enumerate(make_services(base, count, seed=11)):
            await asyncio.sleep(max(0.0, began + n / args.rate - time.perf_counter()))
            word = f"lag{base + n}q"
            fresh = type(snap)(**{**_fields(snap), "name": f"{word} {snap.name}"})
            await keel.events.emit(ServiceCreated(service=fresh))
            if n % 10 == 0:
                checks.append(asyncio.create_task(check(word, time.perf_counter())))
        await asyncio.gather(*checks)
    finally:
        await close_keel(keel)
    return Result(
        f"index lag at {args.rate:.0f} changes/s", len(lags), len(checks) - len(lags), 0.0, lags
    )


def _fields(snap: Any) -> dict[str, Any]:
    return {f: getattr(snap, f) for f in snap.__struct_fields__}


def api_rss_mb(serve: subprocess.Popen[bytes]) -> list[float]:
    """VmRSS of each API worker process (the children of ``keel serve`` running keel)."""
    children = Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split()
    sizes = []
    for pid in children or [str(serve.pid)]:
        if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
            continue  # multiprocessing's helper, not an API process
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def _row(size: int, r: Result, base: float | None) -> str:
    rps = f"{r.rps:>9.0f}" if base else f"{'':>9}"
    ratio = f"{r.rps / base:>9.0%}" if base else f"{'':>9}"
    return f"{size:>8} {r.name:<30}{rps}{ratio}{r.p50:>9.2f}{r.p99:>9.2f}{r.errors:>7}"


async def run_size(
    size: int, ports: dict[str, int], env: dict[str, str], args: argparse.Namespace
) -> list[str]:
    """Every measurement at one index size, in a fixed order."""
    bare = await measure("bare litestar + 1 valkey GET", ports["bare"], ["/get"], args)
    base = bare.rps or 1.0
    floor = await measure("keel /health/live (stack floor)", ports["keel"], ["/health/live"], args)
    ac = await measure("autocomplete (uncached)", ports["keel"], autocomplete_paths(), args)
    searched, pings = await search_with_pings(ports["keel"], env["KEEL_VALKEY__URL"], args)
    lag = await index_lag(env, ports["keel"], args)
    return [_row(size, r, base) for r in (bare, floor, ac, searched)] + [
        _row(size, pings, None),
        _row(size, lag, None),
    ]


def wait_live(port: int, size: int) -> None:
    """Wait until the API's index holds at least ``size`` services."""
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        body = httpx.get(f"http://127.0.0.1:{port}/api/search/services?limit=1", timeout=10)
        if body.status_code == 200 and body.json()["total"] >= size:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the index never reached {size} services")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        installed = discover()
        settings = load_settings(None, environ={}, plugin_types=plugin_settings_types(installed))
        with DevStack(settings, [], data_dir=Path(tmp), ephemeral=True) as stack:
            index_dir = Path(tmp) / "index"
            env = base_env({
                **stack.environ(),
                "KEEL_CONFIG": str(ROOT / "config.toml"),
                "KEEL_APP__ENV": "production",
                "KEEL_APP__ACCESS_LOG": "false",
                "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                "KEEL_DATABASE__NAME": "bench_search",
                "KEEL_VALKEY__KEY_PREFIX": PREFIX,
                "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
                "KEEL_PLUGINS__SEARCH__INDEX_DIR": str(index_dir),
            })  # fmt: skip
            ports = {"keel": free_port(), "bare": free_port()}
            workers = ["--workers", str(args.api_workers)]
            bare = [
                *uvicorn_argv("bench.search:bare_valkey_app", ports["bare"]),
                "--factory",
                *workers,
            ]
            keel = str(Path(sys.executable).with_name("keel"))
            procs = {
                "bare": _start(bare, {**env, "BENCH_VALKEY_URL": stack.overrides["valkey.url"]}),
                "worker": _start([keel, "worker", "--no-scheduler"], env),
                "serve": _start([*keel_argv(ports["keel"]), *workers], env),
            }
            try:
                for name in ("bare", "keel"):
                    wait_http(f"http://127.0.0.1:{ports[name]}/health/live")
                rss: dict[int, list[float]] = {}
                for size in sizes:
                    generation, took = build(index_dir, size, env)
                    print(f"built {size} services in {took:.1f} s ({generation})", flush=True)
                    wait_live(ports["keel"], size)
                    lines += asyncio.run(run_size(size, ports, env, args))
                    rss[size] = api_rss_mb(procs["serve"])
            finally:
                for proc in procs.values():
                    _stop(proc)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{args.concurrency} connections, {args.seconds:.0f} s per row, {args.api_workers} API "
          f"process(es); load average {load}")  # fmt: skip
    print(f"{'services':>8} {'measurement':<30}{'req/s':>9}{'vs bare':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'errors':>7}")  # fmt: skip
    print("\n".join(lines))
    for size, values in rss.items():
        print(f"{size:>8} RSS of each API process: " + ", ".join(f"{v:.0f} MB" for v in values))


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


if __name__ == "__main__":
    main()
