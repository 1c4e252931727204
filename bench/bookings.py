"""Bookings: booking creation req/s and p99, and list p99 with 10,000 bookings.

Starts the embedded stack and one ``keel serve`` process (bookings only, production
settings, rate limits off), seeds users, services and 10,000 bookings straight into
MongoDB, logs in through the API, then measures at 16 concurrent keep-alive clients:

- ``POST /api/bookings``: every request books a free slot (a 201, slot claims in a
  transaction), spread over 50 providers;
- ``POST /api/bookings`` for one taken slot (every request a 409: the refusal path);
- ``GET /api/bookings`` (page 1, 20 items, with ``total``) as a customer with 100
  bookings, a provider with 200, and an admin (all 10,000; on SecantusDB this costs a
  scan of every booking per request, see docs/bookings.md, so it runs last and with
  ``--admin-concurrency`` clients, default 1: 16 of them only measure the 2 s timeout).

    .venv/bin/python bench/bookings.py [--seconds 3] [--concurrency 16] [--bookings 10000]
        [--admin-concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

from bench._load import Result, _read_response, _request, measure
from bench._servers import embedded_keel, free_port, keel_argv, process
from core.settings import AuthSettings
from plugins.accounts.documents import User
from plugins.accounts.passwords import PasswordHasher
from plugins.bookings.models import Booking, Service

PASSWORD = "a long benchmark passphrase"  # noqa: S105 - throwaway bench accounts
DATABASE = "bench_bookings"
PROVIDERS, CUSTOMERS = 50, 100
ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


def _service(provider: ObjectId, minutes: int) -> dict[str, Any]:
    return Service(
        id=ObjectId(),
        provider_id=provider,
        name=f"Bench service {minutes} min",
        category="bench",
        price=5000,
        currency="EUR",
        duration_minutes=minutes,
        timezone="UTC",
        availability=ALL_WEEK,
    ).model_dump_doc()


def _user(role: str, hashed: str) -> dict[str, Any]:
    email = f"bench.{role}.{ObjectId()}@example.com"
    return User(
        id=ObjectId(),
        name=f"Bench {role}",
        email=email,
        email_key=email,
        role=role,
        verified=True,
        password_hash=hashed,
    ).model_dump_doc()


async def seed(url: str, count: int) -> dict[str, Any]:
    """Users, one service per provider, and ``count`` bookings spread over them."""
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(url, tz_aware=True)
    db = client[DATABASE]
    hashed = await PasswordHasher(AuthSettings()).hash(PASSWORD)
    users = {role: _user(role, hashed) for role in ("customer", "provider", "admin", "booker")}
    users["booker"]["role"] = "customer"
    await db.users.insert_many(list(users.values()))
    providers = [users["provider"]["_id"], *(ObjectId() for _ in range(PROVIDERS - 1))]
    customers = [users["customer"]["_id"], *(ObjectId() for _ in range(CUSTOMERS - 1))]
    listed = [_service(p, 60) for p in providers]
    fresh = [_service(ObjectId(), 30) for _ in range(PROVIDERS)]  # for the creation run
    await db.bookings_services.insert_many([*listed, *fresh])
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    docs = []
    for i in range(count):
        service = listed[i % PROVIDERS]
        start = base + timedelta(hours=i // PROVIDERS)
        docs.append(
            Booking(
                id=ObjectId(),
                service_id=service["_id"],
                service_name=service["name"],
                provider_id=service["provider_id"],
                customer_id=customers[i % CUSTOMERS],
                start=start,
                end=start + timedelta(hours=1),
                timezone="UTC",
                status=("pending", "confirmed", "completed", "cancelled")[i % 4],
                price=5000,
                currency="EUR",
            ).model_dump_doc()
        )
    started = time.perf_counter()
    for chunk in range(0, count, 1000):
        await db.bookings_bookings.insert_many(docs[chunk : chunk + 1000])
    print(f"seeded {count} bookings in {time.perf_counter() - started:.1f} s", flush=True)
    client.close()
    return {"users": users, "fresh": fresh, "taken": (fresh[0], base + timedelta(days=800))}


def login(port: int, email: str) -> dict[str, str]:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        token = json.load(response)["accessToken"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def _creator(
    port: int, next_body: Callable[[], bytes], headers: dict[str, str], end: float, out: Result
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < end:
            raw = _request(
                "127.0.0.1", port, "POST", "/api/bookings", headers=headers, body=next_body()
            )
            started = time.perf_counter()
            writer.write(raw)
            status = await _read_response(reader)
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
            out.requests += 1
            if status != 201:
                out.errors += 1
    finally:
        writer.close()


async def create_bookings(
    port: int, fresh: list[dict[str, Any]], headers: dict[str, str], args: argparse.Namespace
) -> Result:
    """Every request books the next free slot of one of the fresh services."""
    counter = iter(range(10**9))
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=400)

    def next_body() -> bytes:
        n = next(counter)
        service = fresh[n % len(fresh)]
        start = base + timedelta(minutes=30 * (n // len(fresh)))
        return json.dumps({"serviceId": str(service["_id"]), "start": start.isoformat()}).encode()

    result = Result("POST /api/bookings (201)", 0, 0, 0.0, [])
    started = time.perf_counter()
    end = started + args.seconds
    await asyncio.gather(
        *(_creator(port, next_body, headers, end, result) for _ in range(args.concurrency))
    )
    result.seconds = time.perf_counter() - started
    return result


def _list(port: int, name: str, headers: dict[str, str], concurrency: int, args: Any) -> Result:
    return asyncio.run(
        measure(
            f"GET /api/bookings {name}",
            port,
            "/api/bookings?limit=20",
            headers={"Authorization": headers["Authorization"]},
            concurrency=concurrency,
            seconds=args.seconds,
        )
    )


def run(port: int, seeded: dict[str, Any], args: argparse.Namespace) -> list[Result]:
    """Creation first, then the listings; the admin's (the slowest) last."""
    users = seeded["users"]
    tokens = {role: login(port, users[role]["email"]) for role in users}
    results = [asyncio.run(create_bookings(port, seeded["fresh"], tokens["booker"], args))]
    service, start = seeded["taken"]
    body = json.dumps({"serviceId": str(service["_id"]), "start": start.isoformat()}).encode()
    results.append(
        asyncio.run(
            measure(
                "POST /api/bookings (409)",
                port,
                "/api/bookings",
                method="POST",
                headers=tokens["booker"],
                body=body,
                concurrency=args.concurrency,
                seconds=args.seconds,
                ok=frozenset({409}),
            )
        )
    )
    for role, note in (("customer", "100 of them"), ("provider", "200")):
        results.append(_list(port, f"{role} ({note})", tokens[role], args.concurrency, args))
    admin = args.admin_concurrency
    results.append(_list(port, f"admin (all), {admin} client(s)", tokens["admin"], admin, args))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--admin-concurrency", type=int, default=1)
    args = parser.parse_args()
    with embedded_keel(["bookings"], DATABASE) as (stack, env):
        port = free_port()
        with process(keel_argv(port), env, f"http://127.0.0.1:{port}/health/live"):
            seeded = asyncio.run(seed(str(stack.overrides["database.url"]), args.bookings))
            results = run(port, seeded, args)
    print(
        f"\nkeel serve (1 process, bookings only), {args.concurrency} connections, "
        f"{args.seconds:.0f} s each, {args.bookings} bookings seeded"
    )
    print(f"{'endpoint':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r.name:<40}{r.rps:>8.0f}{r.p50:>9.1f}{r.p99:>9.1f}{r.errors:>8}")


if __name__ == "__main__":
    main()
