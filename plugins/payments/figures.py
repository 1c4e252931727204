"""The payments plugin's figures for the cron plugin's daily report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.context import Keel
from plugins.payments.models import Payment


async def report_figures(keel: Keel, start: datetime, end: datetime) -> dict[str, Any]:
    """Payments created in ``[start, end)``: count and amount by status and currency."""
    group = {
        "_id": {"status": "$status", "currency": "$currency"},
        "n": {"$sum": 1},
        "amount": {"$sum": "$amount"},
    }
    rows = keel.db.get_collection(Payment).aggregate(
        [{"$match": {"created_at": {"$gte": start, "$lt": end}}}, {"$group": group}]
    )
    totals = sorted(
        [
            {
                "status": str(row["_id"].get("status") or "unknown"),
                "currency": str(row["_id"].get("currency") or "unknown"),
                "count": int(row["n"]),
                "amount": row["amount"] or 0,
            }
            async for row in rows
        ],
        key=lambda t: (t["status"], t["currency"]),
    )
    return {"payments": {"count": sum(t["count"] for t in totals), "totals": totals}}
