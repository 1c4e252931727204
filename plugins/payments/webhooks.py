"""The Stripe webhook: verify, record, process each event exactly once.

The signature is checked on the raw body with ``stripe.WebhookSignature.verify_header``
(300 s tolerance) before anything is read or written. Every delivery is recorded under
its Stripe event id (unique): the first copy claims it for ``webhook_lease_s`` and processes
it; copies arriving meanwhile or afterwards are acknowledged and change nothing. A copy
whose processing failed releases its claim and answers 500, so Stripe's retry (or any
later copy) processes it again; processing is itself idempotent (see ``state``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.context import Keel
from core.errors import BadRequestError, UnauthorizedError
from plugins.payments import state
from plugins.payments.dev import public_secret_problem
from plugins.payments.gateway import payments_settings
from plugins.payments.models import WebhookDelivery, utcnow
from plugins.payments.store import change, deliveries, payments

log = logging.getLogger("plugins.payments")
TOLERANCE_S = 300
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


def verify(keel: Keel, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event of a correctly signed delivery.

    Raises:
        UnauthorizedError: the signature does not verify the body (a missing, malformed,
            tampered, stale or wrongly keyed one), or no secret can verify anything (none
            configured, or localstripe's public one outside ``keel run``): whoever sent
            it is not known to be Stripe.
        BadRequestError: a correctly signed body that is not a Stripe event.
    """
    secret = payments_settings(keel).webhook_secret
    if not secret:
        raise UnauthorizedError("webhook signing secret is not configured")
    if problem := public_secret_problem(secret):
        log.error("payments: webhook refused: %s", problem)
        raise UnauthorizedError("webhook signing secret is not configured")
    if not signature:
        raise UnauthorizedError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=TOLERANCE_S)
    # TypeError: hmac.compare_digest of a str with non-ASCII characters
    except (ValueError, TypeError, stripe.SignatureVerificationError) as exc:
        raise UnauthorizedError(f"invalid webhook signature: {exc}") from None
    try:
        event: dict[str, Any] = json.loads(payload)
    except ValueError as exc:
        raise BadRequestError(f"invalid webhook: {exc}") from None
    if not (isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
        raise BadRequestError("invalid webhook: not a Stripe event")
    return event


async def receive(keel: Keel, event: dict[str, Any]) -> str:
    """Record and, unless a copy already did or is doing it, process ``event``.

    Returns:
        ``"processed"``, ``"duplicate"`` (acknowledged, nothing done) or ``"ignored"``
        (recorded; a type keel does not act on).
    """
    event_id, kind = event["id"], event["type"]
    if not await _claim(keel, event_id, kind):
        return "duplicate"
    try:
        payment_id, acted = await _process(keel, kind, event)
    except BaseException:
        await deliveries(keel).update_one({"_id": event_id}, {"$set": {"claimed_until": _RELEASED}})
        raise
    await deliveries(keel).update_one(
        {"_id": event_id},
        {"$set": {"status": "processed", "processed_at": utcnow(), "payment_id": payment_id}},
    )
    return "processed" if acted else "ignored"


async def _claim(keel: Keel, event_id: str, kind: str) -> bool:
    now = utcnow()
    lease = now + timedelta(seconds=payments_settings(keel).webhook_lease_s)
    record = WebhookDelivery(id=event_id, type=kind, claimed_until=lease, received_at=now)
    try:
        await deliveries(keel).insert_one(record.model_dump_doc())
    except DuplicateKeyError:
        taken = await deliveries(keel).find_one_and_update(
            {"_id": event_id, "status": "received", "claimed_until": {"$lt": now}},
            {"$set": {"claimed_until": lease}, "$inc": {"copies": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is None:
            await deliveries(keel).update_one({"_id": event_id}, {"$inc": {"copies": 1}})
            return False
    return True


async def _process(keel: Keel, kind: str, event: dict[str, Any]) -> tuple[ObjectId | None, bool]:
    obj = (event.get("data") or {}).get("object") or {}
    seen = state.observe_event(kind, obj)
    if seen is None:
        return None, False
    intent_id = obj.get("id") if kind.startswith("payment_intent.") else obj.get("payment_intent")
    doc = await _payment_of(keel, intent_id, obj.get("metadata") or {})
    if doc is None:
        log.warning("payments: %s for unknown intent %s recorded only", kind, intent_id)
        return None, False
    await change(keel, doc["_id"], state.apply(seen), doc=doc)
    return doc["_id"], True


async def _payment_of(
    keel: Keel, intent_id: Any, metadata: dict[str, Any]
) -> dict[str, Any] | None:
    if isinstance(intent_id, str):
        doc = await payments(keel).find_one({"stripe_payment_intent_id": intent_id})
        if doc is not None:
            return doc
    local = metadata.get("keel_payment_id")
    if not (isinstance(local, str) and ObjectId.is_valid(local)):
        return None
    doc = await payments(keel).find_one({"_id": ObjectId(local)})
    if doc is not None and doc.get("stripe_payment_intent_id") not in (None, intent_id):
        return None  # an intent this payment does not use (never confirmed through keel)
    return doc
