"""What each event of another plugin causes: who gets an email, who an in-app notification.

Each reaction reads its event through the publisher's ``events`` module (the typed
Structs of :mod:`plugins.accounts.events`, :mod:`plugins.bookings.events` and
:mod:`plugins.payments.events`; importing them is allowed and costs nothing when a
publisher is switched off: it then simply never sends its events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from plugins.accounts.events import UserCreated, UserDeleted
from plugins.bookings.events import (
    BookingCancelled,
    BookingCreated,
    BookingReminderDue,
    BookingUpdated,
    ReviewCreated,
)
from plugins.payments.events import PaymentCompleted, PaymentFailed

Channel = Literal["email", "in_app"]
CHANNELS: tuple[Channel, ...] = ("email", "in_app")


@dataclass(frozen=True, slots=True)
class Target:
    """One recipient of a reaction.

    Attributes:
        user_id: the user's id (hex).
        role: how the event relates to them (``customer``, ``provider``, ``user``).
        email: the address to use instead of looking the user up (deleted users).
        name: the name to use with ``email``.
    """

    user_id: str
    role: str = "user"
    email: str = ""
    name: str = ""


Pick = Callable[[Any], list[Target]]


def _none(_event: Any) -> list[Target]:
    return []


@dataclass(frozen=True, slots=True)
class Reaction:
    """The reaction to one event type.

    Attributes:
        event: the event name.
        template: the templates' base name (``<template>.txt``/``.html`` for email,
            ``inapp/<template>.txt`` for the in-app title and body).
        description: what the user is told about it (preferences page).
        email: the email recipients of an event.
        in_app: the in-app recipients of an event.
        always_email: the email is a receipt or security mail, sent whatever the
            preferences say.
    """

    event: str
    template: str
    description: str
    email: Pick = field(default=_none)
    in_app: Pick = field(default=_none)
    always_email: bool = False

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this reaction uses."""
        used = {"email": self.email is not _none, "in_app": self.in_app is not _none}
        return tuple(c for c in CHANNELS if used[c])


BookingEvent = BookingCreated | BookingUpdated | BookingCancelled | BookingReminderDue
PaymentEvent = PaymentCompleted | PaymentFailed


def _account(event: UserCreated | UserDeleted) -> list[Target]:
    # the address the event carries: a deleted account can no longer be looked up
    return [Target(event.user_id, email=event.email, name=event.display_name)]


def _parties(event: BookingEvent | ReviewCreated | PaymentEvent) -> tuple[str, str]:
    """(customer id, provider id) of the booking, review or payment."""
    if isinstance(event, ReviewCreated):
        return event.review.customer_id, event.review.provider_id
    if isinstance(event, PaymentCompleted | PaymentFailed):
        return event.customer_id, event.provider_id
    return event.booking.customer_id, event.booking.provider_id


def _customer(event: Any) -> list[Target]:
    return [Target(_parties(event)[0], "customer")]


def _provider(event: Any) -> list[Target]:
    return [Target(_parties(event)[1], "provider")]


def _both(event: Any) -> list[Target]:
    return [*_customer(event), *_provider(event)]


def _not_by(actor: Callable[[Any], str]) -> Pick:
    """The booking party who did not cause the change (both, for an admin or keel)."""

    def pick(event: Any) -> list[Target]:
        return [t for t in _both(event) if t.user_id != actor(event)]

    return pick


def _changed_by(event: BookingUpdated) -> str:
    return event.changed_by


def _cancelled_by(event: BookingCancelled) -> str:
    return event.cancelled_by


REACTIONS: tuple[Reaction, ...] = (
    Reaction("user.created", "user_created", "Welcome email", email=_account),
    Reaction(
        "user.deleted",
        "user_deleted",
        "Account deletion confirmation",
        email=_account,
        always_email=True,
    ),
    Reaction("booking.created", "booking_created", "New bookings", email=_customer, in_app=_both),
    Reaction(
        "booking.updated",
        "booking_updated",
        "Booking status changes",
        email=_customer,
        in_app=_not_by(_changed_by),
    ),
    Reaction(
        "booking.cancelled",
        "booking_cancelled",
        "Cancelled bookings",
        email=_not_by(_cancelled_by),
        in_app=_not_by(_cancelled_by),
    ),
    Reaction(
        "booking.reminder_due",
        "booking_reminder_due",
        "Booking reminders",
        email=_customer,
        in_app=_customer,
    ),
    Reaction(
        "payment.completed",
        "payment_completed",
        "Payment receipts",
        email=_customer,
        in_app=_customer,
        always_email=True,
    ),
    Reaction(
        "payment.failed", "payment_failed", "Failed payments", email=_customer, in_app=_customer
    ),
    Reaction("review.created", "review_created", "Reviews", email=_customer, in_app=_provider),
)
"""Every reaction, one per event type; each becomes a durable listener."""

BY_EVENT: dict[str, Reaction] = {r.event: r for r in REACTIONS}


def link_data(event: Any) -> dict[str, str]:
    """Ids an in-app notification links to (``booking_id``, ``review_id``, ...)."""
    if isinstance(event, BookingCreated | BookingUpdated | BookingCancelled | BookingReminderDue):
        return {"booking_id": event.booking.id, "service_id": event.booking.service_id}
    if isinstance(event, ReviewCreated):
        return {"review_id": event.review.id, "booking_id": event.review.booking_id}
    if isinstance(event, PaymentCompleted | PaymentFailed):
        return {"booking_id": event.booking_id, "payment_id": event.payment_id}
    return {}
