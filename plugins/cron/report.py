"""The daily report: a day's new users, bookings, reviews and payments.

Other plugins' collections are read by name, never through their code (plugins share only
events): a collection that does not exist, because its plugin is disabled, counts as zero.
Every figure is one ``$match`` + ``$group`` aggregation, so nothing is loaded in memory.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from core.accounts.documents import utcnow
from core.context import Keel
from core.errors import NotFoundError
from plugins.cron.models import REPORTS
from plugins.cron.schemas import (
    BookingCounts,
    DailyReport,
    PaymentStats,
    PaymentTotal,
    ReportPage,
    ReviewStats,
)

USERS = "users"
BOOKINGS = "bookings_bookings"
REVIEWS = "bookings_reviews"
PAYMENTS = "payments_payments"


def _db(keel: Keel) -> Any:
    return keel.mongo[keel.settings.database.name]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start (inclusive) and end (exclusive) of ``day`` in ``tz`` (23 to 25 hours)."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def yesterday(tz: ZoneInfo) -> date:
    """The day before today in ``tz``."""
    return datetime.now(tz).date() - timedelta(days=1)


async def _group(db: Any, name: str, match: dict[str, Any], group: dict[str, Any]) -> list[Any]:
    pipeline = [{"$match": match}, {"$group": group}]
    return [row async for row in db[name].aggregate(pipeline)]


async def build_report(keel: Keel, day: date, tz: ZoneInfo) -> DailyReport:
    """Compute the report of ``day`` (midnight to midnight in ``tz``)."""
    db = _db(keel)
    start, end = day_bounds(day, tz)
    span = {"created_at": {"$gte": start, "$lt": end}}
    new_users = await db[USERS].count_documents(span)
    bookings = await _group(db, BOOKINGS, span, {"_id": "$status", "n": {"$sum": 1}})
    reviews = await _group(
        db, REVIEWS, span, {"_id": None, "n": {"$sum": 1}, "avg": {"$avg": "$rating"}}
    )
    payments = await _group(
        db,
        PAYMENTS,
        span,
        {
            "_id": {"status": "$status", "currency": "$currency"},
            "n": {"$sum": 1},
            "amount": {"$sum": "$amount"},
        },
    )
    by_status = {str(row["_id"] or "unknown"): int(row["n"]) for row in bookings}
    review: dict[str, Any] = reviews[0] if reviews else {"n": 0, "avg": None}
    totals = [
        PaymentTotal(
            status=str(row["_id"].get("status") or "unknown"),
            currency=str(row["_id"].get("currency") or "unknown"),
            count=int(row["n"]),
            amount=row["amount"] or 0,
        )
        for row in payments
    ]
    totals.sort(key=lambda t: (t.status, t.currency))
    average = review["avg"]
    return DailyReport(
        date=day.isoformat(),
        tz=str(tz.key),
        start=start,
        end=end,
        generated_at=utcnow(),
        new_users=int(new_users),
        bookings=BookingCounts(total=sum(by_status.values()), by_status=by_status),
        reviews=ReviewStats(
            count=int(review["n"]), average_rating=None if average is None else round(average, 3)
        ),
        payments=PaymentStats(count=sum(t.count for t in totals), totals=totals),
    )


async def store_report(keel: Keel, report: DailyReport) -> None:
    """Save ``report``, replacing an earlier one of the same day."""
    doc = msgspec.to_builtins(report, builtin_types=(datetime,))
    await _db(keel)[REPORTS].replace_one({"date": report.date}, doc, upsert=True)


def _decode(doc: dict[str, Any]) -> DailyReport:
    doc.pop("_id", None)
    return msgspec.convert(doc, DailyReport)


async def find_report(keel: Keel, day: date) -> DailyReport | None:
    """The stored report of ``day``, or None."""
    doc = await _db(keel)[REPORTS].find_one({"date": day.isoformat()})
    return None if doc is None else _decode(doc)


async def get_report(keel: Keel, day: date) -> DailyReport:
    """The stored report of ``day``.

    Raises:
        NotFoundError: none was made for that day.
    """
    found = await find_report(keel, day)
    if found is None:
        raise NotFoundError(f"no report for {day.isoformat()}", details={"date": day.isoformat()})
    return found


async def list_reports(keel: Keel, *, page: int, limit: int) -> ReportPage:
    """Stored reports, newest day first."""
    reports = _db(keel)[REPORTS]
    cursor = reports.find({}, sort=[("date", -1)], skip=(page - 1) * limit, limit=limit)
    items = [_decode(doc) async for doc in cursor]
    total = await reports.count_documents({})
    return ReportPage(items=items, page=page, limit=limit, total=int(total))
