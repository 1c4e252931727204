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

from bench._load import Result, _read_response, _request, table
from bench._servers import base_env, free_port, keel_argv, process, uvicorn_argv
from core.devstack import DevStack
from core.pluginhost import discover, plugin_settings_types
from core.settings import load_settings

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
    from plugins.bookings.events import ServiceSnapshot  # noqa: PLC0415

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


async def seed(url: str, start: int, count: int) -> float:
    """Write ``count`` services into the live generation; seconds taken."""
    import valkey.asyncio as valkey_async  # noqa: PLC0415

    from plugins.search.documents import service_payload  # noqa: PLC0415
    from plugins.search.index import SearchIndex  # noqa: PLC0415

    client = valkey_async.Valkey.from_url(url)
    index = SearchIndex(client, f"{PREFIX}:search")
    await index.ensure()
    generation = await index.generation()
    began = time.perf_counter()
    batch: list[Any] = []
    for snap in make_services(start, count):
        batch.append(("s", snap.id, snap.revision, service_payload(snap)))
        if len(batch) == 1000:
            await index.bulk_apply(generation, batch)
            batch = []
    if batch:
        await index.bulk_apply(generation, batch)
    await client.incr(f"{PREFIX}:search:cv")  # cached results are stale now
    await client.aclose()
    return time.perf_counter() - began


def bare_valkey_app() -> Any:
    """A bare Litestar app whose one handler does one Valkey GET (the baseline)."""
    import valkey.asyncio as valkey_async  # noqa: PLC0415
    from litestar import Litestar, get  # noqa: PLC0415

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
            result.errors += status != 200  # noqa: PLR2004
            i += 1
    finally:
        writer.close()


async def measure(name: str, port: int, paths: list[str], args: argparse.Namespace) -> Result:
    """``args.concurrency`` keep-alive clients cycling through ``paths``."""
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
