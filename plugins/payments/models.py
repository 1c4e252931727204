"""MongoDB collections of the payments plugin, declared as odmantic models for their indexes.

The service layer reads and writes raw documents through motor (compare-and-set on
``rev``, unique inserts); these models name the collections, document the fields and
declare an index for every query the plugin makes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow

__all__ = ["MODELS", "BookingView", "Payment", "Refund", "WebhookDelivery", "utcnow"]

ASC, DESC = pymongo.ASCENDING, pymongo.DESCENDING


def _idx(*keys: tuple[str, int], **kwargs: Any) -> pymongo.IndexModel:
    return pymongo.IndexModel(list(keys), **kwargs)


class Payment(Model):
    """One PaymentIntent for one booking.

    ``live`` is true until the intent is canceled; a unique partial index allows one live
    payment per booking. Every change goes through a compare-and-set on ``rev``.
    ``refunded`` is the total refunded (the highest of keel's own refunds and Stripe's
    figure), ``refund_pending`` what keel's in-flight refunds have reserved (their ids in
    ``pending_refunds``). ``outbox`` holds events decided but not yet emitted.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "payments_payments",
        "indexes": lambda: [
            _idx(
                ("booking_id", ASC),
                unique=True,
                partialFilterExpression={"live": True},
                name="one_live_payment_per_booking",
            ),
            _idx(("booking_id", ASC), ("created_at", DESC)),
            _idx(
                ("stripe_payment_intent_id", ASC),
                unique=True,
                partialFilterExpression={"stripe_payment_intent_id": {"$type": "string"}},
            ),
            # For lookups: SecantusDB's planner does not pick the partial index above.
            _idx(("stripe_payment_intent_id", ASC), name="by_intent"),
            _idx(("customer_id", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("provider_id", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("status", ASC), ("created_at", DESC), ("_id", DESC)),
            _idx(("created_at", DESC), ("_id", DESC)),
            _idx(("updated_at", ASC)),
        ],
    }

    booking_id: str
    customer_id: str
    provider_id: str
    amount: int
    currency: str
    status: str = "creating"
    live: bool = True
    attempt: int = 1
    stripe_payment_intent_id: str | None = None
    client_secret: str | None = None
    stripe_charge_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    refunded: int = 0
    keel_refunded: int = 0
    refund_pending: int = 0
    pending_refunds: list[str] = Field(default_factory=list)
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    rev: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BookingView(Model):
    """What payments knows of a booking, projected from ``booking.*`` events.

    The ``_id`` is the booking's id; the snapshot with the latest ``updated_at`` wins.
    """

    model_config = {"collection": "payments_bookings"}  # noqa: RUF012

    customer_id: str
    provider_id: str
    price: int
    currency: str
    status: str
    start: datetime
    cancelled_at: datetime | None = None
    updated_at: datetime


class WebhookDelivery(Model):
    """One Stripe event received on the webhook (``_id`` is the Stripe event id)."""

    model_config = {  # noqa: RUF012
        "collection": "payments_webhook_events",
        "indexes": lambda: [_idx(("received_at", DESC))],
    }

    id: str = Field(primary_field=True)
    type: str
    status: str = "received"
    """``received`` (being processed or to retry) or ``processed``."""
    claimed_until: datetime | None = None
    copies: int = 1
    payment_id: ObjectId | None = None
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None


class Refund(Model):
    """A refund keel asked Stripe for; ``_id`` is its idempotency key.

    ``cancel:<booking id>`` for a cancellation refund (so a redelivered cancellation
    cannot refund twice), ``admin:<key>`` for an admin's.
    """

    model_config = {  # noqa: RUF012
        "collection": "payments_refunds",
        "indexes": lambda: [_idx(("payment_id", ASC), ("created_at", DESC))],
    }

    id: str = Field(primary_field=True)
    payment_id: ObjectId
    amount: int
    reason: str
    status: str = "pending"
    """``pending`` (reserved, Stripe not yet answered), ``succeeded`` or ``failed``."""
    stripe_refund_id: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


MODELS: list[type[Model]] = [Payment, BookingView, WebhookDelivery, Refund]
"""Every payments collection, for ``register_models``."""
