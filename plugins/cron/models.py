"""MongoDB collections of the cron plugin (odmantic models, for their indexes)."""

from __future__ import annotations

from datetime import datetime

import pymongo
from odmantic import Model

REPORTS = "cron_reports"


class Report(Model):
    """A stored daily report (the full document is :class:`plugins.cron.schemas.DailyReport`)."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": REPORTS,
        "indexes": lambda: [pymongo.IndexModel([("date", pymongo.DESCENDING)], unique=True)],
    }

    date: str
    tz: str
    generated_at: datetime
