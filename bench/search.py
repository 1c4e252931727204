"""Search: autocomplete and service search at 10,000 and 100,000 services, and index lag.

Starts the embedded stack, seeds services straight into the search index (the bulk path
``keel search reindex`` uses), runs ``keel serve`` twice (cache on, and cache off so
every request does the index work), a ``keel worker`` (durable listeners), and a bare
Litestar handler doing one Valkey GET as the baseline. One load generator measures them
in the same run; queries rotate over a few hundred distinct texts.

Targets (issue 5), at 16 concurrent clients: autocomplete p99 <= 10 ms and req/s >= 50%
of the bare handler; service search (query + price filter + sort by rating) p99 <= 50 ms.
Index lag: ``service.created`` emitted -> the service appears in autocomplete.

    .venv/bin/python bench/search.py [--seconds 3] [--concurrency 16] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Result, _read_response, _request
from bench._servers import base_env, free_port, keel_argv, process, uvicorn_argv
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings
from plugins.search._bulk import Vocabulary

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "benchsearch"
CATEGORIES = [
    "Cleaning", "Plumbing", "Electrical", "Gardening", "Painting", "Tutoring", "Fitness",
    "Beauty", "Photography", "Music", "Moving", "Pet care", "Cooking", "Repairs",
    "Carpentry", "Roofing", "Wellness", "Design", "Translation", "Childcare",
]  # fmt: skip
TRADES = [
    "cleaner", "plumber", "electrician", "gardener", "painter", "tutor", "trainer",
    "stylist", "photographer", "teacher", "mover", "sitter", "chef", "handyman",
    "carpenter", "roofer", "therapist", "designer", "translator", "nanny", "mechanic",
    "tiler", "locksmith", "welder", "florist", "baker", "coach", "masseur", "barber",
]  # fmt: skip
ADJECTIVES = [
    "express", "premium", "friendly", "certified", "local", "expert", "budget", "quick",
    "reliable", "eco", "family", "professional", "weekend", "mobile", "classic", "modern",
]  # fmt: skip
WORDS = [
    "home", "office", "garden", "kitchen", "bathroom", "window", "floor", "wall", "roof",
    "lesson", "session", "repair", "install", "service", "care", "emergency", "daily",
    "weekly", "deep", "move", "paint", "fix", "lights", "wiring", "pipes", "boiler",
    "yoga", "piano", "guitar", "math", "english", "french", "wedding", "portrait",
    "dog", "cat", "party", "vegan", "bread", "furniture", "cabinet", "fence", "deck",
    "city", "north", "south", "east", "west", "center", "village", "river", "hill",
]  # fmt: skip
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "zu", "bel", "dor", "fin", "gra", "nel"]


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def make_services(start: int, count: int, seed: int = 7) -> Iterator[Any]:
    """``count`` deterministic service snapshots (ids from ``start``)."""
    from plugins.bookings.events import ServiceSnapshot

    rng = random.Random(seed + start)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(start, start + count):
        trade = rng.choice(TRADES)
        created = base + timedelta(seconds=i * 37)
        yield ServiceSnapshot(
            id=f"{i:024x}",
            provider_id=f"{i % 5000:024x}",
            name=f"{rng.choice(ADJECTIVES).title()} {trade} {_brand(rng).title()}",
            description=" ".join(rng.choice(WORDS) for _ in range(8)),
            category=rng.choice(CATEGORIES),
            price=rng.randrange(1000, 50000, 50),
            currency="EUR",
            duration_minutes=60,
            active=True,
            images=[],
            timezone="UTC",
            rating_average=round(rng.uniform(1, 5), 2),
            rating_count=rng.randint(1, 50),
            revision=1,
            created_at=created,
            updated_at=created,
        )


async def seed(url: str, start: int, count: int, vocabulary: Any) -> float:
    """Write ``count`` services into the live generation; seconds taken."""
    import valkey.asyncio as valkey_async

    from plugins.search.documents import service_payload
    from plugins.search.index import SearchIndex

    client = valkey_async.Valkey.from_url(url)
    index = SearchIndex(client, f"{PREFIX}:search")
    await index.ensure()
    generation = await index.generation()
    began = time.perf_counter()
    pending: asyncio.Task[None] | None = None
    batch: list[Any] = []
    for snap in make_services(start, count):
        batch.append(("s", snap.id, snap.revision, service_payload(snap)))
        if len(batch) == 2000:
            if pending is not None:
                await pending
            pending = asyncio.create_task(index.bulk_apply(generation, batch, vocabulary))
            batch = []
    if pending is not None:
        await pending
    await index.bulk_apply(generation, batch, vocabulary)
    await client.incr(f"{PREFIX}:search:cv")  # cached results are stale now
    await client.aclose()
    return time.perf_counter() - began


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


async def _visit_all(port: int, raws: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in raws:
            writer.write(raw)
            await _read_response(reader)
    finally:
        writer.close()


async def measure(name: str, port: int, paths: list[str], args: argparse.Namespace) -> Result:
    """``args.concurrency`` keep-alive clients cycling through ``paths``.

    Rows with the cache on first request every path once (a warm cache: the popular
    queries of a real site); the cache-off server does the index work every time.
    """
    raws = [_request("127.0.0.1", port, "GET", p, headers={}, body=b"") for p in paths]
    if "cache on" in name:
        await _visit_all(port, raws)
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


async def index_lag(env: dict[str, str], port: int, samples: int) -> list[float]:
    """Milliseconds from emitting ``service.created`` to seeing it in autocomplete."""
    from core.pluginhost import PluginHost
    from core.runtime import close_keel, open_keel
    from plugins.bookings.events import ServiceCreated

    installed = discover()
    settings = load_settings(
        ROOT / "config.toml", environ=env, plugin_types=plugin_settings_types(installed)
    )
    keel = await open_keel(settings, PluginHost(settings, installed))
    lags: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for n, snap in enumerate(make_services(10_000_000, samples + 1, seed=11)):
            word = f"lagq{n:04d}x"
            fresh = type(snap)(**{**_fields(snap), "name": f"{word} {snap.name}"})
            raw = _request("127.0.0.1", port, "GET", f"/api/search/autocomplete?query={word}",
                           headers={}, body=b"")  # fmt: skip
            began = time.perf_counter()
            await keel.events.emit(ServiceCreated(service=fresh))
            while True:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"content-length:")[-1].split(b"\r\n")[0] or 0)
                body = await reader.readexactly(length)
                if fresh.id.encode() in body:
                    break
                await asyncio.sleep(0.002)
            if n:  # the first one also waits for the worker to start
                lags.append((time.perf_counter() - began) * 1000)
    finally:
        writer.close()
        await close_keel(keel)
    return lags


def _fields(snap: Any) -> dict[str, Any]:
    return {f: getattr(snap, f) for f in snap.__struct_fields__}


def _row(size: int, r: Result, base: float) -> str:
    return (
        f"{size:>8} {r.name:<34}{r.rps:>9.0f}{r.rps / base:>9.0%}{r.p50:>9.2f}"
        f"{r.p99:>9.2f}{r.errors:>7}"
    )


async def run_size(size: int, ports: dict[str, int], args: argparse.Namespace) -> list[Result]:
    """Every measurement at one index size, in a fixed order."""
    ac, search = autocomplete_paths(), search_paths()
    plan = [
        ("bare litestar + 1 valkey GET", ports["bare"], ["/get"]),
        ("autocomplete (cache on)", ports["keel"], ac),
        ("autocomplete (cache off)", ports["nocache"], ac),
        ("service search (cache on)", ports["keel"], search),
        ("service search (cache off)", ports["nocache"], search),
    ]
    return [await measure(name, port, paths, args) for name, port, paths in plan]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--lag-samples", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    installed = discover()
    lines: list[str] = []
    lags: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, environ={}, plugin_types=plugin_settings_types(installed))
        with DevStack(settings, [], data_dir=Path(tmp), ephemeral=True) as stack:
            env = base_env(
                {
                    **stack.environ(),
                    "KEEL_CONFIG": str(ROOT / "config.toml"),
                    "KEEL_APP__ENV": "production",
                    "KEEL_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
                    "KEEL_DATABASE__NAME": "bench_search",
                    "KEEL_VALKEY__KEY_PREFIX": PREFIX,
                    "KEEL_SERVER__RATE_LIMIT__ENABLED": "false",
                }
            )
            valkey_url = stack.overrides["valkey.url"]
            ports = {"keel": free_port(), "nocache": free_port(), "bare": free_port()}
            nocache_env = {**env, "KEEL_PLUGINS__SEARCH__CACHE_TTL_S": "0"}
            bare_env = {**env, "BENCH_VALKEY_URL": valkey_url}
            worker = [str(Path(sys.executable).with_name("keel")), "worker", "--no-scheduler"]
            with contextlib.ExitStack() as servers:
                bare = [*uvicorn_argv("bench.search:bare_valkey_app", ports["bare"]), "--factory"]
                servers.enter_context(
                    process(bare, bare_env, f"http://127.0.0.1:{ports['bare']}/health/live")
                )
                for name, extra in (("keel", env), ("nocache", nocache_env)):
                    url = f"http://127.0.0.1:{ports[name]}/health/live"
                    servers.enter_context(process(keel_argv(ports[name]), extra, url))
                proc = _start(worker, env)
                servers.callback(_stop, proc)
                seeded, vocabulary = 0, Vocabulary()
                for size in sizes:
                    took = asyncio.run(seed(valkey_url, seeded, size - seeded, vocabulary))
                    print(f"seeded {size - seeded} services in {took:.1f} s", flush=True)
                    seeded = size
                    results = asyncio.run(run_size(size, ports, args))
                    base = results[0].rps or 1.0
                    lines += [_row(size, r, base) for r in results]
                    lags[size] = asyncio.run(index_lag(env, ports["keel"], args.lag_samples))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{args.concurrency} connections, {args.seconds:.0f} s per row; load average {load}")
    print(f"{'services':>8} {'endpoint':<34}{'req/s':>9}{'vs bare':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'errors':>7}")  # fmt: skip
    print("\n".join(lines))
    for size, values in lags.items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(f"index lag at {size}: p50 {ordered[len(ordered) // 2]:.1f} ms, p99 {p99:.1f} ms")


def _start(argv: list[str], env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def _stop(proc: Any) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except Exception:
        proc.kill()


if __name__ == "__main__":
    main()
