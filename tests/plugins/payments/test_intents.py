"""Intents through keel's API on a real localstripe: pay, decline, retry, ownership."""

from __future__ import annotations

import asyncio

from .conftest import PRICE, Shop, seen


async def test_pay_for_a_booking_marks_it_paid_and_publishes_once(shop: Shop) -> None:
    booking = await shop.booking()
    first = await shop.intent(booking["id"])
    assert first.status_code == 200, first.text
    payment = first.json()
    assert payment["amount"] == PRICE
    assert payment["currency"] == "EUR"
    assert payment["status"] == "requires_payment_method"
    assert payment["stripePaymentIntentId"].startswith("pi_")
    assert payment["clientSecret"]

    paid = await shop.paid(booking["id"])
    await shop.env.drain()  # bookings' durable payment.completed listener
    assert paid["id"] == payment["id"]
    assert paid["stripePaymentIntentId"] == payment["stripePaymentIntentId"]

    r = await shop.client.get(f"/api/bookings/{booking['id']}", headers=shop.customer.headers)
    assert r.json()["paid"] is True
    assert r.json()["paymentId"] == payment["id"]
    [completed] = seen("payment.completed")
    assert (completed.booking_id, completed.payment_id) == (booking["id"], payment["id"])
    assert (completed.customer_id, completed.provider_id) == (shop.customer.id, shop.provider.id)
    assert (completed.amount, completed.currency) == (PRICE, "EUR")

    again = await shop.intent(booking["id"], "pm_card_visa")  # never charged twice
    assert again.json()["id"] == payment["id"]
    assert again.json()["status"] == "succeeded"
    await shop.env.drain()
    assert len(seen("payment.completed")) == 1


async def test_declined_card_fails_then_another_card_pays(shop: Shop) -> None:
    booking = await shop.booking()
    r = await shop.intent(booking["id"], "pm_card_chargeCustomerFail")  # 4000 0000 0000 0341
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed"
    assert r.json()["failureCode"] == "card_declined"
    await shop.env.keel.events.drain()
    [failed] = seen("payment.failed")
    assert failed.failure_code == "card_declined"
    assert failed.amount == PRICE

    retry = await shop.intent(booking["id"], "pm_card_visa")  # a fresh intent per attempt
    assert retry.json()["status"] == "succeeded"
    assert retry.json()["stripePaymentIntentId"] != r.json()["stripePaymentIntentId"]
    old = await shop.client.get(f"/api/payments/{r.json()['id']}", headers=shop.customer.headers)
    assert old.json()["status"] == "canceled"  # the declined intent can never charge
    await shop.env.keel.events.drain()
    assert len(seen("payment.completed")) == 1
    assert len(seen("payment.failed")) == 1


async def test_one_intent_per_booking_only_for_its_customer_never_an_amount(shop: Shop) -> None:
    booking = await shop.booking()
    stranger = await shop.actor("customer")
    assert (await shop.intent(booking["id"], who=stranger)).status_code == 404
    assert (await shop.intent(booking["id"], who=shop.provider)).status_code == 404
    assert (await shop.intent("0" * 24)).status_code == 404
    r = await shop.client.post(
        "/api/payments/intents",
        json={"bookingId": booking["id"], "amount": 1},
        headers=shop.customer.headers,
    )
    assert r.status_code == 400
    anonymous = await shop.client.post("/api/payments/intents", json={"bookingId": booking["id"]})
    assert anonymous.status_code == 401

    answers = await asyncio.gather(*(shop.intent(booking["id"]) for _ in range(5)))
    assert {a.status_code for a in answers} <= {200, 409}
    ids = {a.json()["id"] for a in answers if a.status_code == 200}
    intents = {a.json()["stripePaymentIntentId"] for a in answers if a.status_code == 200}
    assert len(ids) == len(intents) == 1  # one live intent per booking


async def test_list_and_get_show_payments_to_payer_provider_and_admin(shop: Shop) -> None:
    paid = await shop.paid((await shop.booking())["id"])
    pending = (await shop.intent((await shop.booking(hours=96))["id"])).json()
    stranger = await shop.actor("customer")

    mine = await shop.client.get("/api/payments?limit=1", headers=shop.customer.headers)
    assert mine.status_code == 200
    assert (mine.json()["total"], len(mine.json()["items"])) == (2, 1)
    as_provider = await shop.client.get("/api/payments", headers=shop.provider.headers)
    assert as_provider.json()["total"] == 2
    assert all(p["clientSecret"] is None for p in as_provider.json()["items"])
    nothing = await shop.client.get("/api/payments", headers=stranger.headers)
    assert nothing.json()["total"] == 0
    admin = await shop.client.get("/api/payments?status=succeeded", headers=shop.admin.headers)
    assert [p["id"] for p in admin.json()["items"]] == [paid["id"]]
    assert (
        await shop.client.get("/api/payments?limit=101", headers=shop.admin.headers)
    ).status_code == 400

    for who, code in (
        (shop.customer, 200),
        (shop.provider, 200),
        (shop.admin, 200),
        (stranger, 404),
    ):
        r = await shop.client.get(f"/api/payments/{pending['id']}", headers=who.headers)
        assert r.status_code == code
    assert (
        await shop.client.get("/api/payments/nope", headers=shop.admin.headers)
    ).status_code == 404


async def test_a_method_stripe_refuses_is_a_422_and_an_unknown_booking_a_404(shop: Shop) -> None:
    unknown = await shop.intent("0" * 24, method="000")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    booking = await shop.booking()
    refused = await shop.intent(booking["id"], method="pm_nothing_like_this")
    assert refused.status_code == 422, refused.text  # schema-valid: Stripe knows no such method
    assert refused.json()["error"]["code"] == "unprocessable_entity"
    assert refused.json()["error"]["details"] == {"paymentMethodId": "pm_nothing_like_this"}
    paid = await shop.intent(booking["id"], method="pm_card_visa")
    assert (paid.status_code, paid.json()["status"]) == (200, "succeeded"), paid.text
