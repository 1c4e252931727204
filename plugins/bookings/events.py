"""Events published by the bookings plugin — the only module other plugins may import.

Every event carries a complete snapshot of the object it is about, so listeners never
need to read the bookings collections:

* ``service.created`` / ``service.updated`` carry a :class:`ServiceSnapshot`;
  ``service.updated`` is also emitted with ``changed=["rating"]`` when a review is
  created or deleted. ``revision`` grows with every change of a service: a listener
  that may see events out of order keeps the snapshot with the highest revision.
* ``booking.created`` / ``booking.updated`` (status changes only) /
  ``booking.cancelled`` / ``booking.reminder_due`` carry a :class:`BookingSnapshot`.
  Their :meth:`~core.events.Event.aggregate` is ``booking:<id>``: durable listeners get
  one booking's events in the order they happened.
* ``review.created`` / ``review.deleted`` carry a :class:`ReviewSnapshot` and the
  service's rating after the change.

Money is an integer amount in minor units (cents) plus an ISO 4217 currency code in
upper case. Times are timezone-aware UTC datetimes; ``timezone`` is the provider's IANA
zone for showing them locally. Ids are 24-character hex ObjectId strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

import msgspec

from core.events import Event

BookingStatus = Literal["pending", "confirmed", "completed", "cancelled"]
"""The booking status machine: pending → confirmed → completed; pending|confirmed → cancelled."""

ActorRole = Literal["customer", "provider", "admin", "system"]
"""Who caused a change: the booking's customer, its provider, an admin, or keel itself."""


class ServiceSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A service as it is after the change that the event reports."""

    id: str
    provider_id: str
    name: str
    description: str
    category: str
    price: int
    """Price in minor units of ``currency`` (e.g. cents)."""
    currency: str
    """ISO 4217 code, upper case (``"EUR"``)."""
    duration_minutes: int
    active: bool
    images: list[str]
    """Upload ids."""
    timezone: str
    """The provider's IANA time zone, in which the weekly availability is given."""
    rating_average: float
    """Mean review rating (1-5), 0.0 while ``rating_count`` is 0."""
    rating_count: int
    revision: int
    """Grows by at least one with every change of the service (order events by it)."""
    created_at: datetime
    updated_at: datetime


class ServiceCreated(Event, frozen=True, kw_only=True):
    """A provider created a service."""

    name: ClassVar[str] = "service.created"
    service: ServiceSnapshot


class ServiceUpdated(Event, frozen=True, kw_only=True):
    """A service changed: its fields (``PATCH``) or its rating (a review was added/removed).

    ``changed`` names the changed fields (``"rating"`` for a rating change).
    """

    name: ClassVar[str] = "service.updated"
    service: ServiceSnapshot
    changed: list[str]
    updated_by: str
    """User id of who changed it (the reviewer or deleter for ``"rating"``)."""


class ServiceDeleted(Event, frozen=True, kw_only=True):
    """A service was deleted by its provider or an admin."""

    name: ClassVar[str] = "service.deleted"
    service_id: str
    provider_id: str
    deleted_by: str


class BookingSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A booking as it is after the change that the event reports."""

    id: str
    service_id: str
    service_name: str
    provider_id: str
    customer_id: str
    start: datetime
    end: datetime
    timezone: str
    """The provider's IANA time zone (for showing ``start``/``end`` locally)."""
    status: BookingStatus
    price: int
    """Price in minor units, fixed when the booking was made."""
    currency: str
    paid: bool
    payment_id: str | None
    notes: str
    cancel_reason: str | None
    cancelled_by: str | None
    """User id of who cancelled, when cancelled."""
    created_at: datetime
    updated_at: datetime


class BookingCreated(Event, frozen=True, kw_only=True):
    """A customer booked a service (status ``pending``)."""

    name: ClassVar[str] = "booking.created"
    booking: BookingSnapshot

    def aggregate(self) -> str:
        return f"booking:{self.booking.id}"


class BookingUpdated(Event, frozen=True, kw_only=True):
    """A booking's status changed: pending → confirmed, or confirmed → completed.

    Cancellations are reported by :class:`BookingCancelled` only.
    """

    name: ClassVar[str] = "booking.updated"
    booking: BookingSnapshot
    previous_status: BookingStatus
    changed_by: str
    """User id of who made the change."""
    changed_by_role: ActorRole

    def aggregate(self) -> str:
        return f"booking:{self.booking.id}"


class BookingCancelled(Event, frozen=True, kw_only=True):
    """A pending or confirmed booking was cancelled; its slot is free again."""

    name: ClassVar[str] = "booking.cancelled"
    booking: BookingSnapshot
    previous_status: BookingStatus
    reason: str
    cancelled_by: str
    """User id of who cancelled."""
    cancelled_by_role: ActorRole

    def aggregate(self) -> str:
        return f"booking:{self.booking.id}"


class BookingReminderDue(Event, frozen=True, kw_only=True):
    """A confirmed booking takes place on ``day`` (emitted once per booking and day)."""

    name: ClassVar[str] = "booking.reminder_due"
    booking: BookingSnapshot
    day: date
    """The local day (in the reminder schedule's time zone) the reminder is for."""

    def aggregate(self) -> str:
        return f"booking:{self.booking.id}"


class ReviewSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A review of a completed booking."""

    id: str
    booking_id: str
    service_id: str
    service_name: str
    provider_id: str
    customer_id: str
    """The author."""
    rating: int
    """1-5."""
    comment: str
    created_at: datetime


class ReviewCreated(Event, frozen=True, kw_only=True):
    """A customer reviewed a completed booking; the service's rating was updated."""

    name: ClassVar[str] = "review.created"
    review: ReviewSnapshot
    rating_average: float
    """The service's average after this review."""
    rating_count: int


class ReviewDeleted(Event, frozen=True, kw_only=True):
    """A review was deleted by its author or an admin; the service's rating was corrected."""

    name: ClassVar[str] = "review.deleted"
    review: ReviewSnapshot
    deleted_by: str
    rating_average: float
    """The service's average after the deletion."""
    rating_count: int


EVENT_TYPES: tuple[type[Event], ...] = (
    ServiceCreated,
    ServiceUpdated,
    ServiceDeleted,
    BookingCreated,
    BookingUpdated,
    BookingCancelled,
    BookingReminderDue,
    ReviewCreated,
    ReviewDeleted,
)
"""The bookings plugin's events, for the event catalog."""
