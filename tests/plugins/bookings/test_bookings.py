"""Bookings: creation rules, visibility, listing and the status machine."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from plugins.bookings.events import BookingSnapshot, ReviewSnapshot
from plugins.bookings.models import Booking, SlotClaim
from plugins.bookings.schemas import Booking as Booking_
from plugins.bookings.schemas import Review as Review_

from .conftest import Market, next_slot, seen


async def _move_to_past(market: Market, booking: dict[str, Any]) -> None:
    """Shift a booking into the past (the API only books future slots)."""
    start = datetime.now(UTC) - timedelta(hours=3)
    await market.env.keel.db.get_collection(Booking).update_one(
        {"_id": ObjectId(booking["id"])},
        {"$set": {"start": start, "end": start + timedelta(hours=1)}},
    )


async def test_customer_books_a_slot(market: Market) -> None:
    service = await market.service()
    start = next_slot()
    booking = await market.booked(service, start)
    assert booking["status"] == "pending"
    assert booking["customerId"] == market.customer.id
    assert booking["providerId"] == market.provider.id
    assert (booking["price"], booking["currency"]) == (4500, "EUR")
    assert datetime.fromisoformat(booking["end"]) == start + timedelta(minutes=60)
    assert booking["paid"] is False
    claims = market.env.keel.db.get_collection(SlotClaim)
    assert await claims.count_documents({"booking_id": ObjectId(booking["id"])}) == 12
    await market.env.drain()
    [event] = seen("booking.created")
    assert event.booking.id == booking["id"]
    assert event.booking.service_name == "Plumber visit"
    assert event.booking.start == start


async def test_invalid_bookings_are_clear_4xx(market: Market) -> None:
    service = await market.service(
        availability={"monday": [{"start": "09:00", "end": "12:00"}]}, timezone="Europe/Berlin"
    )
    past = await market.book(service, next_slot(hours=-2))
    assert (past.status_code, past.json()["error"]["message"]) == (
        422,
        "start must be in the future",
    )
    berlin = ZoneInfo("Europe/Berlin")
    day = datetime.now(berlin).date() + timedelta(days=7)
    day += timedelta(days=-day.weekday())  # a Monday 1-7 days ahead

    def local(hour: int, minute: int = 0, days: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(hour, minute), tzinfo=berlin)

    inside = await market.book(service, local(9))
    assert inside.status_code == 201, inside.text
    overlong = await market.book(service, local(11, 30))  # would end 12:30
    assert overlong.status_code == 422  # schema-valid: refused by the opening hours
    assert overlong.json()["error"]["code"] == "unprocessable_entity"
    assert "outside the provider's availability" in overlong.text
    assert (await market.book(service, local(11))).status_code == 201  # ends 12:00 exactly
    assert (await market.book(service, local(10, days=1))).status_code == 422  # a Tuesday
    assert (await market.book(service, local(8, 55))).status_code == 422
    far = await market.book(service, local(10, days=7 * 110))
    assert far.status_code == 422
    assert far.json()["error"]["message"] == "start must be within 730 days from now"
    misaligned = await market.book(service, local(10, 3))
    assert misaligned.status_code == 422
    assert "5-minute boundary" in misaligned.text
    monday = local(10)
    unknown = await market.book({"id": str(ObjectId())}, monday)
    assert unknown.status_code == 404
    naive = await market.client.post(
        "/api/bookings",
        json={"serviceId": service["id"], "start": "2030-01-01T10:00:00"},
        headers=market.customer.headers,
    )
    assert naive.status_code == 400
    as_provider = await market.book(service, local(10), customer=market.provider)
    assert as_provider.status_code == 403


async def test_overlapping_intervals_conflict_and_cancel_frees_the_slot(market: Market) -> None:
    long = await market.service(durationMinutes=60)
    short = await market.service(name="Quick fix", durationMinutes=30)
    start = next_slot()
    first = await market.booked(long, start)
    for offset in (-25, 0, 30, 55):
        clash = await market.book(short, start + timedelta(minutes=offset))
        assert clash.status_code == 409, offset
        assert clash.json()["error"]["message"] == "the slot is already booked"
    assert (await market.book(short, start - timedelta(minutes=30))).status_code == 201
    assert (await market.book(short, start + timedelta(minutes=60))).status_code == 201
    cancel = await market.client.post(
        f"/api/bookings/{first['id']}/cancel",
        json={"reason": "Changed my plans"},
        headers=market.customer.headers,
    )
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["cancelReason"] == "Changed my plans"
    assert (await market.book(short, start + timedelta(minutes=15))).status_code == 201
    await market.env.drain()
    [event] = seen("booking.cancelled")
    assert (event.reason, event.cancelled_by, event.cancelled_by_role) == (
        "Changed my plans",
        market.customer.id,
        "customer",
    )
    assert event.previous_status == "pending"
    assert event.booking.status == "cancelled"


async def test_only_parties_see_a_booking(market: Market) -> None:
    booking = await market.booked(await market.service(), next_slot())
    url = f"/api/bookings/{booking['id']}"
    for actor in (market.customer, market.provider, market.admin):
        response = await market.client.get(url, headers=actor.headers)
        assert response.status_code == 200
        assert response.json() == booking
    for role in ("customer", "provider"):
        stranger = await market.actor(role)
        assert (await market.client.get(url, headers=stranger.headers)).status_code == 404
        confirm = await market.client.post(f"{url}/confirm", headers=stranger.headers)
        assert confirm.status_code == 404
    assert (await market.client.get(url)).status_code == 401
    assert (
        await market.client.get("/api/bookings/123", headers=market.admin.headers)
    ).status_code == 404


async def test_status_machine(market: Market) -> None:
    booking = await market.booked(await market.service(), next_slot())
    url = f"/api/bookings/{booking['id']}"
    by_customer = await market.client.post(f"{url}/confirm", headers=market.customer.headers)
    assert by_customer.status_code == 403
    early = await market.client.post(f"{url}/complete", headers=market.provider.headers)
    assert early.status_code == 409
    assert early.json()["error"]["details"]["status"] == "pending"
    confirmed = await market.client.post(f"{url}/confirm", headers=market.provider.headers)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    again = await market.client.post(f"{url}/confirm", headers=market.provider.headers)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "booking is confirmed; cannot confirm it"
    before_end = await market.client.post(f"{url}/complete", headers=market.provider.headers)
    assert before_end.status_code == 409
    assert "before it ends" in before_end.json()["error"]["message"]
    await _move_to_past(market, booking)
    completed = await market.client.post(f"{url}/complete", headers=market.provider.headers)
    assert completed.json()["status"] == "completed"
    cancel = await market.client.post(
        f"{url}/cancel", json={"reason": "late"}, headers=market.provider.headers
    )
    assert cancel.status_code == 409
    assert "booking is completed" in cancel.text
    no_reason = await market.client.post(
        f"{url}/cancel", json={"reason": " "}, headers=market.provider.headers
    )
    assert no_reason.status_code == 400
    await market.env.drain()
    updates = seen("booking.updated")
    assert [(u.previous_status, u.booking.status) for u in updates] == [
        ("pending", "confirmed"),
        ("confirmed", "completed"),
    ]
    assert updates[0].changed_by_role == "provider"


async def test_list_is_role_aware_filtered_and_paginated(market: Market) -> None:
    service = await market.service()
    other_customer = await market.actor("customer")
    other_provider = await market.actor("provider")
    foreign = await market.service(provider=other_provider, name="Elsewhere")
    base = next_slot()
    mine = [await market.booked(service, base + timedelta(hours=2 * i)) for i in range(5)]
    theirs = await market.book(service, base + timedelta(hours=20), customer=other_customer)
    assert theirs.status_code == 201
    assert (await market.book(foreign, base, customer=other_customer)).status_code == 201
    await market.client.post(
        f"/api/bookings/{mine[0]['id']}/confirm", headers=market.provider.headers
    )

    async def listing(actor: Any, **params: Any) -> dict[str, Any]:
        response = await market.client.get("/api/bookings", params=params, headers=actor.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    customer = await listing(market.customer, limit=2, page=2)
    assert customer["total"] == 5
    assert [b["id"] for b in customer["items"]] == [mine[2]["id"], mine[3]["id"]]
    assert (await listing(market.provider))["total"] == 6
    assert (await listing(other_provider))["total"] == 1
    assert (await listing(market.admin))["total"] == 7
    confirmed = await listing(market.provider, status="confirmed")
    assert [b["id"] for b in confirmed["items"]] == [mine[0]["id"]]
    window = {
        "from": (base + timedelta(hours=2)).isoformat(),
        "to": (base + timedelta(hours=6)).isoformat(),
    }
    assert [b["id"] for b in (await listing(market.customer, **window))["items"]] == [
        mine[1]["id"],
        mine[2]["id"],
    ]
    latest = await listing(market.customer, sort="-start", limit=1)
    assert latest["items"][0]["id"] == mine[4]["id"]
    for wrong in (
        {"status": "lost"},
        {"to": "0"},  # not read as a Unix time
        {"from": "2030-01-01T10:00:00"},  # no offset
        {"from": "2030-02-30T10:00:00Z"},  # no such day
    ):
        bad = await market.client.get(
            "/api/bookings", params=wrong, headers=market.customer.headers
        )
        assert bad.status_code == 400, (wrong, bad.text)
    zulu = {"from": "2000-01-01T00:00:00Z", "to": "2999-12-31T23:59:59.999+01:00"}
    assert (await listing(market.customer, **zulu))["total"] == 5


def test_api_views_have_the_snapshots_fields_in_camel_case() -> None:
    """The API's Booking and Review copy the events' snapshots field for field."""
    for view, snapshot in ((Booking_, BookingSnapshot), (Review_, ReviewSnapshot)):
        assert view.__struct_fields__ == snapshot.__struct_fields__
        assert "createdAt" in view.__struct_encode_fields__
        assert "created_at" in snapshot.__struct_encode_fields__  # job arguments keep theirs
