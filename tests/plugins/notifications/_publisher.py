"""Small real plugins for the notifications tests.

``PublisherPlugin`` publishes the events notifications reacts to without their real
publishers: the event types of ``plugins.bookings.events`` and ``plugins.payments.events``
(the same Structs the real publishers emit).

``RecorderPlugin`` listens to ``notification.created`` (as the realtime plugin would) and
keeps what it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core import Event, Listener, Plugin, hookimpl
from plugins.accounts.documents import User
from plugins.bookings.events import EVENT_TYPES as BOOKING_EVENTS
from plugins.bookings.events import (
    BookingCancelled,
    BookingCreated,
    BookingReminderDue,
    BookingSnapshot,
    BookingStatus,
    BookingUpdated,
    ReviewCreated,
    ReviewSnapshot,
)
from plugins.payments.events import PaymentCompleted, PaymentFailed


class PublisherPlugin(Plugin):
    """Publishes the bookings and payments events (their plugins are off in these tests)."""

    name = "test_publisher"

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        return [*BOOKING_EVENTS, PaymentCompleted, PaymentFailed]


RECEIVED: list[Any] = []
"""``notification.created`` events the recorder got (cleared by the ``recorded`` fixture)."""


async def record(_keel: Any, event: Any) -> None:
    RECEIVED.append(event)


class RecorderPlugin(Plugin):
    """Listens to ``notification.created`` like the realtime plugin would."""

    name = "test_recorder"

    @hookimpl
    def register_listeners(self) -> Sequence[Listener]:
        return [Listener("notification.created", record, mode="durable")]


START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def booking(
    customer: User, provider: User, *, status: BookingStatus = "pending", **changes: Any
) -> BookingSnapshot:
    """A booking snapshot of ``customer`` with ``provider`` ("Yoga class", 12.50 EUR)."""
    values: dict[str, Any] = {
        "id": "b0" * 12,
        "service_id": "5e" * 12,
        "service_name": "Yoga class",
        "provider_id": str(provider.id),
        "customer_id": str(customer.id),
        "start": START,
        "end": START + timedelta(hours=1),
        "timezone": "Europe/Paris",
        "status": status,
        "price": 1250,
        "currency": "EUR",
        "paid": False,
        "payment_id": None,
        "notes": "",
        "cancel_reason": None,
        "cancelled_by": None,
        "created_at": START - timedelta(days=3),
        "updated_at": START - timedelta(days=3),
    }
    return BookingSnapshot(**(values | changes))


def created(customer: User, provider: User) -> BookingCreated:
    return BookingCreated(booking=booking(customer, provider))


def confirmed(customer: User, provider: User) -> BookingUpdated:
    return BookingUpdated(
        booking=booking(customer, provider, status="confirmed"),
        previous_status="pending",
        changed_by=str(provider.id),
        changed_by_role="provider",
    )


def cancelled(customer: User, provider: User, reason: str = "I am ill") -> BookingCancelled:
    return BookingCancelled(
        booking=booking(customer, provider, status="cancelled", cancel_reason=reason),
        previous_status="confirmed",
        reason=reason,
        cancelled_by=str(customer.id),
        cancelled_by_role="customer",
    )


def reminder(customer: User, provider: User) -> BookingReminderDue:
    snapshot = booking(customer, provider, status="confirmed")
    return BookingReminderDue(booking=snapshot, day=date(2026, 12, 1))


def reviewed(customer: User, provider: User) -> ReviewCreated:
    review = ReviewSnapshot(
        id="7e" * 12,
        booking_id="b0" * 12,
        service_id="5e" * 12,
        service_name="Yoga class",
        provider_id=str(provider.id),
        customer_id=str(customer.id),
        rating=5,
        comment="Lovely",
        created_at=START,
    )
    return ReviewCreated(review=review, rating_average=5.0, rating_count=1)


def paid(customer: User) -> PaymentCompleted:
    return PaymentCompleted(
        booking_id="b0" * 12,
        payment_id="pi_123",
        customer_id=str(customer.id),
        provider_id="c0" * 12,
        amount=1250,
        currency="EUR",
        stripe_payment_intent_id="pi_123",
    )


def payment_failed(customer: User) -> PaymentFailed:
    return PaymentFailed(
        booking_id="b0" * 12,
        payment_id="pi_456",
        customer_id=str(customer.id),
        provider_id="c0" * 12,
        amount=1250,
        currency="EUR",
        stripe_payment_intent_id="pi_456",
    )
