"""Response Structs of the cron plugin's routes (and the stored daily report).

The wire spells every field in camelCase (``rename="camel"``); the stored report keeps
the Python names (see :func:`plugins.cron.report.store_report`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class BookingCounts(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Bookings created on the day."""

    total: int
    by_status: dict[str, int]


class ReviewStats(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Reviews written on the day."""

    count: int
    average_rating: float | None


class PaymentTotal(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Payments of one status and currency created on the day."""

    status: str
    currency: str
    count: int
    amount: int | float


class PaymentStats(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Payments created on the day."""

    count: int
    totals: list[PaymentTotal]


class DailyReport(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One day's activity (``cron.daily_report``); a plugin that is off counts as zero."""

    date: str
    tz: str
    start: datetime
    end: datetime
    generated_at: datetime
    new_users: int
    bookings: BookingCounts
    reviews: ReviewStats
    payments: PaymentStats
    figures: dict[str, Any] = msgspec.field(default_factory=dict)
    """Figures of other plugins (``report_figures``), by name (camelCase on the wire)."""


class ReportPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A page of daily reports, newest day first."""

    items: list[DailyReport]
    page: int
    limit: int
    total: int


class RunInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One run of a schedule's job."""

    job_key: str
    trigger: str
    tick: datetime | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None = msgspec.field(name="durationSeconds")
    outcome: str
    error: str | None
    result: str | None
    attempt: int
    worker: str


class JobInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One schedule of an enabled plugin, as an operator sees it."""

    name: str
    plugin: str
    job: str
    cron: str
    tz: str
    enabled: bool
    paused: bool
    misfire: str
    next_run: datetime | None
    last_run: RunInfo | None


class JobList(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Every schedule."""

    items: list[JobInfo]


class RunPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A page of a schedule's runs, newest first."""

    items: list[RunInfo]
    page: int
    limit: int
    total: int


class RunRequested(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Answer of ``POST /api/cron/jobs/{name}/run``."""

    name: str
    queued: bool
    """False when a run-now of this schedule was already queued or running."""
    job_key: str
