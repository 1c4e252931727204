"""Background work: the daily reminders job and the ``payment.completed`` listener.

The expiry of unpaid pending bookings is in :mod:`plugins.bookings._expiry`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ASCENDING

from core.context import settings_of
from plugins.bookings._docs import booking_snapshot
from plugins.bookings._pending import give_back
from plugins.bookings._slots import in_transaction
from plugins.bookings.events import BookingReminderDue
from plugins.bookings.models import Booking, ReminderMarker, utcnow
from plugins.bookings.settings import BookingsSettings

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel

log = logging.getLogger("plugins.bookings")
_REMINDER_NS = uuid.UUID("6f1c3a52-4d1e-4f0e-9a55-0b8b7c1d2e3f")
MARKER_TTL = timedelta(days=14)


def reminder_event_id(booking_id: str, day: date) -> str:
    """The fixed event id of one booking's reminder for ``day``.

    A retried job that re-emits a reminder uses the same id, so durable listeners
    (deduplicated per event id) still handle it once.
    """
    return uuid.uuid5(_REMINDER_NS, f"{booking_id}:{day.isoformat()}").hex


def _day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


async def send_reminders(ctx: dict[str, Any], *, day: str | None = None) -> int:
    """The ``bookings.send_reminders`` job: emit ``booking.reminder_due`` once per booking.

    Covers the confirmed bookings starting on ``day`` (ISO date; default: today in
    ``[plugins.bookings] reminder_timezone``). A marker per booking and day
    (``bookings_reminders``) skips bookings already reminded when the job is retried.

    Returns:
        How many reminders were emitted by this run.
    """
    keel: Keel = ctx["keel"]
    settings = settings_of(keel, BookingsSettings)
    tz = ZoneInfo(settings.reminder_timezone)
    target = date.fromisoformat(day) if day else datetime.now(tz).date()
    start, end = _day_window(target, tz)
    bookings = keel.db.get_collection(Booking)
    markers = keel.db.get_collection(ReminderMarker)
    query = {"status": "confirmed", "start": {"$gte": start, "$lt": end}}
    emitted = 0
    async for doc in bookings.find(query).sort("start", ASCENDING):
        marker = f"{doc['_id']}:{target.isoformat()}"
        if await markers.find_one({"_id": marker}, {"_id": 1}):
            continue
        snapshot = booking_snapshot(doc)
        event_id = reminder_event_id(snapshot.id, target)
        await keel.events.emit(BookingReminderDue(id=event_id, booking=snapshot, day=target))
        await markers.update_one(
            {"_id": marker}, {"$setOnInsert": {"expires_at": utcnow() + MARKER_TTL}}, upsert=True
        )
        emitted += 1
    log.info("bookings: %d reminder(s) for %s", emitted, target.isoformat())
    return emitted


async def on_payment_completed(keel: Keel, event: Any) -> None:
    """Mark the booking of a ``payment.completed`` event paid (idempotent).

    Subscribed by name, so bookings runs without the payments plugin; the event's
    ``booking_id`` and ``payment_id`` fields are read as published by payments.
    """
    booking_id = str(getattr(event, "booking_id", ""))
    payment_id = getattr(event, "payment_id", None)
    if not ObjectId.is_valid(booking_id):
        log.warning("bookings: payment.completed %s names no booking", getattr(event, "id", "?"))
        return
    bookings = keel.db.get_collection(Booking)
    fields = {"paid": True, "payment_id": None if payment_id is None else str(payment_id)}

    async def work(session: AsyncIOMotorClientSession) -> dict[str, Any] | None:
        # A paid booking no longer counts against the customer's pending cap, and can
        # no longer expire (the expiry's filter requires ``paid: false``).
        doc: dict[str, Any] | None = await bookings.find_one_and_update(
            {"_id": ObjectId(booking_id)}, {"$set": fields}, session=session
        )
        if doc is not None:
            await give_back(keel, doc["customer_id"], doc["_id"], session)
        return doc

    if await in_transaction(keel, work) is None:
        log.warning("bookings: payment.completed for unknown booking %s", booking_id)
