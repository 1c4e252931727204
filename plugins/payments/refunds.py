"""Refunds: by an admin, and by the cancellation policy when a paid booking is cancelled.

A refund is first recorded under its idempotency key (``payments_refunds``), then its
amount is reserved on the payment by compare-and-set (so concurrent refunds can never
exceed what is left), then asked of Stripe with the same key, then completed. A retry
with the same key resumes where the last attempt stopped and never refunds twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from core.clock import as_utc
from core.context import Keel
from core.errors import ConflictError, NotFoundError, ServiceUnavailableError
from plugins.payments import state
from plugins.payments.gateway import Gateway, StripeRejected, payments_settings
from plugins.payments.models import Refund
from plugins.payments.store import Doc, bookings, change, payments, refunds

log = logging.getLogger("plugins.payments")
LATE_PAYMENT = "booking_cancelled_before_payment"
"""Refund reason: the payment completed after its booking was cancelled (or expired)."""


def left_to_refund(doc: Doc) -> int:
    """What may still be refunded: the amount less refunds done and reserved."""
    return int(doc["amount"]) - int(doc.get("refunded", 0)) - int(doc.get("refund_pending", 0))


async def refund(
    keel: Keel,
    gw: Gateway,
    payment_id: ObjectId,
    amount: int | None,
    *,
    key: str,
    reason: str,
    by: str | None = None,
) -> tuple[Doc, Doc]:
    """Refund ``amount`` (None: all that is left) of a paid payment; ``(payment, refund)``.

    Raises:
        NotFoundError: no such payment.
        ConflictError: not paid, nothing or less than ``amount`` left, or Stripe refused.
        ServiceUnavailableError: Stripe did not answer; retry with the same ``key``.
    """
    doc = await payments(keel).find_one({"_id": payment_id})
    if doc is None:
        raise NotFoundError("payment not found", details={"id": str(payment_id)})
    record = await refunds(keel).find_one({"_id": key})
    if record is None:
        if doc["status"] != "succeeded":
            raise ConflictError("payment is not paid", details={"status": doc["status"]})
        wanted = left_to_refund(doc) if amount is None else amount
        if wanted <= 0:
            raise ConflictError("nothing left to refund", details={"left": 0})
        new = Refund(id=key, payment_id=payment_id, amount=wanted, reason=reason, created_by=by)
        try:
            await refunds(keel).insert_one(new.model_dump_doc())
            record = new.model_dump_doc()
        except DuplicateKeyError:
            record = await refunds(keel).find_one({"_id": key})
    if record is None:  # pragma: no cover - it was just inserted
        raise ServiceUnavailableError("refund vanished, try again")
    if record["status"] == "failed":
        raise ConflictError("refund was refused", details={"key": key})
    if record["status"] == "pending":
        await _reserve(keel, record)
        record = await _ask_stripe(keel, gw, doc, record)
    return await _complete(keel, record), record


async def _reserve(keel: Keel, record: Doc) -> None:
    key, amount = record["_id"], int(record["amount"])

    def decide(d: Doc) -> tuple[Doc, list[Any]]:
        if key in d.get("pending_refunds", []):
            return {}, []
        if amount > left_to_refund(d):
            raise ConflictError(
                f"refund of {amount} exceeds what is left ({left_to_refund(d)})",
                details={"left": left_to_refund(d), "amount": amount},
            )
        return {
            "pending_refunds": [*d.get("pending_refunds", []), key],
            "refund_pending": int(d.get("refund_pending", 0)) + amount,
        }, []

    try:
        await change(keel, record["payment_id"], decide)
    except ConflictError:
        await refunds(keel).update_one({"_id": key}, {"$set": {"status": "failed"}})
        raise


async def _release(keel: Keel, record: Doc) -> None:
    key, amount = record["_id"], int(record["amount"])

    def decide(d: Doc) -> tuple[Doc, list[Any]]:
        if key not in d.get("pending_refunds", []):
            return {}, []
        return {
            "pending_refunds": [k for k in d["pending_refunds"] if k != key],
            "refund_pending": int(d.get("refund_pending", 0)) - amount,
        }, []

    await change(keel, record["payment_id"], decide)


async def _ask_stripe(keel: Keel, gw: Gateway, doc: Doc, record: Doc) -> Doc:
    try:
        stripe_id = await gw.refund(
            str(doc["stripe_payment_intent_id"]),
            int(record["amount"]),
            idempotency_key=f"keel-refund-{record['_id']}",
        )
    except StripeRejected as exc:
        await refunds(keel).update_one({"_id": record["_id"]}, {"$set": {"status": "failed"}})
        await _release(keel, record)
        raise ConflictError(
            f"Stripe refused the refund: {exc}", details={"key": record["_id"]}
        ) from None
    fields = {"status": "succeeded", "stripe_refund_id": stripe_id}
    await refunds(keel).update_one({"_id": record["_id"]}, {"$set": fields})
    return {**record, **fields}


async def _complete(keel: Keel, record: Doc) -> Doc:
    key, amount = record["_id"], int(record["amount"])

    def decide(d: Doc) -> tuple[Doc, list[Any]]:
        if key not in d.get("pending_refunds", []):
            return {}, []
        keel_total = int(d.get("keel_refunded", 0)) + amount
        total = min(max(int(d.get("refunded", 0)), keel_total), int(d["amount"]))
        fields = {
            "pending_refunds": [k for k in d["pending_refunds"] if k != key],
            "refund_pending": int(d.get("refund_pending", 0)) - amount,
            "keel_refunded": keel_total,
            "refunded": total,
        }
        events = []
        if total > int(d.get("refunded", 0)):
            events.append(
                state.refunded_event(
                    d, total, reason=record["reason"], stripe_refund_id=record["stripe_refund_id"]
                )
            )
        return fields, events

    done = await change(keel, record["payment_id"], decide)
    if done is None:  # pragma: no cover - payments are never deleted
        raise NotFoundError("payment not found")
    return done


def policy_amount(
    keel: Keel, doc: Doc, start: datetime, cancelled_at: datetime, role: str = "customer"
) -> int:
    """What the refund policy gives back for a booking cancelled at ``cancelled_at``.

    The time-based policy applies to the customer's own cancellations only: when the
    provider, an admin or keel itself (``role``) cancels, the customer gets back all
    that is left, whenever it happens.
    """
    if role != "customer":
        return left_to_refund(doc)
    settings = payments_settings(keel)
    hours = (start - cancelled_at).total_seconds() / 3600
    left = left_to_refund(doc)
    if hours >= settings.full_refund_hours:
        return left
    return min(left, int(doc["amount"]) * settings.late_refund_percent // 100)


async def on_booking_cancelled(keel: Keel, event: Any) -> None:
    """Durable listener of ``booking.cancelled``: refund by policy, or void the intent.

    See :func:`policy_amount`: full for the provider's, an admin's or keel's
    cancellations, time-based for the customer's.

    The refund's key is ``cancel:<booking id>``, so a redelivered cancellation resumes
    or skips the one refund, never makes a second.
    """
    from plugins.payments.gateway import gateway  # noqa: PLC0415
    from plugins.payments.service import project_booking  # noqa: PLC0415

    await project_booking(keel, event)
    booking = event.booking
    gw = gateway(keel)
    doc = await payments(keel).find_one({"booking_id": booking.id, "live": True})
    if doc is None:
        return
    if doc["status"] != "succeeded":
        await _void(keel, gw, doc)
        return
    key = f"cancel:{booking.id}"
    amount = policy_amount(
        keel, doc, booking.start, event.occurred_at, str(event.cancelled_by_role)
    )
    if amount <= 0 and await refunds(keel).find_one({"_id": key}) is None:
        log.info("payments: booking %s cancelled late, no refund by policy", booking.id)
        return
    try:
        await refund(keel, gw, doc["_id"], amount, key=key, reason="booking_cancelled")
    except ConflictError as exc:
        log.warning("payments: no refund for cancelled booking %s: %s", booking.id, exc.message)


async def refund_if_cancelled(keel: Keel, event: Any) -> None:
    """Durable listener of ``payment.completed``: a payment that completed after its
    booking was cancelled is refunded in full.

    The race it closes: a card payment in flight while its booking expires (or is
    cancelled) cannot be voided any more, Stripe charges it, and the customer would pay
    for a booking they no longer have. A booking paid *before* its cancellation is left
    to :func:`on_booking_cancelled` and its policy. The refund's key is the
    cancellation's (``cancel:<booking id>``), so a booking is still refunded at most once.
    """
    from plugins.payments.gateway import gateway  # noqa: PLC0415

    booking_id, payment_id = str(event.booking_id), str(event.payment_id)
    if not (ObjectId.is_valid(booking_id) and ObjectId.is_valid(payment_id)):
        return
    view = await bookings(keel).find_one({"_id": ObjectId(booking_id)})
    cancelled_at = None if view is None else view.get("cancelled_at")
    if view is None or view["status"] != "cancelled" or cancelled_at is None:
        return
    if as_utc(cancelled_at) > event.occurred_at:  # paid, then cancelled: the policy's
        return
    key = f"cancel:{booking_id}"
    try:
        await refund(keel, gateway(keel), ObjectId(payment_id), None, key=key, reason=LATE_PAYMENT)
    except ConflictError as exc:  # e.g. refunded already, by an admin
        log.warning("payments: no refund of late payment %s: %s", payment_id, exc.message)
        return
    log.info("payments: booking %s was cancelled before it was paid: refunded", booking_id)


async def _void(keel: Keel, gw: Gateway, doc: Doc) -> None:
    """Cancel an unpaid intent so it can never be charged after its booking is gone."""
    intent_id = doc.get("stripe_payment_intent_id")
    if intent_id is None:
        await change(keel, doc["_id"], lambda d: ({"status": "canceled", "live": False}, []))
        return
    try:
        intent = await gw.cancel(str(intent_id))
    except StripeRejected:
        intent = await gw.retrieve(str(intent_id))
    seen = state.observe_intent(intent)
    await change(keel, doc["_id"], state.apply(seen))
