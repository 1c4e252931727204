"""With payments on: unpaid bookings are capped and expire; refunds follow who cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe
from bson import ObjectId

from plugins.bookings.models import Booking, utcnow
from plugins.payments.store import payments, refunds

from .conftest import CLOSED_URL, PRICE, Shop, seen


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Half back for a customer's late cancellation, to tell the policy from a full refund."""
    return {"plugins.payments.webhook_url": CLOSED_URL, "plugins.payments.late_refund_percent": 50}


async def _age(shop: Shop, booking_id: str, minutes: int) -> None:
    await shop.env.keel.db.get_collection(Booking).update_one(
        {"_id": ObjectId(booking_id)},
        {"$set": {"created_at": utcnow() - timedelta(minutes=minutes)}},
    )


async def _booking(shop: Shop, booking_id: str) -> dict[str, Any]:
    r = await shop.client.get(f"/api/bookings/{booking_id}", headers=shop.customer.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_defaults_cap_three_unpaid_and_paid_ones_do_not_count(shop: Shop) -> None:
    first = await shop.booking(hours=72)
    await shop.booking(hours=74)
    await shop.booking(hours=76)
    with pytest.raises(AssertionError, match="unpaid pending bookings"):
        await shop.booking(hours=78)
    await shop.paid(first["id"])
    await shop.env.drain()  # payment.completed marks it paid and gives the hold back
    assert (await _booking(shop, first["id"]))["paid"] is True
    await shop.booking(hours=80)


async def test_expiry_spares_the_paid_booking_and_voids_the_open_intent(shop: Shop) -> None:
    paid = await shop.booking(hours=72)
    unpaid = await shop.booking(hours=74)
    await shop.paid(paid["id"])
    open_intent = (await shop.intent(unpaid["id"])).json()
    await shop.env.drain()
    for booking in (paid, unpaid):
        await _age(shop, booking["id"], 31)  # the default TTL with payments is 30 minutes
    await shop.env.keel.jobs.enqueue("bookings.expire_pending")
    await shop.env.drain()

    kept = await _booking(shop, paid["id"])
    assert (kept["status"], kept["paid"]) == ("pending", True)
    gone = await _booking(shop, unpaid["id"])
    assert (gone["status"], gone["cancelReason"], gone["cancelledBy"]) == (
        "cancelled",
        "expired",
        "system",
    )
    voided = await payments(shop.env.keel).find_one({"_id": ObjectId(open_intent["id"])})
    assert voided is not None
    assert (voided["status"], voided["live"]) == ("canceled", False)
    assert seen("payment.refunded") == []


async def _cancel(shop: Shop, booking_id: str, who: Any) -> None:
    r = await shop.client.post(
        f"/api/bookings/{booking_id}/cancel", json={"reason": "sorry"}, headers=who.headers
    )
    assert r.status_code == 200, r.text


async def test_late_cancellations_refund_by_who_cancelled(
    shop: Shop, stripe_sdk: stripe.StripeClient
) -> None:
    by_provider = await shop.booking(hours=3)
    by_admin = await shop.booking(hours=5)
    by_customer = await shop.booking(hours=7)
    for booking in (by_provider, by_admin, by_customer):
        await shop.paid(booking["id"])
    await shop.env.drain()
    await _cancel(shop, by_provider["id"], shop.provider)
    await _cancel(shop, by_admin["id"], shop.admin)
    await _cancel(shop, by_customer["id"], shop.customer)
    await shop.env.drain()

    expected = {by_provider["id"]: PRICE, by_admin["id"]: PRICE, by_customer["id"]: PRICE // 2}
    for booking_id, amount in expected.items():
        doc = await payments(shop.env.keel).find_one({"booking_id": booking_id})
        assert doc is not None
        assert doc["refunded"] == amount, booking_id
        record = await refunds(shop.env.keel).find_one({"_id": f"cancel:{booking_id}"})
        assert record is not None
        assert record["status"] == "succeeded"
        at_stripe = await stripe_sdk.v1.refunds.retrieve_async(record["stripe_refund_id"])
        assert at_stripe.amount == amount
    refunded = sorted(e.refunded_amount for e in seen("payment.refunded"))
    assert refunded == [PRICE // 2, PRICE, PRICE]
