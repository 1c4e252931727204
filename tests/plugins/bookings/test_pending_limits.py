"""Unpaid pending bookings: a cap per customer (atomic) and expiry after a TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from core.testing._app import AppFactory
from plugins.bookings._pending import resolve
from plugins.bookings.models import Booking, PendingHolds, utcnow
from plugins.bookings.plugin import BookingsPlugin
from plugins.bookings.settings import BookingsSettings

from .conftest import Actor, EventSpyPlugin, Market, next_slot, seen

CAP_MESSAGE = (
    "you already have 3 unpaid pending bookings, the most a customer may hold;"
    " pay for or cancel one first"
)


@pytest.fixture
async def limited(keel_app_factory: AppFactory) -> AsyncIterator[Market]:
    """Bookings alone (no payments), with the cap and the TTL switched on explicitly."""
    EventSpyPlugin.seen.clear()
    overrides = {
        "server.rate_limit.enabled": False,
        "plugins.bookings.max_pending_per_customer": 3,
        "plugins.bookings.pending_ttl_minutes": 30,
    }
    async with keel_app_factory(
        plugins=["bookings"], extra=(EventSpyPlugin,), overrides=overrides
    ) as app:
        actors = [Actor(*await app.signed_in(role)) for role in ("provider", "customer", "admin")]
        yield Market(app, *actors)


def test_defaults_depend_on_the_payments_plugin() -> None:
    unset = BookingsSettings()
    assert resolve(unset, ["bookings", "payments"]) == resolve(
        BookingsSettings(pending_ttl_minutes=30, max_pending_per_customer=3), ["bookings"]
    )
    off = resolve(unset, ["bookings"])
    assert (off.ttl_minutes, off.max_per_customer) == (0, 0)
    zero = resolve(
        BookingsSettings(pending_ttl_minutes=0, max_pending_per_customer=0), ["payments"]
    )
    assert (zero.ttl_minutes, zero.max_per_customer) == (0, 0)
    # The expiry schedule exists only while the TTL is on.
    assert [s.name for s in BookingsPlugin(unset, None).register_schedules()] == ["reminders"]


async def _holds(market: Market) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await market.env.keel.db.get_collection(PendingHolds).find_one(
        {"_id": ObjectId(market.customer.id)}
    )
    return doc


async def test_twenty_concurrent_bookings_give_at_most_three_pending(limited: Market) -> None:
    service = await limited.service()
    starts = [next_slot(hours=24 + 2 * i) for i in range(20)]
    responses = await asyncio.gather(*(limited.book(service, s) for s in starts))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 3 + [409] * 17, codes
    refused = [r.json()["error"] for r in responses if r.status_code == 409]
    assert {e["message"] for e in refused} == {CAP_MESSAGE}
    assert refused[0]["details"] == {"maxPendingPerCustomer": 3}
    bookings = limited.env.keel.db.get_collection(Booking)
    mine = {"customer_id": ObjectId(limited.customer.id), "status": "pending"}
    assert await bookings.count_documents(mine) == 3
    holds = await _holds(limited)
    assert holds is not None
    assert holds["n"] == len(holds["holds"]) == 3

    # Leaving pending gives the hold back: a cancellation and a confirmation free two.
    made = [r.json() for r in responses if r.status_code == 201]
    r = await limited.client.post(
        f"/api/bookings/{made[0]['id']}/cancel",
        json={"reason": "changed my mind"},
        headers=limited.customer.headers,
    )
    assert r.status_code == 200, r.text
    r = await limited.client.post(
        f"/api/bookings/{made[1]['id']}/confirm", headers=limited.provider.headers
    )
    assert r.status_code == 200, r.text
    again = [await limited.book(service, next_slot(hours=100 + i)) for i in range(3)]
    assert [r.status_code for r in again] == [201, 201, 409]
    # Another customer has a cap of their own.
    other = await limited.actor("customer")
    assert (await limited.book(service, next_slot(hours=200), other)).status_code == 201


async def _age(market: Market, booking_id: str, minutes: int) -> None:
    """Pretend the booking was made ``minutes`` ago."""
    await market.env.keel.db.get_collection(Booking).update_one(
        {"_id": ObjectId(booking_id)},
        {"$set": {"created_at": utcnow() - timedelta(minutes=minutes)}},
    )


async def test_an_unpaid_booking_past_its_ttl_expires_and_frees_its_slot(limited: Market) -> None:
    service = await limited.service()
    start = next_slot(hours=48)
    old = await limited.booked(service, start)
    fresh = await limited.booked(service, next_slot(hours=50))
    await _age(limited, old["id"], 31)
    jobs = limited.env.keel.jobs
    await jobs.enqueue("bookings.expire_pending")
    await limited.env.drain()
    await jobs.enqueue("bookings.expire_pending")  # a second tick: nothing more to do
    await limited.env.drain()

    r = await limited.client.get(f"/api/bookings/{old['id']}", headers=limited.customer.headers)
    body = r.json()
    assert (body["status"], body["cancelReason"], body["cancelledBy"]) == (
        "cancelled",
        "expired",
        "system",
    )
    r = await limited.client.get(f"/api/bookings/{fresh['id']}", headers=limited.customer.headers)
    assert r.json()["status"] == "pending"
    [event] = seen("booking.cancelled")
    assert (event.booking.id, event.reason, event.cancelled_by, event.cancelled_by_role) == (
        old["id"],
        "expired",
        "system",
        "system",
    )
    assert event.previous_status == "pending"
    # The slot is free for anyone, and the customer's hold was given back.
    other = await limited.actor("customer")
    assert (await limited.book(service, start, other)).status_code == 201
    holds = await _holds(limited)
    assert holds is not None
    assert holds["holds"] == [ObjectId(fresh["id"])]


async def test_paid_or_confirmed_bookings_never_expire(limited: Market) -> None:
    service = await limited.service()
    paid = await limited.booked(service, next_slot(hours=48))
    confirmed = await limited.booked(service, next_slot(hours=50))
    bookings = limited.env.keel.db.get_collection(Booking)
    # Paid just before the expiry ran (as the payment.completed listener records it).
    await bookings.update_one({"_id": ObjectId(paid["id"])}, {"$set": {"paid": True}})
    r = await limited.client.post(
        f"/api/bookings/{confirmed['id']}/confirm", headers=limited.provider.headers
    )
    assert r.status_code == 200
    for booking in (paid, confirmed):
        await _age(limited, booking["id"], 120)
    await limited.env.keel.jobs.enqueue("bookings.expire_pending")
    await limited.env.drain()
    statuses = {str(d["_id"]): d["status"] async for d in bookings.find({})}
    assert statuses == {paid["id"]: "pending", confirmed["id"]: "confirmed"}
    assert seen("booking.cancelled") == []


async def test_expiry_and_concurrent_payments_agree(limited: Market) -> None:
    """Expiry racing the payment listener: each booking ends paid or expired, never both."""
    from plugins.bookings._expiry import expire_pending
    from plugins.bookings.jobs import on_payment_completed

    class Paid:
        def __init__(self, booking_id: str) -> None:
            self.booking_id, self.payment_id, self.id = booking_id, "pi_race", "evt"

    service = await limited.service()
    keel = limited.env.keel
    for round_ in range(5):
        made = [
            await limited.booked(service, next_slot(hours=24 * (round_ + 1) + i)) for i in (0, 2)
        ]
        for booking in made:
            await _age(limited, booking["id"], 60)
        await asyncio.gather(
            expire_pending({"keel": keel}),
            *(on_payment_completed(keel, Paid(b["id"])) for b in made),
        )
        for booking in made:
            doc = await keel.db.get_collection(Booking).find_one({"_id": ObjectId(booking["id"])})
            assert doc is not None
            # Expired only if the payment was recorded after the expiry committed.
            assert doc["status"] in ("pending", "cancelled")
            if doc["status"] == "pending":
                assert doc["paid"] is True
        holds = await _holds(limited)
        assert holds is not None
        assert (holds["n"], holds["holds"]) == (0, [])
    await limited.env.drain()


@pytest.fixture
async def notifying(keel_app_factory: AppFactory) -> AsyncIterator[Market]:
    """Bookings with notifications, the TTL on."""
    EventSpyPlugin.seen.clear()
    overrides = {"server.rate_limit.enabled": False, "plugins.bookings.pending_ttl_minutes": 30}
    async with keel_app_factory(
        plugins=["bookings", "notifications"], extra=(EventSpyPlugin,), overrides=overrides
    ) as app:
        actors = [Actor(*await app.signed_in(role)) for role in ("provider", "customer", "admin")]
        yield Market(app, *actors)


async def test_the_customer_is_emailed_when_a_booking_expires(notifying: Market) -> None:
    booking = await notifying.booked(await notifying.service(), next_slot(hours=48))
    await notifying.env.drain()
    await _age(notifying, booking["id"], 31)
    await notifying.env.keel.jobs.enqueue("bookings.expire_pending")
    await notifying.env.drain()
    mails = notifying.env.mailbox.messages(to=notifying.customer.user.email)
    texts = [str(m.get_body(preferencelist=("plain",)).get_content()) for m in mails]  # type: ignore[union-attr]
    assert any("was cancelled by the system" in t for t in texts), texts
