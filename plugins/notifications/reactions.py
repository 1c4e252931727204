"""What each event of another plugin causes: who gets an email, who an in-app notification.

Events are read by attribute only, so this module needs none of the publishers'
modules: a publisher that is disabled (or not installed) simply never sends its events,
and its listeners here stay idle. The shapes read are those of ``plugins.accounts.events``,
``plugins.bookings.events`` (a ``booking`` or ``review`` snapshot) and the payments events
(flat: ``booking_id``, ``payment_id``, ``customer_id``, ``amount`` in minor units,
``currency``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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


def _account(event: Any) -> list[Target]:
    return [
        Target(
            event.user_id,
            email=getattr(event, "email", ""),
            name=getattr(event, "display_name", ""),
        )
    ]


def _customer(event: Any) -> list[Target]:
    subject = getattr(event, "booking", None) or getattr(event, "review", None) or event
    return [Target(subject.customer_id, "customer")]


def _provider(event: Any) -> list[Target]:
    subject = getattr(event, "booking", None) or getattr(event, "review", None) or event
    return [Target(subject.provider_id, "provider")]


def _both(event: Any) -> list[Target]:
    return [*_customer(event), *_provider(event)]


def _other_party(actor_field: str) -> Pick:
    """The booking party who did not cause the change (both, for an admin or keel)."""

    def pick(event: Any) -> list[Target]:
        actor = getattr(event, actor_field, None)
        return [t for t in _both(event) if t.user_id != actor]

    return pick


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
        in_app=_other_party("changed_by"),
    ),
    Reaction(
        "booking.cancelled",
        "booking_cancelled",
        "Cancelled bookings",
        email=_other_party("cancelled_by"),
        in_app=_other_party("cancelled_by"),
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
    data: dict[str, str] = {}
    if (booking := getattr(event, "booking", None)) is not None:
        data |= {"booking_id": booking.id, "service_id": booking.service_id}
    if (review := getattr(event, "review", None)) is not None:
        data |= {"review_id": review.id, "booking_id": review.booking_id}
    for name in ("booking_id", "payment_id"):
        if isinstance(value := getattr(event, name, None), str):
            data[name] = value
    return data
