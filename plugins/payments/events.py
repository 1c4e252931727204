"""Events published by the payments plugin — the only module other plugins may import.

Payment events are flat (no nested snapshot): every event names the payment, the
booking it pays for, both booking parties, and the money involved, so listeners (the
bookings plugin marks the booking paid; notifications sends receipts) never need to
read the payments collections.

Money is an integer amount in minor units (cents) plus an ISO 4217 currency code in
upper case, as in :mod:`plugins.bookings.events`. Ids are 24-character hex ObjectId
strings; Stripe ids (``pi_...``, ``ch_...``, ``re_...``) are kept as Stripe gives them.
Each event is emitted exactly once per change: the event id is derived from the
payment and the transition, so a redelivered webhook never emits it twice.
"""

from __future__ import annotations

from typing import ClassVar

from core.events import Event


class PaymentCompleted(Event, frozen=True, kw_only=True):
    """A payment succeeded: the customer was charged ``amount`` for the booking."""

    name: ClassVar[str] = "payment.completed"
    payment_id: str
    booking_id: str
    customer_id: str
    """The payer (the booking's customer)."""
    provider_id: str
    """The provider of the booked service."""
    amount: int
    """The amount charged, in minor units of ``currency``."""
    currency: str
    """ISO 4217 code, upper case (``"EUR"``)."""
    stripe_payment_intent_id: str
    stripe_charge_id: str | None = None
    """The charge, when Stripe reported it."""


class PaymentFailed(Event, frozen=True, kw_only=True):
    """A payment attempt failed (declined card, canceled intent); nothing was charged."""

    name: ClassVar[str] = "payment.failed"
    payment_id: str
    booking_id: str
    customer_id: str
    provider_id: str
    amount: int
    """The amount that was asked for, in minor units of ``currency``."""
    currency: str
    stripe_payment_intent_id: str
    failure_code: str | None = None
    """Stripe's error/decline code (``"card_declined"``) or ``"canceled"``."""
    failure_message: str | None = None
    """Stripe's human-readable reason, when given."""


class PaymentRefunded(Event, frozen=True, kw_only=True):
    """Money was refunded on a completed payment (fully or in part)."""

    name: ClassVar[str] = "payment.refunded"
    payment_id: str
    booking_id: str
    customer_id: str
    provider_id: str
    amount: int
    """The payment's original amount, in minor units of ``currency``."""
    currency: str
    refunded_amount: int
    """The amount refunded by this refund."""
    total_refunded: int
    """Everything refunded on the payment so far, this refund included."""
    fully_refunded: bool
    """True when ``total_refunded == amount``."""
    stripe_payment_intent_id: str
    stripe_refund_id: str | None = None
    """The Stripe refund, when keel made it (``None`` when learnt from ``charge.refunded``)."""
    reason: str = ""
    """Why: ``"admin"``, ``"booking_cancelled"`` or ``"stripe"`` (refunded outside keel)."""


EVENT_TYPES: tuple[type[Event], ...] = (PaymentCompleted, PaymentFailed, PaymentRefunded)
"""The payments plugin's events, for the event catalog."""
