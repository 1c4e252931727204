"""Payments domain logic: the booking projection, intents, listing. No Litestar here."""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from core.context import Keel
from core.errors import ConflictError, NotFoundError, UnprocessableError
from plugins.payments import state
from plugins.payments.gateway import CardDeclined, Gateway, StripeRejected, payments_settings
from plugins.payments.models import Payment, utcnow
from plugins.payments.store import Doc, bookings, change, payments

log = logging.getLogger("plugins.payments")
CONFIRM_LOCK_S = 60


def object_id(value: str, what: str) -> ObjectId:
    """``value`` as an ObjectId; anything else names nothing (404)."""
    if not ObjectId.is_valid(value) or len(value) != 24:  # noqa: PLR2004
        raise NotFoundError(f"{what} not found", details={"id": value[:64]})
    return ObjectId(value)


async def project_booking(keel: Keel, event: Any) -> None:
    """Keep ``payments_bookings`` in step with ``booking.*`` events (newest snapshot wins)."""
    b = event.booking
    fields = {
        "customer_id": b.customer_id,
        "provider_id": b.provider_id,
        "price": b.price,
        "currency": b.currency,
        "status": b.status,
        "start": b.start,
        "updated_at": b.updated_at,
    }
    if b.status == "cancelled":
        fields["cancelled_at"] = b.updated_at
    try:
        await bookings(keel).update_one(
            {"_id": ObjectId(b.id), "updated_at": {"$lte": b.updated_at}},
            {"$set": fields},
            upsert=True,
        )
    except DuplicateKeyError:
        log.debug("payments: older snapshot of booking %s ignored", b.id)


async def open_intent(
    keel: Keel, gw: Gateway, user_id: str, booking_id: str, payment_method: str | None
) -> Doc:
    """The live payment of the caller's booking, created at Stripe on first use.

    With ``payment_method``, confirm it on the server (unless already paid or in flight).

    Raises:
        NotFoundError: no such booking, or not the caller's.
        ConflictError: the booking is cancelled or costs nothing; a confirmation of it
            is already running.
        UnprocessableError: Stripe refused ``payment_method`` (unknown, unusable).
    """
    view = await bookings(keel).find_one({"_id": object_id(booking_id, "booking")})
    if view is None or view["customer_id"] != user_id:
        raise NotFoundError("booking not found", details={"id": booking_id})
    doc = await _live_payment(keel, view)
    if payment_method is not None and doc["status"] == "failed":
        doc = await _retire(keel, gw, doc)
        if doc["status"] != "succeeded":
            doc = await _live_payment(keel, view)
    if doc.get("stripe_payment_intent_id") is None:
        doc = await _create_at_stripe(keel, gw, doc)
    if payment_method is not None and doc["status"] in state.PAYABLE:
        doc = await _confirm(keel, gw, doc, payment_method)
    return doc


async def _live_payment(keel: Keel, view: Doc) -> Doc:
    booking_id = str(view["_id"])
    coll = payments(keel)
    for _ in range(3):
        doc = await coll.find_one({"booking_id": booking_id, "live": True})
        if doc is not None:
            return doc
        if view["status"] == "cancelled":
            raise ConflictError("booking is cancelled", details={"id": booking_id})
        if view["price"] <= 0:
            raise ConflictError("booking costs nothing", details={"id": booking_id})
        currency = (view.get("currency") or payments_settings(keel).default_currency).upper()
        allowed = payments_settings(keel).currencies
        if allowed and currency not in allowed:
            raise ConflictError(f"currency {currency} is not accepted", details={"id": booking_id})
        attempt = await coll.count_documents({"booking_id": booking_id}) + 1
        new = Payment(
            id=ObjectId(),
            booking_id=booking_id,
            customer_id=view["customer_id"],
            provider_id=view["provider_id"],
            amount=int(view["price"]),
            currency=currency,
            attempt=attempt,
        )
        try:
            await coll.insert_one(new.model_dump_doc())
        except DuplicateKeyError:
            continue  # a concurrent request made it: read theirs
        return new.model_dump_doc()
    raise ConflictError("payment is being created, try again", details={"id": booking_id})


