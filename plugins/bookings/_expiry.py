"""The ``bookings.expire_pending`` job: unpaid pending bookings past their TTL are cancelled.

Each expiry is one transaction: a ``find_one_and_update`` conditioned on
``status: pending, paid: false`` and the creation time, the release of the booking's
slot claims and the return of the customer's pending hold. A payment recorded before it
(``paid: true``) makes the filter miss, so a paid booking is never expired; a run that
is repeated or overlaps another finds nothing left to do. Then ``booking.cancelled`` is
emitted with ``reason="expired"`` and ``cancelled_by`` / ``cancelled_by_role`` ``"system"``,
so notifications tell both parties and payments voids an open intent, as for any
cancellation.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, ReturnDocument

from plugins.bookings._docs import booking_snapshot
from plugins.bookings._pending import give_back, limits
from plugins.bookings._slots import in_transaction, release
from plugins.bookings.events import BookingCancelled
from plugins.bookings.models import Booking, utcnow

if TYPE_CHECKING:
    from bson import ObjectId
    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel

log = logging.getLogger("plugins.bookings")
EXPIRED_REASON = "expired"
SYSTEM = "system"
BATCH = 100
MAX_BATCHES = 20
"""A run expires at most ``BATCH * MAX_BATCHES`` bookings; the next tick takes the rest."""


def _expired(cutoff: datetime) -> dict[str, Any]:
    return {"status": "pending", "paid": False, "created_at": {"$lte": cutoff}}


async def expire_one(keel: Keel, booking_id: ObjectId, cutoff: datetime) -> bool:
    """Expire one booking if it is still unpaid, pending and created before ``cutoff``.

    Returns:
        Whether this call expired it (and emitted ``booking.cancelled``).
    """
    bookings = keel.db.get_collection(Booking)
    changes = {
        "status": "cancelled",
        "cancel_reason": EXPIRED_REASON,
        "cancelled_by": SYSTEM,
        "updated_at": utcnow(),
    }

    async def work(session: AsyncIOMotorClientSession) -> dict[str, Any] | None:
        before: dict[str, Any] | None = await bookings.find_one_and_update(
            {"_id": booking_id, **_expired(cutoff)},
            {"$set": changes},
            return_document=ReturnDocument.BEFORE,
            session=session,
        )
        if before is not None:
            await release(keel, before["_id"], session)
            await give_back(keel, before["customer_id"], before["_id"], session)
            event = BookingCancelled(
                booking=booking_snapshot({**before, **changes}),
                previous_status="pending",
                reason=EXPIRED_REASON,
                cancelled_by=SYSTEM,
                cancelled_by_role="system",
            )
            await keel.events.emit(event, session=session)
        return before

    return await in_transaction(keel, work) is not None


async def expire_pending(ctx: dict[str, Any], *, batch: int = BATCH) -> int:
    """The ``bookings.expire_pending`` job: expire unpaid pending bookings past the TTL.

    ``[plugins.bookings] pending_ttl_minutes`` (see the settings) sets the TTL; off,
    the job does nothing. Bookings are taken oldest first, ``batch`` at a time.

    Returns:
        How many bookings this run expired.
    """
    keel: Keel = ctx["keel"]
    ttl = limits(keel).ttl_minutes
    if not ttl:
        return 0
    cutoff = utcnow() - timedelta(minutes=ttl)
    bookings = keel.db.get_collection(Booking)
    expired = 0
    for _ in range(MAX_BATCHES):
        cursor = bookings.find(_expired(cutoff), {"_id": 1}).sort("created_at", ASCENDING)
        docs = await cursor.limit(batch).to_list(batch)
        for doc in docs:
            expired += await expire_one(keel, doc["_id"], cutoff)
        if len(docs) < batch:
            break
    if expired:
        log.info("bookings: expired %d unpaid pending booking(s)", expired)
    return expired
