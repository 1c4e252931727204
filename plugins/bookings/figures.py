"""The bookings plugin's figures for the cron plugin's daily report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.context import Keel
from plugins.bookings.models import Booking, Review


async def report_figures(keel: Keel, start: datetime, end: datetime) -> dict[str, Any]:
    """Bookings made in ``[start, end)`` by status, and reviews written (with their mean)."""
    span = {"created_at": {"$gte": start, "$lt": end}}
    bookings = keel.db.get_collection(Booking).aggregate(
        [{"$match": span}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
    )
    by_status = {str(row["_id"] or "unknown"): int(row["n"]) async for row in bookings}
    reviews = keel.db.get_collection(Review).aggregate(
        [{"$match": span}, {"$group": {"_id": None, "n": {"$sum": 1}, "avg": {"$avg": "$rating"}}}]
    )
    found = [row async for row in reviews]
    count, average = (int(found[0]["n"]), found[0]["avg"]) if found else (0, None)
    return {
        "bookings": {"total": sum(by_status.values()), "by_status": by_status},
        "reviews": {
            "count": count,
            "average_rating": None if average is None else round(average, 3),
        },
    }
