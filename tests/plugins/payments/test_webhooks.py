"""The Stripe webhook: signatures, exactly-once processing, order independence."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from bson import ObjectId

from plugins.payments.models import Payment
from plugins.payments.store import deliveries, payments

from .conftest import PRICE, Shop, seen, sign, stripe_event


async def _payment(shop: Shop) -> dict[str, Any]:
    """A payment document as keel writes it, on an intent id only these tests use."""
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
    return doc


def _intent(doc: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "id": doc["stripe_payment_intent_id"],
        "object": "payment_intent",
        "amount": PRICE,
        "currency": "eur",
        "status": status,
        "latest_charge": f"ch_{doc['_id']}",
        "metadata": {"keel_payment_id": str(doc["_id"])},
    }


def _charge(doc: dict[str, Any], refunded: int) -> dict[str, Any]:
    return {
        "id": f"ch_{doc['_id']}",
        "object": "charge",
        "amount": PRICE,
        "amount_refunded": refunded,
        "refunded": refunded >= PRICE,
        "payment_intent": doc["stripe_payment_intent_id"],
    }


async def test_bad_signatures_are_401_and_change_nothing(shop: Shop) -> None:
    doc = await _payment(shop)
    body = stripe_event("payment_intent.succeeded", _intent(doc, "succeeded"))
    tampered = body.replace(b'"amount": 4500', b'"amount": 1')
    stale = shop.sign(body, at=int(time.time()) - 301)
    refused = {  # schema-valid deliveries whose signature does not verify the body
        "garbage": await shop.webhook(body, signature="t=1,v1=00"),
        "no timestamp": await shop.webhook(body, signature="v1=00"),
        "tampered": await shop.webhook(tampered, signature=shop.sign(body)),
        "wrong secret": await shop.webhook(body, signature=sign(body, secret="whsec_other")),
        "stale": await shop.webhook(body, signature=stale),
    }
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 401)
    assert {r.json()["error"]["code"] for r in refused.values()} == {"unauthorized"}
    malformed = {  # deliveries that break the documented request
        "missing": await shop.webhook(body, signature=""),
        "not json": await shop.webhook(b"{nope", signature=shop.sign(b"{nope")),
        "not an event": await shop.webhook(b'{"id": 1}', signature=shop.sign(b'{"id": 1}')),
    }
    assert {k: r.status_code for k, r in malformed.items()} == dict.fromkeys(malformed, 400)
    assert malformed["missing"].json()["error"]["code"] == "validation_error"
    assert malformed["not json"].json()["error"]["code"] == "bad_request"
    assert await deliveries(shop.env.keel).count_documents({}) == 0
    after = await payments(shop.env.keel).find_one({"_id": doc["_id"]})
    assert after is not None
    assert after["status"] == "requires_payment_method"
    assert (await shop.webhook(body)).status_code == 200  # the genuine one passes


async def test_duplicates_are_processed_exactly_once_and_others_recorded(shop: Shop) -> None:
    doc = await _payment(shop)
    body = stripe_event("payment_intent.succeeded", _intent(doc, "succeeded"))
    concurrent = await asyncio.gather(*(shop.webhook(body) for _ in range(5)))
    sequential = [await shop.webhook(body) for _ in range(3)]
    answers = [*concurrent, *sequential]
    assert [r.status_code for r in answers] == [200] * 8
    outcomes = sorted(r.json()["outcome"] for r in answers)
    assert outcomes == ["duplicate"] * 7 + ["processed"]
    await shop.env.keel.events.drain()
    assert len(seen("payment.completed", str(doc["_id"]))) == 1
    record = await deliveries(shop.env.keel).find_one({"_id": json.loads(body)["id"]})
    assert record is not None
    assert (record["status"], record["copies"]) == ("processed", 8)

    body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    r = await shop.webhook(body)
    assert (r.status_code, r.json()["outcome"]) == (200, "ignored")
    assert await deliveries(shop.env.keel).count_documents({"type": "customer.created"}) == 1


async def _deliver_in_order(shop: Shop, doc: dict[str, Any], order: tuple[int, ...]) -> None:
    succeeded = stripe_event("payment_intent.succeeded", _intent(doc, "succeeded"))
    bodies = [
        stripe_event("payment_intent.processing", _intent(doc, "processing")),
        succeeded,
        stripe_event("charge.refunded", _charge(doc, 1000)),
        succeeded,  # a duplicate delivery
    ]
    for i in order:
        assert (await shop.webhook(bodies[i])).status_code == 200
    for kind, status in (  # late news never moves a paid payment back
        ("payment_intent.payment_failed", "requires_payment_method"),
        ("payment_intent.canceled", "canceled"),
    ):
        assert (await shop.webhook(stripe_event(kind, _intent(doc, status)))).status_code == 200


async def test_every_order_of_events_ends_in_the_same_state(shop: Shop) -> None:
    docs = [await _payment(shop) for _ in range(24)]
    orders = list(itertools.permutations(range(4)))
    await asyncio.gather(
        *(_deliver_in_order(shop, d, o) for d, o in zip(docs, orders, strict=True))
    )
    finals = []
    for doc in docs:
        final = await payments(shop.env.keel).find_one({"_id": doc["_id"]})
        assert final is not None
        finals.append((final["status"], final["refunded"], final["live"], len(final["outbox"])))
    assert finals == [("succeeded", 1000, True, 0)] * 24
    await shop.env.keel.events.drain()
    assert seen("payment.failed") == []
    for doc in docs:
        [completed] = seen("payment.completed", str(doc["_id"]))
        [refunded] = seen("payment.refunded", str(doc["_id"]))
        assert (refunded.refunded_amount, refunded.total_refunded) == (1000, 1000)
        assert completed.amount == PRICE


async def test_the_document_states_the_signature_header_and_the_refusals(shop: Shop) -> None:
    document = (await shop.client.get("/schema/openapi.json")).json()
    webhook = document["paths"]["/api/webhooks/stripe"]["post"]
    [header] = webhook["parameters"]
    assert (header["name"], header["in"], header["required"]) == (
        "Stripe-Signature",
        "header",
        True,
    )
    assert webhook["requestBody"]["required"] is True
    assert {"400", "401"} <= set(webhook["responses"])
    intents = document["paths"]["/api/payments/intents"]["post"]["responses"]
    assert {"404", "409", "422"} <= set(intents)
