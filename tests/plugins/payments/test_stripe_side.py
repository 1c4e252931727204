"""What only Stripe knows: real signed deliveries from localstripe, and reconciliation.

The customer's side (Stripe.js confirming with the client secret) is played by the
stripe SDK talking to the session's localstripe directly, so keel learns the outcome
only from Stripe: through a real webhook delivery to a real socket, or, when the
deliveries are dropped, through the reconciliation job.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import stripe
import uvicorn

from plugins.payments.reconcile import reconcile
from plugins.payments.store import deliveries, payments

from .conftest import PRICE, Shop, seen


async def _pay_at_stripe(client: stripe.StripeClient, intent_id: str, method: str) -> None:
    intents = client.v1.payment_intents
    await intents.update_async(intent_id, {"payment_method": method})
    with contextlib.suppress(stripe.CardError):  # a decline is an outcome here
        await intents.confirm_async(intent_id)


async def _wait_for(shop: Shop, booking_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            doc = await payments(shop.env.keel).find_one({"booking_id": booking_id})
            if doc is not None and doc["status"] == status:
                return doc
            await asyncio.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def webhook_port() -> int:
    """The port this module's uvicorn serves the app on."""
    return _free_port()


@pytest.fixture
def app_overrides(webhook_port: int) -> dict[str, Any]:
    """localstripe posts to this test's server."""
    return {"plugins.payments.webhook_url": f"http://127.0.0.1:{webhook_port}/api/webhooks/stripe"}


@pytest.fixture
def app_plugins() -> list[str]:
    """Notifications too: the receipt email is what the customer sees."""
    return ["bookings", "payments", "notifications"]


@pytest.fixture
async def served(shop: Shop, webhook_port: int) -> AsyncIterator[Shop]:
    """``shop`` with its app also served over a real socket (lifespan already running)."""
    config = uvicorn.Config(
        shop.env.app, host="127.0.0.1", port=webhook_port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.02)
    yield shop
    server.should_exit = True
    await task


async def test_real_deliveries_from_localstripe(
    served: Shop, stripe_sdk: stripe.StripeClient
) -> None:
    shop = served
    paid, declined = await shop.booking(), await shop.booking(hours=96)
    good = (await shop.intent(paid["id"])).json()
    bad = (await shop.intent(declined["id"])).json()
    await _pay_at_stripe(stripe_sdk, good["stripePaymentIntentId"], "pm_card_visa")
    await _pay_at_stripe(stripe_sdk, bad["stripePaymentIntentId"], "pm_card_chargeCustomerFail")
    done = await _wait_for(shop, paid["id"], "succeeded")
    failed = await _wait_for(shop, declined["id"], "failed")
    assert failed["failure_code"] == "card_declined"
    wanted = {"payment_intent.succeeded", "payment_intent.payment_failed"}
    async with asyncio.timeout(10):
        while not wanted <= {  # noqa: ASYNC110 - polling the database
            d["type"] async for d in deliveries(shop.env.keel).find({"status": "processed"})
        }:
            await asyncio.sleep(0.05)
    await shop.env.drain()
    r = await shop.client.get(f"/api/bookings/{paid['id']}", headers=shop.customer.headers)
    assert (r.json()["paid"], r.json()["paymentId"]) == (True, str(done["_id"]))
    assert [e.amount for e in seen("payment.completed")] == [PRICE]
    assert [e.booking_id for e in seen("payment.failed")] == [declined["id"]]
    receipt = await shop.env.mailbox.wait_for(
        lambda m: str(m["Subject"]).startswith("Receipt") and shop.customer.email in str(m["To"])
    )
    assert "45.00" in str(receipt["Subject"])


async def test_reconciliation_repairs_dropped_webhooks_once(
    shop: Shop, stripe_sdk: stripe.StripeClient
) -> None:
    booking = await shop.booking()
    intent = (await shop.intent(booking["id"])).json()
    await _pay_at_stripe(stripe_sdk, intent["stripePaymentIntentId"], "pm_card_visa")
    await stripe_sdk.v1.refunds.create_async(
        {"payment_intent": intent["stripePaymentIntentId"], "amount": 500}
    )
    doc = await payments(shop.env.keel).find_one({"booking_id": booking["id"]})
    assert doc is not None
    assert doc["status"] == "requires_payment_method"  # the deliveries went nowhere

    first = await reconcile({"keel": shop.env.keel})
    assert first["repaired"] == 1
    second = await reconcile({"keel": shop.env.keel})
    assert second["repaired"] == 0
    doc = await payments(shop.env.keel).find_one({"booking_id": booking["id"]})
    assert doc is not None
    assert (doc["status"], doc["refunded"]) == ("succeeded", 500)
    await shop.env.drain()
    r = await shop.client.get(f"/api/bookings/{booking['id']}", headers=shop.customer.headers)
    assert r.json()["paid"] is True
    assert len(seen("payment.completed")) == 1
    [refunded] = seen("payment.refunded")
    assert (refunded.refunded_amount, refunded.reason) == (500, "stripe")