async def _create_at_stripe(keel: Keel, gw: Gateway, doc: Doc) -> Doc:
    intent = await gw.create_intent(
        amount=doc["amount"],
        currency=doc["currency"],
        metadata={
            "keel_payment_id": str(doc["_id"]),
            "booking_id": doc["booking_id"],
            "customer_id": doc["customer_id"],
        },
        idempotency_key=f"keel-booking-{doc['booking_id']}-{doc['attempt']}",
    )
    fields = {
        "stripe_payment_intent_id": intent["id"],
        "client_secret": intent.get("client_secret"),
    }
    await payments(keel).update_one(
        {"_id": doc["_id"], "stripe_payment_intent_id": None},
        {"$set": {**fields, "updated_at": utcnow()}, "$inc": {"rev": 1}},
    )
    await payments(keel).update_one(
        {"_id": doc["_id"], "status": "creating"},
        {"$set": {"status": "requires_payment_method"}, "$inc": {"rev": 1}},
    )
    return await _reload(keel, doc["_id"])


async def _retire(keel: Keel, gw: Gateway, doc: Doc) -> Doc:
    """Cancel a declined intent so a retry gets a fresh one and the old can never charge.

    (localstripe cannot confirm an intent again after a decline; Stripe could, but one
    intent per attempt works on both and keeps every attempt visible.)
    """
    intent_id = str(doc["stripe_payment_intent_id"])
    try:
        intent = await gw.cancel(intent_id)
    except StripeRejected:
        intent = await gw.retrieve(intent_id)
    seen = state.observe_intent(intent)
    return await change(keel, doc["_id"], state.apply(seen)) or doc


async def _reload(keel: Keel, payment_id: ObjectId) -> Doc:
    doc = await payments(keel).find_one({"_id": payment_id})
    if doc is None:  # pragma: no cover - payments are never deleted
        raise NotFoundError("payment not found", details={"id": str(payment_id)})
    return doc


async def _confirm(keel: Keel, gw: Gateway, doc: Doc, payment_method: str) -> Doc:
    lock = keel.key("payments", "confirm", str(doc["_id"]))
    if not await keel.valkey.set(lock, "1", nx=True, ex=CONFIRM_LOCK_S):
        raise ConflictError(
            "a payment of this booking is in progress", details={"id": str(doc["_id"])}
        )
    intent_id = str(doc["stripe_payment_intent_id"])
    try:
        try:
            intent = await gw.confirm(intent_id, payment_method)
        except CardDeclined:
            intent = await gw.retrieve(intent_id)
        except StripeRejected as exc:
            intent = await gw.retrieve(intent_id)
            if intent.get("status") not in ("succeeded", "processing"):
                raise UnprocessableError(
                    f"the payment method was not accepted: {exc}",
                    details={"paymentMethodId": payment_method[:64]},
                ) from None
        seen = state.observe_intent(intent)
        return await change(keel, doc["_id"], state.apply(seen)) or doc
    finally:
        await keel.valkey.delete(lock)


def visible_to(doc: Doc | None, user_id: str, *, admin: bool) -> Doc:
    """``doc`` when its payer, its provider or an admin asks; else 404."""
    if doc is None or not (admin or user_id in (doc["customer_id"], doc["provider_id"])):
        raise NotFoundError("payment not found")
    return doc


async def get_payment(keel: Keel, payment_id: str, user_id: str, *, admin: bool) -> Doc:
    """One payment, for its payer, its provider or an admin (else 404)."""
    doc = await payments(keel).find_one({"_id": object_id(payment_id, "payment")})
    return visible_to(doc, user_id, admin=admin)


async def list_payments(
    keel: Keel,
    user_id: str,
    *,
    admin: bool,
    page: int,
    limit: int,
    filters: dict[str, str],
) -> tuple[list[Doc], int]:
    """A page of payments, newest first: the caller's as payer or provider; admins' all.

    ``filters`` (``status``, ``booking_id``, ``customer_id``, ``provider_id``) narrow
    an admin's list; for others only ``status`` and ``booking_id`` apply on top.
    """
    query: dict[str, Any] = {}
    if not admin:
        filters = {k: v for k, v in filters.items() if k in ("status", "booking_id")}
        query["$or"] = [{"customer_id": user_id}, {"provider_id": user_id}]
    query.update(filters)
    coll = payments(keel)
    total = await coll.count_documents(query)
    cursor = coll.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    docs = await cursor.skip((page - 1) * limit).limit(limit).to_list(limit)
    return docs, total
