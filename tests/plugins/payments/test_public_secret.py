"""localstripe's webhook secret is public: only ``keel run`` on loopback may use it.

Anyone can sign a ``payment_intent.succeeded`` with ``whsec_localstripe`` and mark a
booking paid with no charge. So keel's own dev stacks never use it (each makes a random
secret and hands it to the localstripe it starts); a process configured with it refuses
to start unless it is ``keel run`` on a loopback address, and every delivery is checked
again. An operator's own secret keeps working.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from bson import ObjectId

from core.devstack import DevStack, serving_dev_pages
from core.errors import ConfigError
from core.testing._app import AppFactory
from plugins.payments.dev import TEST_WEBHOOK_SECRET
from plugins.payments.models import Payment
from plugins.payments.store import deliveries, payments

from .conftest import CLOSED_URL, PRICE, Shop, sign, stripe_event

OPERATOR_SECRET = "whsec_" + "operator" * 4
PUBLIC = {
    "plugins.payments.webhook_url": CLOSED_URL,
    "plugins.payments.webhook_secret": TEST_WEBHOOK_SECRET,
}
PROBLEM = (
    "plugins.payments.webhook_secret: localstripe's public secret, accepted only under"
    " `keel run` on a loopback address; set it to your Stripe endpoint's signing secret"
)


async def _succeeded(keel: Any, customer: str, provider: str) -> tuple[dict[str, Any], bytes]:
    doc = Payment(
        id=ObjectId(),
        booking_id=str(ObjectId()),
        customer_id=customer,
        provider_id=provider,
        amount=PRICE,
        currency="EUR",
        status="requires_payment_method",
        stripe_payment_intent_id=f"pi_test{ObjectId()}",
    ).model_dump_doc()
    await payments(keel).insert_one(doc)
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


def test_the_dev_stack_never_uses_the_public_secret(keel_stack: DevStack) -> None:
    secret = keel_stack.overrides["plugins.payments.webhook_secret"]
    assert secret != TEST_WEBHOOK_SECRET
    assert secret.startswith("whsec_dev")
    assert len(secret) > 40


@pytest.mark.parametrize("public", [False, True], ids=["keel serve", "keel run --public"])
async def test_the_public_secret_refuses_to_start(
    keel_app_factory: AppFactory, public: bool
) -> None:
    pages = serving_dev_pages(admins_only=True) if public else contextlib.nullcontext()
    with pages, pytest.raises(ConfigError) as refused:
        async with keel_app_factory(plugins=["bookings", "payments"], overrides=PUBLIC):
            pass
    assert PROBLEM in str(refused.value)


async def test_keel_run_on_loopback_may_use_it_and_each_delivery_is_checked_again(
    keel_app_factory: AppFactory,
) -> None:
    with serving_dev_pages(admins_only=False):  # `keel run` on 127.0.0.1
        factory = keel_app_factory(plugins=["bookings", "payments"], overrides=PUBLIC)
        env = await factory.__aenter__()
    try:
        customer, _ = await env.signed_in("customer")
        provider, _ = await env.signed_in("provider")
        doc, body = await _succeeded(env.keel, str(customer.id), str(provider.id))
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, TEST_WEBHOOK_SECRET),
        }
        # the same app once keel run's pages are off: the secret verifies nothing
        answer = await env.client.post("/api/webhooks/stripe", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert await deliveries(env.keel).count_documents({}) == 0
        with serving_dev_pages(admins_only=False):
            answer = await env.client.post("/api/webhooks/stripe", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        after = await payments(env.keel).find_one({"_id": doc["_id"]})
        assert after is not None
        assert after["status"] == "succeeded"
    finally:
        await factory.__aexit__(None, None, None)


@pytest.mark.parametrize(
    "app_overrides",
    [
        {
            "plugins.payments.webhook_url": CLOSED_URL,
            "plugins.payments.webhook_secret": OPERATOR_SECRET,
        }
    ],
)
async def test_an_operators_own_secret_verifies_and_the_public_one_does_not(shop: Shop) -> None:
    doc, body = await _succeeded(shop.env.keel, shop.customer.id, shop.provider.id)
    public = await shop.webhook(body, signature=sign(body, TEST_WEBHOOK_SECRET))
    assert public.status_code == 401
    answer = await shop.webhook(body, signature=sign(body, OPERATOR_SECRET))
    assert answer.status_code == 200, answer.text
    after = await payments(shop.env.keel).find_one({"_id": doc["_id"]})
    assert after is not None
    assert after["status"] == "succeeded"
