"""Limits on unpaid pending bookings: how long one is held, how many a customer holds.

The cap is kept in ``bookings_pending_holds``: one document per customer,
``{_id: <customer id>, n, holds: [booking ids]}``. Creating a booking takes a hold by a
``find_one_and_update`` conditioned on ``n < cap`` *inside the booking's transaction*,
so two concurrent creations (in any processes) conflict on that document and the loser
retries against the committed count: the cap holds whatever the concurrency. A booking
gives its hold back (``$pull`` + ``$inc: -1``, conditioned on the id being held, so
idempotent and never below zero) in the transaction that makes it leave unpaid
``pending``: paid, confirmed, cancelled or expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from core.context import settings_of
from core.errors import ConflictError
from core.stash import StashKey
from plugins.bookings.models import PendingHolds
from plugins.bookings.settings import BookingsSettings

if TYPE_CHECKING:
    from bson import ObjectId
    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel

DEFAULT_TTL_MINUTES = 30
DEFAULT_MAX_PENDING = 3
_GATES = StashKey[weakref.WeakValueDictionary[str, asyncio.Lock]]("bookings.customer_gates")
"""``keel.stash`` key of this process's per-customer booking locks (see :func:`gate`)."""


@dataclass(frozen=True, slots=True)
class PendingLimits:
    """The effective limits; 0 means off."""

    ttl_minutes: int
    max_per_customer: int


def resolve(settings: BookingsSettings, enabled_plugins: object) -> PendingLimits:
    """The limits from ``[plugins.bookings]``; unset values depend on payments being on.

    Args:
        settings: the plugin's settings.
        enabled_plugins: ``settings.plugins.enabled`` of the app (None when unknown).
    """
    paying = isinstance(enabled_plugins, list | tuple) and "payments" in enabled_plugins
    ttl, cap = settings.pending_ttl_minutes, settings.max_pending_per_customer
    return PendingLimits(
        ttl_minutes=(DEFAULT_TTL_MINUTES if paying else 0) if ttl is None else ttl,
        max_per_customer=(DEFAULT_MAX_PENDING if paying else 0) if cap is None else cap,
    )


def limits(keel: Keel) -> PendingLimits:
    """The effective limits of this app."""
    return resolve(settings_of(keel, BookingsSettings), keel.settings.plugins.enabled)


class PendingLimitError(ConflictError):
    """The customer already holds the most unpaid pending bookings allowed (409)."""

    def __init__(self, cap: int) -> None:
        super().__init__(
            f"you already have {cap} unpaid pending bookings, the most a customer may hold;"
            " pay for or cancel one first",
            details={"maxPendingPerCustomer": cap},
        )


def gate(keel: Keel, customer_id: ObjectId) -> asyncio.Lock:
    """This process's lock for one customer's booking creations.

    Not needed for correctness (the transaction is): it queues a customer's burst in
    this process so the cheap pre-check refuses the excess instead of every request
    fighting over the customer's holds document with conflicting transactions.
    """
    gates = keel.stash.get_or_create(_GATES, weakref.WeakValueDictionary)
    key = str(customer_id)
    lock = gates.get(key)
    if lock is None:
        lock = gates[key] = asyncio.Lock()
    return lock


async def precheck(keel: Keel, customer_id: ObjectId, cap: int) -> None:
    """Make sure the customer's holds document exists; 409 when already at the cap."""
    holds = keel.db.get_collection(PendingHolds)
    with contextlib.suppress(DuplicateKeyError):  # a concurrent first booking created it
        await holds.update_one(
            {"_id": customer_id}, {"$setOnInsert": {"n": 0, "holds": []}}, upsert=True
        )
    doc: dict[str, Any] | None = await holds.find_one({"_id": customer_id}, {"n": 1})
    if doc is not None and int(doc["n"]) >= cap:
        raise PendingLimitError(cap)


async def take(
    keel: Keel,
    customer_id: ObjectId,
    booking_id: ObjectId,
    cap: int,
    session: AsyncIOMotorClientSession,
) -> None:
    """Take one of the customer's holds for ``booking_id`` (in the booking's transaction).

    Raises:
        PendingLimitError: the customer holds ``cap`` already.
    """
    taken = await keel.db.get_collection(PendingHolds).find_one_and_update(
        {"_id": customer_id, "n": {"$lt": cap}},
        {"$inc": {"n": 1}, "$push": {"holds": booking_id}},
        session=session,
    )
    if taken is None:
        raise PendingLimitError(cap)


async def give_back(
    keel: Keel,
    customer_id: ObjectId,
    booking_id: ObjectId,
    session: AsyncIOMotorClientSession | None,
) -> None:
    """Return the hold of ``booking_id``, if it has one (idempotent)."""
    await keel.db.get_collection(PendingHolds).update_one(
        {"_id": customer_id, "holds": booking_id},
        {"$inc": {"n": -1}, "$pull": {"holds": booking_id}},
        session=session,
    )
