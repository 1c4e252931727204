"""The event outbox: bookings survive a Valkey blip, MongoDB outages write nothing partial,
events keep their order per aggregate and reach each durable listener once.

Faults are real: the frozen service (SIGSTOP) is one started for the test alone
(:func:`core.testing.private_stack`), never the session's shared stack.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core import Event, Listener, Plugin, hookimpl
from core.context import Keel
from core.devstack import DevStack
from core.testing import KeelTestApp, frozen, private_stack
from core.testing._app import AppFactory

ALL_WEEK = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
BOOK_WITHIN_S = 4.0  # the Valkey fallbacks cost < 1 s; generous for a loaded 2-core box


def service_body() -> dict[str, Any]:
    return {
        "name": "Plumber visit",
        "category": "plumbing",
        "price": 4500,
        "currency": "EUR",
        "durationMinutes": 60,
        "availability": ALL_WEEK,
    }


def booking_body(service: dict[str, Any], hours: int = 30) -> dict[str, Any]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)
    return {"serviceId": service["id"], "start": start.isoformat()}


def cancel_body() -> dict[str, Any]:
    return {"reason": "changed my mind"}


def token_of(body: dict[str, Any]) -> str:
    return str(body["accessToken"])


class OrderSpyPlugin(Plugin):
    """A durable listener of every ``booking.*`` event, recording what it saw, in order."""

    name = "order_spy"
    seen: ClassVar[list[tuple[str, str]]] = []

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def record(_keel: Keel, event: Event) -> None:
            if type(event).name.startswith("booking."):
                OrderSpyPlugin.seen.append((type(event).name, event.id))

        return [Listener("*", record, mode="durable", name="record")]


@pytest.fixture
def own_valkey(keel_stack: DevStack, tmp_path: Path) -> Iterator[DevStack]:
    with private_stack(keel_stack, tmp_path / "own", "valkey") as stack:
        yield stack


@pytest.fixture
def own_mongo(keel_stack: DevStack, tmp_path: Path) -> Iterator[DevStack]:
    with private_stack(keel_stack, tmp_path / "own", "secantusdb") as stack:
        yield stack


@pytest.fixture
async def market(keel_app_factory: AppFactory, own_valkey: DevStack) -> AsyncIterator[Any]:
    """bookings + notifications on a Valkey of this test's own, a provider's service and a
    signed-in customer who has made one authenticated request."""
    OrderSpyPlugin.seen.clear()
    overrides = {"valkey.url": own_valkey.overrides["valkey.url"]}
    async with keel_app_factory(
        plugins=["bookings", "notifications"], extra=(OrderSpyPlugin,), overrides=overrides
    ) as env:
        _, provider = await env.signed_in("provider")
        customer, headers = await env.signed_in("customer")
        service = await env.client.post("/api/services", json=service_body(), headers=provider)
        assert service.status_code == 201, service.text
        assert (await env.client.get("/api/users/me", headers=headers)).status_code == 200
        yield env, service.json(), customer, headers, own_valkey.services["valkey"].pid


async def outbox_docs(env: KeelTestApp) -> list[dict[str, Any]]:
    coll = env.keel.db.database["core_outbox"]
    return [d async for d in coll.find({"name": {"$regex": "^booking"}}).sort("at", 1)]


async def test_valkey_frozen_booking_is_201_and_its_email_comes_after(market: Any) -> None:
    env, service, customer, headers, valkey_pid = market
    with frozen(valkey_pid):
        began = time.monotonic()
        booked = await env.client.post("/api/bookings", json=booking_body(service), headers=headers)
        took = time.monotonic() - began
        assert booked.status_code == 201, booked.text
        assert took < BOOK_WITHIN_S
        (entry,) = await outbox_docs(env)
        assert entry["relayed_at"] is None  # waits in the outbox
        await asyncio.sleep(5 - took)
    await env.drain()
    mail = await env.mailbox.wait_for(lambda m: customer.email in str(m["To"]), timeout=10)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Plumber visit" in str(mail["Subject"]) + body.get_content()
    assert len(env.mailbox.messages(to=customer.email)) == 1
    (entry,) = await outbox_docs(env)
    assert entry["relayed_at"] is not None


async def test_events_of_one_booking_arrive_in_order_once(market: Any) -> None:
    env, service, _, headers, valkey_pid = market
    with frozen(valkey_pid):
        booked = await env.client.post("/api/bookings", json=booking_body(service), headers=headers)
        assert booked.status_code == 201, booked.text
        path = f"/api/bookings/{booked.json()['id']}/cancel"
        cancelled = await env.client.post(path, json=cancel_body(), headers=headers)
        assert cancelled.status_code == 200, cancelled.text
    await env.drain()
    await env.drain()  # a second drain redelivers nothing
    docs = await outbox_docs(env)
    assert [name for name, _ in OrderSpyPlugin.seen] == ["booking.created", "booking.cancelled"]
    assert [event_id for _, event_id in OrderSpyPlugin.seen] == [d["event_id"] for d in docs]


async def test_unseen_token_is_refused_with_503_while_valkey_is_frozen(market: Any) -> None:
    env, service, _, _, valkey_pid = market
    _, fresh = await env.signed_in("customer")  # never checked by this process
    with frozen(valkey_pid):
        refused = await env.client.post("/api/bookings", json=booking_body(service), headers=fresh)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["details"] == {"service": "valkey"}
    assert await outbox_docs(env) == []


async def test_mongodb_frozen_booking_is_503_and_writes_nothing(
    keel_app_factory: AppFactory, own_mongo: DevStack
) -> None:
    overrides = {"database.url": own_mongo.overrides["database.url"]}
    async with keel_app_factory(plugins=["bookings"], overrides=overrides) as env:
        _, provider = await env.signed_in("provider")
        _, headers = await env.signed_in("customer")
        service = (
            await env.client.post("/api/services", json=service_body(), headers=provider)
        ).json()
        before = await env.keel.db.database["core_outbox"].count_documents({})
        with frozen(own_mongo.services["secantusdb"].pid):
            body = booking_body(service)
            refused = await env.client.post("/api/bookings", json=body, headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "service_unavailable"
        await asyncio.sleep(1)  # anything the frozen server still had would land by now
        db = env.keel.db.database
        assert await db["bookings_bookings"].count_documents({}) == 0
        assert await db["bookings_slot_claims"].count_documents({}) == 0
        assert await db["core_outbox"].count_documents({}) == before
