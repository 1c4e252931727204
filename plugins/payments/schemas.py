"""Request and response bodies of the payments API (camelCase JSON).

Request bodies forbid unknown fields and bound every value. The client never sends an
amount to pay: the intent is for the booking's server-side price.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

ObjectIdStr = Annotated[str, Meta(pattern=r"^[0-9a-f]{24}$", description="A 24-hex id.")]
StripeId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_]{3,255}$", description="A Stripe id.")]


class IntentCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /api/payments/intents``: the caller's booking, optionally a method to pay now."""

    booking_id: ObjectIdStr
    payment_method_id: StripeId | None = None
    """A PaymentMethod (``pm_...``): confirm on the server right away."""


class RefundCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """``POST /api/payments/{id}/refund`` (admins): all that is left, or ``amount``."""

    amount: Annotated[int, Meta(ge=1, le=100_000_000, description="Minor units.")] | None = None
    reason: Annotated[str, Meta(max_length=200)] = "admin"


class Payment(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A payment of one booking as its payer, its provider or an admin sees it."""

    id: str
    booking_id: str
    customer_id: str
    provider_id: str
    amount: int
    """Minor units of ``currency``: the booking's price."""
    currency: str
    status: str
    """``requires_payment_method``, ``processing``, ``failed`` (retry with another
    method), ``succeeded`` or ``canceled``."""
    refunded: int
    refund_pending: int
    stripe_payment_intent_id: str | None
    client_secret: str | None
    """For the payer only (Stripe.js client-side confirmation)."""
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime


class PaymentPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A page of payments, newest first."""

    items: list[Payment]
    total: int
    page: int
    limit: int


class RefundResult(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The refund made (or found again under the same idempotency key) and the payment."""

    refund_id: str
    amount: int
    stripe_refund_id: str | None
    payment: Payment


class StripeEvent(msgspec.Struct, frozen=True, rename="camel"):
    """What ``POST /api/webhooks/stripe`` takes: a Stripe event, as Stripe sends it.

    Only the fields keel needs are named; Stripe's others are allowed. The signature is
    checked on the raw bytes of the body, not on this parsed form.
    """

    id: Annotated[str, Meta(min_length=1, max_length=255, description="`evt_...`")]
    type: Annotated[str, Meta(min_length=1, max_length=255, examples=["payment_intent.succeeded"])]


class WebhookAck(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What the webhook answers to a verified delivery."""

    received: bool
    outcome: str
    """``processed``, ``ignored`` (recorded, not acted on) or ``duplicate``."""


def payment_out(doc: dict[str, Any], viewer_id: str) -> Payment:
    """The API view of a payment document for ``viewer_id``."""
    return Payment(
        id=str(doc["_id"]),
        booking_id=doc["booking_id"],
        customer_id=doc["customer_id"],
        provider_id=doc["provider_id"],
        amount=int(doc["amount"]),
        currency=doc["currency"],
        status=doc["status"],
        refunded=int(doc.get("refunded", 0)),
        refund_pending=int(doc.get("refund_pending", 0)),
        stripe_payment_intent_id=doc.get("stripe_payment_intent_id"),
        client_secret=doc.get("client_secret") if viewer_id == doc["customer_id"] else None,
        failure_code=doc.get("failure_code"),
        failure_message=doc.get("failure_message"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )
