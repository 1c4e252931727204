"""Making two test users contacts, as a booking of theirs does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from _realtime_helpers import BookingRef
from bson import ObjectId

from plugins.realtime.contacts import record_booking

if TYPE_CHECKING:
    from core.context import Keel


async def befriend(keel: Keel, customer_id: str, provider_id: str) -> None:
    """Project a booking of the two (what realtime's ``booking.created`` listener does)."""
    booking = BookingRef(id=str(ObjectId()), customer_id=customer_id, provider_id=provider_id)
    await record_booking(keel, booking)
