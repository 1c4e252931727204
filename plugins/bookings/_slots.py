"""Availability checks and slot claims: how overlapping bookings are made impossible.

Every booking covers whole 5-minute slots (starts are aligned to 5 minutes, durations
are multiples of 5), so two bookings of a provider overlap exactly when they share a
slot. A booking claims each of its slots by inserting ``<provider>:<epoch minute>`` as
an ``_id`` into ``bookings_slot_claims`` in the same transaction as the booking itself:
the unique ``_id`` index lets one transaction win each slot, whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from core.errors import ConflictError, UnprocessableError
from core.stash import StashKey
from plugins.bookings import schemas
from plugins.bookings._pending import PendingLimitError, take
from plugins.bookings.models import Booking, SlotClaim

if TYPE_CHECKING:
    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel
    from core.events import Event

SLOT_MINUTES = 5
"""Granularity of slot claims; fixed, because existing claims are keyed by it."""
DUPLICATE_KEY = 11000
TXN_ATTEMPTS = 8
T = TypeVar("T")
_GATES = StashKey[weakref.WeakValueDictionary[str, asyncio.Lock]]("bookings.gates")
"""``keel.stash`` key of this process's slot locks, by first slot key (see :func:`_gate`)."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; 422 when unknown (the schema checks only its shape)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America", a folder
        raise UnprocessableError(
            f"unknown time zone {name!r}", details={"timezone": name}
        ) from None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def check_availability(availability: schemas.Availability) -> None:
    """Each weekday's ranges must have start < end; 422 naming the first bad one."""
    for day, ranges in availability.items():
        for r in ranges:
            if _minutes(r.start) >= _minutes(r.end):
                raise UnprocessableError(
                    f"availability.{day}: start {r.start} must be before end {r.end}",
                    details={"day": day, "start": r.start, "end": r.end},
                )


def fits(availability: dict[str, Any], tz: str, start: datetime, end: datetime) -> bool:
    """Whether ``[start, end)`` lies inside the opening hours, in local wall-clock time.

    Ranges that touch (``…-24:00`` and the next day's ``00:00-…``, or ``09:00-12:00``
    and ``12:00-…``) count as one, so a booking may run across them.
    """
    zoneinfo = ZoneInfo(tz)
    local, local_end = start.astimezone(zoneinfo), end.astimezone(zoneinfo)
    days = (local_end.date() - local.date()).days
    begin = local.hour * 60 + local.minute
    finish = days * 1440 + local_end.hour * 60 + local_end.minute
    spans = sorted(
        (offset * 1440 + _minutes(r["start"]), offset * 1440 + _minutes(r["end"]))
        for offset in range(days + 1)
        for r in availability.get(
            schemas.WEEKDAYS[(local.date() + timedelta(days=offset)).weekday()], []
        )
    )
    merged_start, merged_end = -1, -1
    for span_start, span_end in spans:
        if span_start > merged_end:  # a gap: a new merged span begins
            merged_start, merged_end = span_start, span_end
        merged_end = max(merged_end, span_end)
        if merged_start <= begin and finish <= merged_end:
            return True
    return False


def is_aligned(start: datetime) -> bool:
    """Whether ``start`` is on a 5-minute boundary (whole minutes, UTC epoch)."""
    return start.second == 0 and start.microsecond == 0 and start.minute % SLOT_MINUTES == 0


def slot_keys(provider_id: ObjectId, start: datetime, end: datetime) -> list[str]:
    """The claim ids of every slot in ``[start, end)``, in ascending order."""
    first = int(start.timestamp()) // 60
    last = int(end.timestamp()) // 60
    return [f"{provider_id}:{m}" for m in range(first, last, SLOT_MINUTES)]


def _is_duplicate(exc: OperationFailure) -> bool:
    if isinstance(exc, DuplicateKeyError) or exc.code == DUPLICATE_KEY:
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", []))
    return False


async def in_transaction(
    keel: Keel, work: Callable[[AsyncIOMotorClientSession], Awaitable[T]]
) -> T:
    """Run ``work(session)`` in a transaction, retrying write conflicts with backoff.

    Raises:
        ConflictError: still conflicting after :data:`TXN_ATTEMPTS` attempts.
        OperationFailure: anything else (including duplicate keys) from ``work``.
    """
    for attempt in range(TXN_ATTEMPTS):
        async with await keel.mongo.start_session() as session:
            try:
                # events emitted with the session reach inline listeners once committed
                async with keel.events.staged(session), session.start_transaction():
                    return await work(session)
            except OperationFailure as exc:
                if _is_duplicate(exc) or not exc.has_error_label("TransientTransactionError"):
                    raise
        await asyncio.sleep(random.uniform(0, 0.004 * 2**attempt))  # noqa: S311 - jitter
    raise ConflictError("too much contention; try again")


async def claim(
    keel: Keel,
    booking: dict[str, Any],
    keys: list[str],
    *,
    event: Event | None = None,
    max_pending: int = 0,
) -> None:
    """Insert ``booking`` and claim its slots atomically, emitting ``event`` in the same
    transaction (its outbox entry commits with the booking).

    With ``max_pending`` > 0 the same transaction takes one of the customer's pending
    holds (:mod:`plugins.bookings._pending`).

    Raises:
        ConflictError: a slot is held by another active booking of the provider.
        PendingLimitError: the customer already holds ``max_pending`` unpaid bookings.
    """
    claims = keel.db.get_collection(SlotClaim)
    bookings = keel.db.get_collection(Booking)
    expires = booking["end"] + timedelta(days=1)
    docs = [{"_id": k, "booking_id": booking["_id"], "expires_at": expires} for k in keys]
    taken = ConflictError(
        "the slot is already booked",
        details={"start": booking["start"].isoformat(), "end": booking["end"].isoformat()},
    )

    async def work(session: AsyncIOMotorClientSession) -> None:
        if max_pending:
            await take(keel, booking["customer_id"], booking["_id"], max_pending, session)
        await claims.insert_many(docs, ordered=True, session=session)
        await bookings.insert_one(booking, session=session)
        if event is not None:
            await keel.events.emit(event, session=session)

    async with _gate(keel, keys[0]):
        if await claims.find_one({"_id": {"$in": keys}}, {"_id": 1}):
            raise taken
        try:
            await in_transaction(keel, work)
        except OperationFailure as exc:
            if _is_duplicate(exc):
                raise taken from None
            raise
        except PendingLimitError:
            raise
        except ConflictError:
            raise taken from None


def _gate(keel: Keel, key: str) -> asyncio.Lock:
    """This process's lock for bookings starting at slot ``key``.

    Not needed for correctness (the unique claims are): it queues a burst of requests
    for one slot in this process, so one transaction runs and the rest are refused by
    the cheap pre-check instead of piling up write conflicts in the database.
    """
    gates = keel.stash.get_or_create(_GATES, weakref.WeakValueDictionary)
    gate = gates.get(key)
    if gate is None:
        gate = gates[key] = asyncio.Lock()
    return gate


async def release(keel: Keel, booking_id: ObjectId, session: AsyncIOMotorClientSession) -> None:
    """Delete the slot claims of ``booking_id`` (in the caller's transaction)."""
    await keel.db.get_collection(SlotClaim).delete_many({"booking_id": booking_id}, session=session)


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)
