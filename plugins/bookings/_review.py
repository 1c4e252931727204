"""Reviews: one per completed booking; the service's rating kept by atomic ``$inc``.

The service stores ``rating_sum`` and ``rating_count``; each review adds to both in one
``find_one_and_update`` (and a deletion subtracts), so concurrent reviews never lose an
update and the average is always ``sum / count``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.errors import ConflictError, ForbiddenError, NotFoundError
from plugins.bookings import schemas
from plugins.bookings._booking import load as load_booking
from plugins.bookings._catalog import load as load_service
from plugins.bookings._docs import ListQuery, average, parse_id, review_snapshot, service_snapshot
from plugins.bookings.events import ReviewCreated, ReviewDeleted, ServiceUpdated
from plugins.bookings.models import Review, Service, utcnow

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.api import CurrentUser


async def _rate(
    keel: Keel, service_id: ObjectId, rating: int, count: int, by: str
) -> tuple[float, int]:
    """Add ``rating`` (and ``count``) to the service; emits ``service.updated``."""
    doc: dict[str, Any] | None = await keel.db.get_collection(Service).find_one_and_update(
        {"_id": service_id},
        {"$inc": {"rating_sum": rating, "rating_count": count, "revision": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:  # the service was deleted meanwhile
        return 0.0, 0
    await keel.events.emit(
        ServiceUpdated(service=service_snapshot(doc), changed=["rating"], updated_by=by)
    )
    return average(doc["rating_sum"], doc["rating_count"]), doc["rating_count"]


async def create_review(
    keel: Keel, caller: CurrentUser, booking_id: str, data: schemas.ReviewCreate
) -> schemas.Review:
    """The booking's customer reviews it once it is completed; emits ``review.created``.

    Raises:
        NotFoundError: no such booking, or not the caller's.
        ForbiddenError: the caller is the provider or an admin, not the customer.
        ConflictError: the booking is not completed, or was already reviewed.
    """
    booking = await load_booking(keel, caller, booking_id)
    if str(booking["customer_id"]) != caller.id:
        raise ForbiddenError("only the booking's customer can review it")
    if booking["status"] != "completed":
        raise ConflictError(
            f"booking is {booking['status']}; only completed bookings can be reviewed",
            details={"status": booking["status"]},
        )
    doc = Review(
        id=ObjectId(),
        booking_id=booking["_id"],
        service_id=booking["service_id"],
        service_name=booking["service_name"],
        provider_id=booking["provider_id"],
        customer_id=booking["customer_id"],
        rating=data.rating,
        comment=data.comment,
        created_at=utcnow(),
    ).model_dump_doc()
    try:
        await keel.db.get_collection(Review).insert_one(doc)
    except DuplicateKeyError:
        raise ConflictError(
            "booking was already reviewed", details={"bookingId": booking_id}
        ) from None
    avg, count = await _rate(keel, booking["service_id"], data.rating, 1, caller.id)
    snapshot = review_snapshot(doc)
    await keel.events.emit(ReviewCreated(review=snapshot, rating_average=avg, rating_count=count))
    return schemas.Review.of(snapshot)


def reviews_query(service_id: ObjectId) -> ListQuery:
    """A service's reviews, newest first."""
    order = [("created_at", DESCENDING), ("_id", DESCENDING)]
    return ListQuery({"service_id": service_id}, order, [("service_id", ASCENDING), *order])


async def list_reviews(
    keel: Keel, caller: CurrentUser | None, service_id: str, *, page: int, limit: int
) -> schemas.ReviewPage:
    """A page of a service's reviews, newest first (404 for an unknown service)."""
    service = await load_service(keel, parse_id(service_id, "service"), caller)
    docs, total = await reviews_query(service["_id"]).page(
        keel.db.get_collection(Review), page, limit, max_ms=keel.settings.database.timeout_ms
    )
    items = [schemas.Review.of(review_snapshot(d)) for d in docs]
    return schemas.ReviewPage(items=items, total=total, page=page, limit=limit)


async def delete_review(keel: Keel, caller: CurrentUser, review_id: str) -> None:
    """Delete a review (its author or an admin) and correct the service's rating.

    Raises:
        NotFoundError: no such review.
        ForbiddenError: the caller is neither its author nor an admin.
    """
    oid = parse_id(review_id, "review")
    reviews = keel.db.get_collection(Review)
    doc = await reviews.find_one({"_id": oid})
    if doc is None:
        raise NotFoundError("review not found", details={"id": review_id})
    if not (caller.is_admin or str(doc["customer_id"]) == caller.id):
        raise ForbiddenError("only the review's author or an admin may delete it")
    if await reviews.find_one_and_delete({"_id": oid}) is None:  # deleted concurrently
        raise NotFoundError("review not found", details={"id": review_id})
    avg, count = await _rate(keel, doc["service_id"], -doc["rating"], -1, caller.id)
    await keel.events.emit(
        ReviewDeleted(
            review=review_snapshot(doc),
            deleted_by=caller.id,
            rating_average=avg,
            rating_count=count,
        )
    )
