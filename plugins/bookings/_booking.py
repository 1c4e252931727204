"""Bookings: create (with slot claims), read, list, and the status machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from core.errors import ForbiddenError, NotFoundError, UnprocessableError
from plugins.bookings import schemas
from plugins.bookings._catalog import load as load_service
from plugins.bookings._docs import ListQuery, booking_snapshot, parse_id
from plugins.bookings._pending import gate, limits, precheck
from plugins.bookings._slots import claim, fits, is_aligned, now, slot_keys
from plugins.bookings.events import BookingCreated, BookingStatus
from plugins.bookings.models import Booking, utcnow

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.api import CurrentUser

BookingSort = Literal["start", "-start"]
ACTIVE: tuple[BookingStatus, ...] = ("pending", "confirmed")
MAX_DAYS_AHEAD = 730
"""How far ahead a booking may start."""


def _not_found(booking_id: object) -> NotFoundError:
    return NotFoundError("booking not found", details={"id": str(booking_id)})


async def load(keel: Keel, caller: CurrentUser, booking_id: str) -> dict[str, Any]:
    """The booking, if ``caller`` is its customer, its provider or an admin; else 404."""
    oid = parse_id(booking_id, "booking")
    doc: dict[str, Any] | None = await keel.db.get_collection(Booking).find_one({"_id": oid})
    if doc is None or not (
        caller.is_admin or caller.id in (str(doc["customer_id"]), str(doc["provider_id"]))
    ):
        raise _not_found(booking_id)
    return doc


def _check_start(service: dict[str, Any], start: datetime, lead_minutes: int) -> datetime:
    """The end of a booking of ``service`` at ``start``; 422 when it cannot be booked.

    The start is schema-valid (a time with an offset); these are the booking rules.
    """
    if not is_aligned(start):
        raise UnprocessableError(
            "start must be on a 5-minute boundary (e.g. 10:00, 10:05)",
            details={"start": start.isoformat()},
        )
    if start <= now() + timedelta(minutes=lead_minutes):
        message = "start must be in the future"
        if lead_minutes:
            message += f", at least {lead_minutes} minutes from now"
        raise UnprocessableError(message, details={"start": start.isoformat()})
    if start > now() + timedelta(days=MAX_DAYS_AHEAD):
        raise UnprocessableError(
            f"start must be within {MAX_DAYS_AHEAD} days from now",
            details={"start": start.isoformat()},
        )
    end = start + timedelta(minutes=service["duration_minutes"])
    if not fits(service["availability"], service["timezone"], start, end):
        raise UnprocessableError(
            "the slot is outside the provider's availability",
            details={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "timezone": service["timezone"],
            },
        )
    return end


async def create_booking(
    keel: Keel, caller: CurrentUser, data: schemas.BookingCreate, *, lead_minutes: int = 0
) -> schemas.Booking:
    """Book a service (customers); emits ``booking.created``.

    Raises:
        ForbiddenError: the caller is not a customer.
        NotFoundError: no such (active) service.
        UnprocessableError: misaligned, past, too far ahead, or outside the availability.
        ConflictError: the provider has an overlapping pending or confirmed booking.
        PendingLimitError: the customer already holds ``max_pending_per_customer``
            unpaid pending bookings.
    """
    if caller.role != "customer":
        raise ForbiddenError("only customers can book services")
    service = await load_service(keel, parse_id(data.service_id, "service"), None)
    start = data.start.astimezone(UTC)
    end = _check_start(service, start, lead_minutes)
    stamp = utcnow()
    doc = Booking(
        id=ObjectId(),
        service_id=service["_id"],
        service_name=service["name"],
        provider_id=service["provider_id"],
        customer_id=caller.object_id,
        start=start,
        end=end,
        timezone=service["timezone"],
        price=service["price"],
        currency=service["currency"],
        notes=data.notes,
        created_at=stamp,
        updated_at=stamp,
    ).model_dump_doc()
    cap = limits(keel).max_per_customer
    snapshot = booking_snapshot(doc)
    keys = slot_keys(service["provider_id"], start, end)
    event = BookingCreated(booking=snapshot)
    if cap:
        async with gate(keel, caller.object_id):
            await precheck(keel, caller.object_id, cap)
            await claim(keel, doc, keys, event=event, max_pending=cap)
    else:
        await claim(keel, doc, keys, event=event)
    return schemas.Booking.of(snapshot)


async def get_booking(keel: Keel, caller: CurrentUser, booking_id: str) -> schemas.Booking:
    """One booking (its customer, its provider or an admin; else 404)."""
    return schemas.Booking.of(booking_snapshot(await load(keel, caller, booking_id)))


def bookings_query(
    caller: CurrentUser,
    *,
    status: BookingStatus | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    sort: BookingSort = "start",
) -> ListQuery:
    """The filter and sort of a bookings listing, by the caller's role.

    A customer sees its bookings, a provider the bookings of its services, an admin
    all. Every shape is served by one of :class:`~plugins.bookings.models.Booking`'s
    indexes (a test checks with ``explain()``).
    """
    query: dict[str, Any] = {}
    if caller.role == "customer":
        query["customer_id"] = caller.object_id
    elif caller.role == "provider":
        query["provider_id"] = caller.object_id
    if status is not None:
        query["status"] = status
    bounds: dict[str, datetime] = {}
    if start_from is not None:
        bounds["$gte"] = start_from
    if start_to is not None:
        bounds["$lt"] = start_to
    if bounds:
        query["start"] = bounds
    direction = DESCENDING if sort.startswith("-") else ASCENDING
    keys = [k for k in ("customer_id", "provider_id", "status") if k in query]
    index = [(k, ASCENDING) for k in [*keys, "start", "_id"]]
    return ListQuery(query, [("start", direction), ("_id", direction)], index)


async def list_bookings(
    keel: Keel,
    caller: CurrentUser,
    *,
    page: int,
    limit: int,
    status: BookingStatus | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    sort: BookingSort = "start",
) -> schemas.BookingPage:
    """A page of the caller's bookings (see :func:`bookings_query`)."""
    listing = bookings_query(
        caller, status=status, start_from=start_from, start_to=start_to, sort=sort
    )
    docs, total = await listing.page(
        keel.db.get_collection(Booking), page, limit, max_ms=keel.settings.database.timeout_ms
    )
    items = [schemas.Booking.of(booking_snapshot(d)) for d in docs]
    return schemas.BookingPage(items=items, total=total, page=page, limit=limit)
