"""The soak's users and their steady mixed load, paced open-loop at ``rate`` operations/s.

Operations (weights in :data:`MIX`): sign-ins (login, ``GET /api/users/me``, logout),
searches, bookings (keel emails them; :data:`PAID_SHARE` of them then paid with
localstripe's test card, so localstripe posts a signed ``payment_intent.succeeded``
webhook to keel, the others cancelled by the customer), WebSocket
messages to providers over long-lived sockets, socket reconnects, inbox reads. Requests
and sockets alternate between the two API processes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from motor.motor_asyncio import AsyncIOMotorClient

from bench._realtime_clients import Client, Peer, close_all, listen, open_client
from bench.bookings import ALL_WEEK, PASSWORD, _user
from core.settings import AuthSettings
from plugins.accounts.passwords import PasswordHasher

MIX = {
    "search": 30,
    "wsMessage": 30,
    "booking": 12,
    "inbox": 10,
    "signIn": 8,
    "wsReconnect": 5,
}
WORDS = ["piano", "yoga", "guitar", "plumbing", "massage", "french", "math", "dog", "garden"]
PAID_SHARE = 0.4
"""Bookings paid (the rest are cancelled): localstripe 1.15.10 answers each intent request
in time growing with every object it stores (a charge lists its refunds by scanning the
whole store), so paying every booking of a 10-minute run outgrows keel's Stripe timeout
on this shared 2-core machine."""
BURST = 8
"""Concurrent sign-ins per API process at the end of the set-up."""
MAX_IN_FLIGHT = 64
"""Operations running at once; past it a tick is skipped (and counted): the system lags."""


@dataclass
class Tally:
    """What the clients saw."""

    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    frames: collections.Counter[str] = field(default_factory=collections.Counter)
    skipped: int = 0
    seconds: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    """Each operation's duration, failed ones included (a payment's includes its waits)."""

    def pct(self, op: str, q: float) -> float:
        """The ``q`` quantile of ``op``'s durations in ms (NaN before any)."""
        ordered = sorted(self.seconds[op])
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def fail(self, op: str, what: str) -> None:
        self.failed[op] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{op}: {what}"[:300])


@dataclass
class World:
    """The seeded users, their tokens and sockets, and the load's shared state."""

    ports: list[int]
    http: httpx.AsyncClient
    tokens: dict[str, str]
    emails: dict[str, str]
    customers: list[str]
    providers: list[str]
    services: list[str]
    peer: Peer
    sockets: dict[str, Client] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    bookings: int = 0
    base: datetime = field(
        default_factory=lambda: (
            datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
        )
    )
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{random.choice(self.ports)}{path}"

    def auth(self, uid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[uid]}"}


async def _login(http: httpx.AsyncClient, url: str, email: str) -> str:
    r = await http.post(url, json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    token: str = r.json()["accessToken"]
    return token


async def setup(
    ports: list[int], mongo_url: str, database: str, *, customers: int, providers: int
) -> World:
    """Seed users in MongoDB, sign each in, create two services per provider through the
    API (so search indexes them from the event stream) and open every user's socket."""
    mongo: AsyncIOMotorClient[Any] = AsyncIOMotorClient(mongo_url, tz_aware=True)
    hashed = await PasswordHasher(AuthSettings()).hash(PASSWORD)
    docs = [_user("provider", hashed) for _ in range(providers)]
    docs += [_user("customer", hashed) for _ in range(customers)]
    await mongo[database].users.insert_many(docs)
    mongo.close()
    http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=MAX_IN_FLIGHT))
    emails = {str(d["_id"]): d["email"] for d in docs}
    tokens = {}
    for i, (uid, email) in enumerate(emails.items()):
        tokens[uid] = await _login(http, f"http://127.0.0.1:{ports[i % 2]}/api/auth/login", email)
    ids = list(emails)
    world = World(
        ports=ports,
        http=http,
        tokens=tokens,
        emails=emails,
        providers=ids[:providers],
        customers=ids[providers:],
        services=[],
        peer=Peer("keel", ports, tokens),
    )
    for n, provider in enumerate(world.providers * 2):
        word = WORDS[n % len(WORDS)]
        body = {
            "name": f"{word.title()} session {n}",
            "description": f"A {word} session with provider {n % providers}",
            "category": word,
            "price": 2000 + 500 * (n % 7),
            "currency": "EUR",
            "durationMinutes": 60,
            "availability": ALL_WEEK,
        }
        r = await http.post(world.url("/api/services"), json=body, headers=world.auth(provider))
        r.raise_for_status()
        world.services.append(r.json()["id"])
    for i, uid in enumerate(ids):
        world.sockets[uid] = await _socket(world, uid, i)
    # A burst of sign-ins on each process: every thread that will ever hash a password
    # takes its argon2 block now, before the start sample (a plateau, not a drift).
    burst = [
        _login(http, f"http://127.0.0.1:{port}/api/auth/login", emails[uid])
        for port in ports
        for uid in world.customers[:BURST]
    ]
    await asyncio.gather(*burst)
    return world


async def _socket(world: World, uid: str, index: int) -> Client:
    client = await open_client(world.peer, uid, index)

    def on_text(payload: bytes) -> None:
        event = json.loads(payload).get("event", "?")
        world.tally.frames[event] += 1
        if event == "ping":  # the server's heartbeat: unanswered, it closes the socket (4408)
            client.send(b'{"event":"pong","data":{}}')
        elif event == "error":
            world.tally.fail("wsFrame", payload.decode(errors="replace"))

    listen(client, on_text)
    return client


def _pick(items: list[str]) -> str:
    return random.choice(items)


