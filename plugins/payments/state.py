"""The payment state machine: what Stripe tells us, and how a payment moves on it.

Pure functions, no I/O. A payment only moves forward (by rank), so the same set of
observations gives the same state in any order, and a late event never moves a payment
backwards. The refunded total only grows (the highest figure seen wins). Each forward
move decides the events to publish; their ids are derived from the payment and the
move, so deciding the same move twice can never publish twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.events import Event
from plugins.payments.events import PaymentCompleted, PaymentFailed, PaymentRefunded

RANK = {
    "creating": 0,
    "requires_payment_method": 0,
    "requires_confirmation": 0,
    "requires_action": 0,
    "processing": 1,
    "failed": 2,
    "succeeded": 3,
    "canceled": 3,
}
"""Forward order of local statuses; ``succeeded`` and ``canceled`` are final."""
FINAL = ("succeeded", "canceled")
PAYABLE = ("creating", "requires_payment_method", "requires_confirmation", "failed")
"""Statuses in which a payment method may still be confirmed."""
_NS = uuid.UUID("0b6b7a53-5f0e-4d4e-9c55-6b65656c7061")


@dataclass(frozen=True, slots=True)
class Observed:
    """One thing Stripe said about an intent.

    Attributes:
        status: the local status it implies (see :data:`RANK`).
        charge_id: the charge concerned, if any.
        failure_code: the decline code of a failed attempt.
        failure_message: Stripe's reason of a failed attempt.
        refunded: the charge's total refunded amount, when known.
        refund_reason: why money went back (``"stripe"``, ``"admin"``, ...).
    """

    status: str
    charge_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    refunded: int | None = None
    refund_reason: str = "stripe"


def _charge_of(intent: dict[str, Any]) -> dict[str, Any] | None:
    charge = intent.get("latest_charge")
    return charge if isinstance(charge, dict) else None


def _charge_id(intent: dict[str, Any]) -> str | None:
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        return str(charge.get("id")) if charge.get("id") else None
    return charge if isinstance(charge, str) else None


def observe_intent(intent: dict[str, Any]) -> Observed:
    """What an intent object (API answer, webhook or retrieval) says."""
    status = str(intent.get("status") or "requires_payment_method")
    error = intent.get("last_payment_error") or None
    charge = _charge_of(intent)
    refunded = int(charge.get("amount_refunded") or 0) if charge else None
    if status == "requires_payment_method" and isinstance(error, dict):
        return Observed(
            "failed",
            charge_id=error.get("charge") or _charge_id(intent),
            failure_code=error.get("code") or error.get("decline_code"),
            failure_message=error.get("message"),
        )
    if status not in RANK:  # requires_capture and future statuses: nothing to do yet
        status = "processing" if status == "requires_capture" else "requires_payment_method"
    return Observed(status, charge_id=_charge_id(intent), refunded=refunded or None)


def observe_event(kind: str, obj: dict[str, Any]) -> Observed | None:
    """What a webhook event says, or None for events that do not concern a payment."""
    if kind == "payment_intent.succeeded":
        return Observed("succeeded", charge_id=_charge_id(obj))
    if kind == "payment_intent.processing":
        return Observed("processing", charge_id=_charge_id(obj))
    if kind == "payment_intent.canceled":
        return Observed("canceled")
    if kind == "payment_intent.payment_failed":
        seen = observe_intent({**obj, "status": "requires_payment_method"})
        if seen.status != "failed":
            seen = Observed("failed", charge_id=_charge_id(obj))
        return seen
    if kind == "charge.refunded":
        return Observed(
            "succeeded",
            charge_id=str(obj.get("id")) if obj.get("id") else None,
            refunded=int(obj.get("amount_refunded") or 0),
        )
    return None


def event_id(payment_id: Any, *parts: object) -> str:
    """A stable event id for one move of one payment."""
    return uuid.uuid5(_NS, ":".join(str(p) for p in (payment_id, *parts))).hex


def transition(doc: dict[str, Any], seen: Observed) -> tuple[dict[str, Any], list[Event]]:
    """The fields to set and the events to publish when ``seen`` reaches ``doc``.

    Returns ``({}, [])`` when nothing changes.
    """
    changes: dict[str, Any] = {}
    events: list[Event] = []
    current = str(doc.get("status", "creating"))
    retry_failed = (
        seen.status == current == "failed"
        and seen.charge_id is not None
        and seen.charge_id != doc.get("stripe_charge_id")
    )
    moves = RANK.get(seen.status, 0) > RANK.get(current, 0) and current not in FINAL
    if moves or retry_failed:
        changes["status"] = seen.status
        if seen.charge_id:
            changes["stripe_charge_id"] = seen.charge_id
        if seen.status == "canceled":
            changes["live"] = False
        if seen.status == "failed":
            changes["failure_code"] = seen.failure_code
            changes["failure_message"] = seen.failure_message
            events.append(_failed(doc, seen))
        elif seen.status == "succeeded":
            events.append(_completed(doc, seen.charge_id or doc.get("stripe_charge_id")))
    total = seen.refunded or 0
    if total > int(doc.get("refunded", 0)) and (
        current == "succeeded" or seen.status == "succeeded"
    ):
        total = min(total, int(doc["amount"]))
        changes["refunded"] = total
        events.append(refunded_event(doc, total, reason=seen.refund_reason))
    return changes, events


def apply(seen: Observed) -> Callable[[dict[str, Any]], tuple[dict[str, Any], list[Event]]]:
    """``decide`` for :func:`plugins.payments.store.change`: the move ``seen`` implies."""

    def decide(doc: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
        return transition(doc, seen)

    return decide


def _common(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": str(doc["_id"]),
        "booking_id": doc["booking_id"],
        "customer_id": doc["customer_id"],
        "provider_id": doc["provider_id"],
        "amount": int(doc["amount"]),
        "currency": doc["currency"],
        "stripe_payment_intent_id": doc.get("stripe_payment_intent_id") or "",
    }


def _completed(doc: dict[str, Any], charge_id: str | None) -> PaymentCompleted:
    return PaymentCompleted(
        id=event_id(doc["_id"], "completed"), stripe_charge_id=charge_id, **_common(doc)
    )


def _failed(doc: dict[str, Any], seen: Observed) -> PaymentFailed:
    return PaymentFailed(
        id=event_id(doc["_id"], "failed", seen.charge_id or doc.get("attempt", 1)),
        failure_code=seen.failure_code,
        failure_message=seen.failure_message,
        **_common(doc),
    )


def refunded_event(
    doc: dict[str, Any], total: int, *, reason: str, stripe_refund_id: str | None = None
) -> PaymentRefunded:
    """``payment.refunded`` for the refunded total rising from ``doc``'s to ``total``."""
    return PaymentRefunded(
        id=event_id(doc["_id"], "refunded", total),
        refunded_amount=total - int(doc.get("refunded", 0)),
        total_refunded=total,
        fully_refunded=total >= int(doc["amount"]),
        stripe_refund_id=stripe_refund_id,
        reason=reason,
        **_common(doc),
    )
