"""localstripe's webhook secret is public: outside ``keel run`` it verifies nothing.

Anyone can sign a ``payment_intent.succeeded`` with ``whsec_localstripe`` and mark a
booking paid with no charge, so a process that is not ``keel run`` (``keel serve``, or
these apps with the ``keel_run_mode`` fixture switched off) refuses every delivery while
that secret is configured, and keeps accepting an operator's own secret.
"""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from plugins.payments.dev import TEST_WEBHOOK_SECRET
from plugins.payments.models import Payment
from plugins.payments.store import deliveries, payments

from .conftest import CLOSED_URL, PRICE, Shop, sign, stripe_event

OPERATOR_SECRET = "whsec_" + "operator" * 4


@pytest.fixture
def keel_run_mode() -> None:
    """Not ``keel run``: no development pages, no public localstripe secret."""


async def _succeeded(shop: Shop) -> tuple[dict[str, Any], bytes]:
    doc = Payment(
        id=ObjectId(),
        booking_id=str(ObjectId()),
        customer_id=shop.customer.id,
        provider_id=shop.provider.id,
        amount=PRICE,
        currency="EUR",
        status="requires_payment_method",
        stripe_payment_intent_id=f"pi_test{ObjectId()}",
    ).model_dump_doc()
    await payments(shop.env.keel).insert_one(doc)
    intent = {
        "id": doc["stripe_payment_intent_id"],
        "object": "payment_intent",
        "amount": PRICE,
        "currency": "eur",
        "status": "succeeded",
        "latest_charge": f"ch_{doc['_id']}",
        "metadata": {"keel_payment_id": str(doc["_id"])},
    }
    return doc, stripe_event("payment_intent.succeeded", intent)


async def test_the_public_secret_verifies_nothing_outside_keel_run(shop: Shop) -> None:
    doc, body = await _succeeded(shop)
    answer = await shop.webhook(body, signature=sign(body, secret=TEST_WEBHOOK_SECRET))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "bad_request"
    assert await deliveries(shop.env.keel).count_documents({}) == 0
    after = await payments(shop.env.keel).find_one({"_id": doc["_id"]})
    assert after is not None
    assert after["status"] == "requires_payment_method"


@pytest.mark.parametrize(
    "app_overrides",
    [
        {
            "plugins.payments.webhook_url": CLOSED_URL,
            "plugins.payments.webhook_secret": OPERATOR_SECRET,
        }
    ],
)
async def test_an_operators_own_secret_still_verifies(shop: Shop) -> None:
    doc, body = await _succeeded(shop)
    public = await shop.webhook(body, signature=sign(body, secret=TEST_WEBHOOK_SECRET))
    assert public.status_code == 400
    answer = await shop.webhook(body, signature=sign(body, secret=OPERATOR_SECRET))
    assert answer.status_code == 200, answer.text
    after = await payments(shop.env.keel).find_one({"_id": doc["_id"]})
    assert after is not None
    assert after["status"] == "succeeded"