async def _search(world: World) -> None:
    word = _pick(WORDS)
    if random.random() < 0.5:
        r = await world.http.get(world.url("/api/search"), params={"query": word})
    else:
        params = {"query": word[:3], "maxPrice": "4000"}
        r = await world.http.get(world.url("/api/search/services"), params=params)
    _expect(world, "search", r, 200)


async def _sign_in(world: World) -> None:
    uid = _pick(world.customers)
    r = await world.http.post(
        world.url("/api/auth/login"), json={"email": world.emails[uid], "password": PASSWORD}
    )
    if not _expect(world, "signIn", r, 200):
        return
    headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    me = await world.http.get(world.url("/api/users/me"), headers=headers)
    if me.status_code != 200:
        world.tally.fail("signIn", f"/me {me.status_code} {me.text[:200]}")
        return
    out = await world.http.post(world.url("/api/auth/logout"), headers=headers)
    _expect(world, "signIn", out, 204)


async def _booking(world: World) -> None:
    n = world.bookings
    world.bookings += 1
    # services[i] belongs to providers[i % P]: one slot per provider and hour, never taken
    p = len(world.providers)
    service = world.services[n % p + p * ((n // p) % (len(world.services) // p))]
    start = world.base + timedelta(hours=n // p)
    uid = _pick(world.customers)
    r = await world.http.post(
        world.url("/api/bookings"),
        json={"serviceId": service, "start": start.isoformat()},
        headers=world.auth(uid),
    )
    if _expect(world, "booking", r, 201):
        booking = r.json()["id"]
        if random.random() < PAID_SHARE:
            work, op = _pay(world, uid, booking), "payment"
        else:
            work, op = _cancel(world, uid, booking), "cancel"
        task = asyncio.create_task(_guard(world, op, work))
        world.pending.add(task)
        task.add_done_callback(world.pending.discard)


async def _cancel(world: World, uid: str, booking_id: str) -> None:
    """The customer changes their mind: the slot is freed, the provider emailed."""
    await asyncio.sleep(2.0)
    r = await world.http.post(
        world.url(f"/api/bookings/{booking_id}/cancel"),
        json={"reason": "plans changed"},
        headers=world.auth(uid),
    )
    _expect(world, "cancel", r, 200)


async def _pay(world: World, uid: str, booking_id: str) -> None:
    """Pay with localstripe's test card: the answer says succeeded, and localstripe posts
    the webhook. The booking reaches payments through an event, so wait for it a little."""
    body = {"bookingId": booking_id, "paymentMethodId": "pm_card_visa"}
    r: httpx.Response | None = None
    for _ in range(10):
        await asyncio.sleep(1.0)
        r = await world.http.post(
            world.url("/api/payments/intents"), json=body, headers=world.auth(uid)
        )
        if r.status_code not in {404, 409}:
            break
    assert r is not None
    if _expect(world, "payment", r, 200) and r.json().get("status") != "succeeded":
        world.tally.ok["payment"] -= 1
        world.tally.fail("payment", f"status {r.json().get('status')}")


async def _inbox(world: World) -> None:
    uid = _pick(world.customers)
    r = await world.http.get(world.url("/api/notifications"), headers=world.auth(uid))
    _expect(world, "inbox", r, 200)


async def _ws_message(world: World) -> None:
    uid = _pick(world.customers)
    frame = {
        "event": "message",
        "data": {"receiverId": _pick(world.providers), "text": f"hello at {time.time():.3f}"},
    }
    client = world.sockets[uid]
    if client.transport is None or client.transport.is_closing():
        world.tally.fail("wsMessage", f"socket of {uid} closed by the server")
        world.sockets[uid] = await _socket(world, uid, random.randrange(2))
        return
    client.send(json.dumps(frame).encode())
    world.tally.ok["wsMessage"] += 1


async def _ws_reconnect(world: World) -> None:
    uid = _pick(world.customers)
    world.sockets[uid].close()
    world.sockets[uid] = await _socket(world, uid, random.randrange(2))
    world.tally.ok["wsReconnect"] += 1


OPS = {
    "search": _search,
    "wsMessage": _ws_message,
    "booking": _booking,
    "inbox": _inbox,
    "signIn": _sign_in,
    "wsReconnect": _ws_reconnect,
}


def _expect(world: World, op: str, r: httpx.Response, status: int) -> bool:
    if r.status_code == status:
        world.tally.ok[op] += 1
        return True
    world.tally.fail(op, f"{r.request.method} {r.request.url.path} {r.status_code} {r.text[:200]}")
    return False


async def _guard(world: World, op: str, work: Coroutine[Any, Any, None]) -> None:
    began = time.perf_counter()
    try:
        await work
    except (httpx.HTTPError, OSError, TimeoutError, ValueError) as exc:
        world.tally.fail(op, f"{type(exc).__name__} {exc}")
    finally:
        world.tally.seconds[op].append(time.perf_counter() - began)


async def drive(world: World, rate: float, seconds: float, *, settle: bool = True) -> None:
    """Start one operation every ``1 / rate`` s for ``seconds`` (open loop); with ``settle``,
    then wait for every one still running (payments of the last bookings included)."""
    names, weights = list(MIX), list(MIX.values())
    running = world.running
    began = time.monotonic()
    i = 0
    while time.monotonic() < began + seconds:
        if len(running) + len(world.pending) < MAX_IN_FLIGHT:
            op = random.choices(names, weights)[0]
            task = asyncio.create_task(_guard(world, op, OPS[op](world)))
            running.add(task)
            task.add_done_callback(running.discard)
        else:
            world.tally.skipped += 1
        i += 1
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
    if settle:
        await asyncio.gather(*running, *world.pending)


async def close(world: World) -> None:
    close_all(list(world.sockets.values()))
    await world.http.aclose()
