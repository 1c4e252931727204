"""A card payment in flight while its booking expires: the customer gets the money back.

The customer's side (Stripe.js confirming with the client secret) is played by the
stripe SDK on the session's localstripe; its webhook deliveries are dropped, so keel
learns of the charge only when the expiry tries to void the intent and Stripe says it
has succeeded already.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import stripe
from bson import ObjectId

from plugins.bookings.models import Booking, utcnow
from plugins.payments.refunds import LATE_PAYMENT
from plugins.payments.store import payments, refunds

from .conftest import PRICE, Shop, seen, stripe_event


async def _expire(shop: Shop, booking_id: str) -> None:
    """The booking's hold ran out (created 31 minutes ago) and the expiry schedule ran."""
    await shop.env.keel.db.get_collection(Booking).update_one(
        {"_id": ObjectId(booking_id)},
        {"$set": {"created_at": utcnow() - timedelta(minutes=31)}},
    )
    await shop.env.keel.jobs.enqueue("bookings.expire_pending")
    await shop.env.drain()


async def _open_and_pay_at_stripe(shop: Shop, client: stripe.StripeClient, booking_id: str) -> str:
    """The customer opens the payment (keel's API), then pays it at Stripe; its id."""
    opened = await shop.intent(booking_id)
    assert opened.status_code == 200, opened.text
    doc = await payments(shop.env.keel).find_one({"_id": ObjectId(opened.json()["id"])})
    assert doc is not None
    intent_id = doc["stripe_payment_intent_id"]
    intents = client.v1.payment_intents
    await intents.update_async(intent_id, {"payment_method": "pm_card_visa"})
    assert (await intents.confirm_async(intent_id)).status == "succeeded"
    return str(doc["_id"])


async def test_a_payment_charged_while_its_booking_expired_is_refunded_in_full(
    shop: Shop, stripe_sdk: stripe.StripeClient
) -> None:
    booking = await shop.booking(hours=72)
    payment_id = await _open_and_pay_at_stripe(shop, stripe_sdk, booking["id"])  # keel: unpaid
    await _expire(shop, booking["id"])

    r = await shop.client.get(f"/api/bookings/{booking['id']}", headers=shop.customer.headers)
    assert r.json()["status"] == "cancelled"
    doc = await payments(shop.env.keel).find_one({"_id": ObjectId(payment_id)})
    assert doc is not None
    assert (doc["status"], doc["refunded"]) == ("succeeded", PRICE)
    record = await refunds(shop.env.keel).find_one({"_id": f"cancel:{booking['id']}"})
    assert record is not None
    assert (record["status"], record["reason"]) == ("succeeded", LATE_PAYMENT)
    at_stripe = await stripe_sdk.v1.refunds.retrieve_async(record["stripe_refund_id"])
    assert at_stripe.amount == PRICE  # the charge is given back at Stripe, not only on paper
    refunded = seen("payment.refunded", payment_id)
    assert [(e.refunded_amount, e.fully_refunded) for e in refunded] == [(PRICE, True)]
    shown = await shop.client.get(f"/api/payments/{payment_id}", headers=shop.customer.headers)
    assert shown.json()["refunded"] == PRICE


async def test_a_payment_reported_after_the_expiry_is_refunded_once(
    shop: Shop, stripe_sdk: stripe.StripeClient
) -> None:
    booking = await shop.booking(hours=72)
    payment_id = await _open_and_pay_at_stripe(shop, stripe_sdk, booking["id"])
    await _expire(shop, booking["id"])
    # Stripe's own webhook of the charge arrives late, twice: nothing more is refunded
    doc = await payments(shop.env.keel).find_one({"_id": ObjectId(payment_id)})
    assert doc is not None
    intent = await stripe_sdk.v1.payment_intents.retrieve_async(doc["stripe_payment_intent_id"])
    body = stripe_event("payment_intent.succeeded", intent.to_dict())
    for _ in range(2):
        assert (await shop.webhook(body)).status_code == 200
    await shop.env.drain()
    total: Any = await refunds(shop.env.keel).count_documents({"payment_id": ObjectId(payment_id)})
    assert total == 1
    assert [e.refunded_amount for e in seen("payment.refunded", payment_id)] == [PRICE]
