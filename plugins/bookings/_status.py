"""The booking status machine, with atomic conditional updates.

``pending`` → ``confirmed`` (provider) → ``completed`` (provider, after the end);
``pending|confirmed`` → ``cancelled`` (customer or provider, with a reason). Each
transition is one ``find_one_and_update`` conditioned on the current status, so of two
concurrent confirms exactly one matches; the other sees the new status and gets a 409.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pymongo import ReturnDocument

from core.errors import ConflictError, ForbiddenError, NotFoundError
from plugins.bookings import schemas
from plugins.bookings._booking import ACTIVE, load
from plugins.bookings._docs import aware, booking_snapshot
from plugins.bookings._pending import give_back
from plugins.bookings._slots import in_transaction, now, release
from plugins.bookings.events import (
    ActorRole,
    BookingCancelled,
    BookingStatus,
    BookingUpdated,
)
from plugins.bookings.models import Booking, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from motor.motor_asyncio import AsyncIOMotorClientSession

    from core.context import Keel
    from core.events import Event
    from plugins.accounts.api import CurrentUser

Action = Literal["confirm", "complete", "cancel"]
_FROM: dict[Action, tuple[BookingStatus, ...]] = {
    "confirm": ("pending",),
    "complete": ("confirmed",),
    "cancel": ACTIVE,
}
_TO: dict[Action, BookingStatus] = {
    "confirm": "confirmed",
    "complete": "completed",
    "cancel": "cancelled",
}


def _actor(doc: dict[str, Any], caller: CurrentUser) -> ActorRole:
    if str(doc["customer_id"]) == caller.id:
        return "customer"
    if str(doc["provider_id"]) == caller.id:
        return "provider"
    return "admin"


def _refuse(doc: dict[str, Any], action: Action) -> ConflictError:
    """The 409 for ``action`` on ``doc`` as it is now."""
    status = doc["status"]
    if status in _FROM[action]:  # only `complete` gets here with a valid status
        end = aware(doc["end"]).isoformat()
        return ConflictError(
            f"booking cannot be completed before it ends ({end})",
            details={"status": status, "end": end},
        )
    return ConflictError(
        f"booking is {status}; cannot {action} it",
        details={"status": status, "action": action},
    )


async def transition(
    keel: Keel, caller: CurrentUser, booking_id: str, action: Action, reason: str = ""
) -> schemas.Booking:
    """Apply ``action`` to a booking and emit ``booking.updated`` or ``booking.cancelled``.

    Raises:
        NotFoundError: no such booking, or not the caller's.
        ForbiddenError: the caller's role in the booking may not do ``action``.
        ConflictError: the current status does not allow ``action`` (named in the error).
    """
    doc = await load(keel, caller, booking_id)
    actor = _actor(doc, caller)
    if action != "cancel" and actor == "customer":
        raise ForbiddenError(f"only the provider can {action} a booking")
    condition: dict[str, Any] = {"_id": doc["_id"], "status": {"$in": list(_FROM[action])}}
    changes: dict[str, Any] = {"status": _TO[action], "updated_at": utcnow()}
    if action == "complete":
        condition["end"] = {"$lte": now()}
    if action == "cancel":
        changes |= {"cancel_reason": reason, "cancelled_by": caller.id}

    def event_of(updated: dict[str, Any]) -> BookingCancelled | BookingUpdated:
        snapshot = booking_snapshot({**updated, **changes})
        if action == "cancel":
            return BookingCancelled(
                booking=snapshot,
                previous_status=updated["status"],
                reason=reason,
                cancelled_by=caller.id,
                cancelled_by_role=actor,
            )
        return BookingUpdated(
            booking=snapshot,
            previous_status=updated["status"],
            changed_by=caller.id,
            changed_by_role=actor,
        )

    updated = await _apply(keel, condition, changes, event_of, release_slots=action == "cancel")
    if updated is None:
        current = await keel.db.get_collection(Booking).find_one({"_id": doc["_id"]})
        if current is None:
            raise NotFoundError("booking not found", details={"id": booking_id})
        raise _refuse(current, action)
    return schemas.Booking.of(booking_snapshot({**updated, **changes}))


async def _apply(
    keel: Keel,
    condition: dict[str, Any],
    changes: dict[str, Any],
    event_of: Callable[[dict[str, Any]], Event],
    *,
    release_slots: bool,
) -> dict[str, Any] | None:
    """The conditional update, in one transaction with what it frees and its event.

    A cancellation frees the slots; leaving ``pending`` (confirm, cancel) gives back the
    customer's pending hold (:mod:`plugins.bookings._pending`); ``event_of(before)`` is
    emitted in the transaction (its outbox entry commits with the change).

    Returns:
        The document as it was *before* the update, or None when ``condition`` matched
        nothing.
    """
    bookings = keel.db.get_collection(Booking)

    async def work(session: AsyncIOMotorClientSession) -> dict[str, Any] | None:
        updated: dict[str, Any] | None = await bookings.find_one_and_update(
            condition,
            {"$set": changes},
            return_document=ReturnDocument.BEFORE,
            session=session,
        )
        if updated is None:
            return None
        if release_slots:
            await release(keel, updated["_id"], session)
        if updated["status"] == "pending":
            await give_back(keel, updated["customer_id"], updated["_id"], session)
        await keel.events.emit(event_of(updated), session=session)
        return updated

    return await in_transaction(keel, work)
