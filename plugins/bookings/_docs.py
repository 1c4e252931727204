"""Raw MongoDB documents to API views and event snapshots, and small shared helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from bson import ObjectId

from core.errors import BadRequestError, NotFoundError
from plugins.bookings import schemas
from plugins.bookings.events import BookingSnapshot, ReviewSnapshot, ServiceSnapshot


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One listing: its filter, its sort order, and the declared index that serves both.

    ``index`` (the equality fields, then the sort fields) is what MongoDB walks to return
    a page without sorting; it is documentation and test input, not sent as a ``hint``
    (SecantusDB answers a hinted query by walking the whole index).
    """

    filter: dict[str, Any]
    sort: list[tuple[str, int]]
    index: list[tuple[str, int]]

    async def page(
        self, collection: Any, page: int, limit: int, *, max_ms: int
    ) -> tuple[list[Any], int]:
        """The documents of page ``page`` and the total count.

        ``max_ms`` bounds each query on the server too, so a listing the client gave up
        on (a 503 after ``[database] timeout_ms``) does not keep the database busy.
        """
        cursor = collection.find(self.filter).sort(self.sort).max_time_ms(max_ms)
        docs = await cursor.skip((page - 1) * limit).limit(limit).to_list(limit)
        if self.filter:
            total = await collection.count_documents(self.filter, maxTimeMS=max_ms)
        else:  # every document: the collection's count from its metadata
            total = await collection.estimated_document_count(maxTimeMS=max_ms)
        return docs, int(total)


def aware(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC (MongoDB stores UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def average(rating_sum: int, rating_count: int) -> float:
    """The mean rating, two decimals; 0.0 without reviews."""
    return round(rating_sum / rating_count, 2) if rating_count > 0 else 0.0


def object_id(value: str | None, *, field: str) -> ObjectId | None:
    """A query parameter as an ObjectId (None stays None); 400 when malformed."""
    if value is None:
        return None
    if not ObjectId.is_valid(value) or len(value) != 24:  # noqa: PLR2004
        raise BadRequestError(f"{field} must be a 24-character hex id", details={field: value})
    return ObjectId(value)


def parse_id(value: str, what: str) -> ObjectId:
    """A path id as an ObjectId; 404 naming ``what`` when it cannot be one."""
    if len(value) != 24 or not ObjectId.is_valid(value):  # noqa: PLR2004
        raise NotFoundError(f"{what} not found", details={"id": value[:64]})
    return ObjectId(value)


def service_snapshot(doc: dict[str, Any]) -> ServiceSnapshot:
    """The event snapshot of a service document."""
    return ServiceSnapshot(
        id=str(doc["_id"]),
        provider_id=str(doc["provider_id"]),
        name=doc["name"],
        description=doc["description"],
        category=doc["category"],
        price=doc["price"],
        currency=doc["currency"],
        duration_minutes=doc["duration_minutes"],
        active=doc["active"],
        images=list(doc["images"]),
        timezone=doc["timezone"],
        rating_average=average(doc["rating_sum"], doc["rating_count"]),
        rating_count=doc["rating_count"],
        revision=doc["revision"],
        created_at=aware(doc["created_at"]),
        updated_at=aware(doc["updated_at"]),
    )


def service_view(doc: dict[str, Any]) -> schemas.Service:
    """The API view of a service document."""
    snap = service_snapshot(doc)
    fields = msgspec.structs.asdict(snap)
    del fields["revision"]
    availability = msgspec.convert(doc["availability"], schemas.Availability)
    return schemas.Service(**fields, availability=availability)


def booking_snapshot(doc: dict[str, Any]) -> BookingSnapshot:
    """The event snapshot (and API view) of a booking document."""
    return BookingSnapshot(
        id=str(doc["_id"]),
        service_id=str(doc["service_id"]),
        service_name=doc["service_name"],
        provider_id=str(doc["provider_id"]),
        customer_id=str(doc["customer_id"]),
        start=aware(doc["start"]),
        end=aware(doc["end"]),
        timezone=doc["timezone"],
        status=doc["status"],
        price=doc["price"],
        currency=doc["currency"],
        paid=doc["paid"],
        payment_id=doc.get("payment_id"),
        notes=doc["notes"],
        cancel_reason=doc.get("cancel_reason"),
        cancelled_by=doc.get("cancelled_by"),
        created_at=aware(doc["created_at"]),
        updated_at=aware(doc["updated_at"]),
    )


def review_snapshot(doc: dict[str, Any]) -> ReviewSnapshot:
    """The event snapshot (and API view) of a review document."""
    return ReviewSnapshot(
        id=str(doc["_id"]),
        booking_id=str(doc["booking_id"]),
        service_id=str(doc["service_id"]),
        service_name=doc["service_name"],
        provider_id=str(doc["provider_id"]),
        customer_id=str(doc["customer_id"]),
        rating=doc["rating"],
        comment=doc["comment"],
        created_at=aware(doc["created_at"]),
    )
