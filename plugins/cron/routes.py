"""``/api/cron``: schedules (list, run now, pause, resume, history) and daily reports.

Admins only. Thin handlers: parse, call :mod:`plugins.cron.operator` or
:mod:`plugins.cron.report`, answer.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery

from core.http import KeelDep
from core.pagination import Limit, Page
from plugins.accounts.api import SECURITY, admin_only
from plugins.cron import operator, report
from plugins.cron.schemas import (
    DailyReport,
    JobInfo,
    JobList,
    ReportPage,
    RunPage,
    RunRequested,
)

Outcome = Literal["running", "success", "failed", "skipped", "aborted"]


class CronController(Controller):
    """The operator's view of every plugin's schedules, and the daily reports."""

    path = "/cron"
    guards = [admin_only]  # noqa: RUF012 - Litestar's declaration style
    security = SECURITY

    @get("/jobs")
    async def list_jobs(self, keel: KeelDep) -> JobList:
        """Every schedule: cron, time zone, next run, last run, paused."""
        return await operator.list_jobs(keel)

    @post("/jobs/{name:str}/run", status_code=202)
    async def run_job(self, keel: KeelDep, name: FromPath[str]) -> RunRequested:
        """Run the schedule's job once, now, on one worker (paused or not)."""
        return await operator.run_now(keel, name)

    @post("/jobs/{name:str}/pause", status_code=200)
    async def pause_job(self, keel: KeelDep, name: FromPath[str]) -> JobInfo:
        """Stop firing the schedule in every process, until resumed (survives restarts)."""
        return await operator.pause(keel, name)

    @post("/jobs/{name:str}/resume", status_code=200)
    async def resume_job(self, keel: KeelDep, name: FromPath[str]) -> JobInfo:
        """Fire the schedule again from its next tick on."""
        return await operator.resume(keel, name)

    @get("/jobs/{name:str}/history")
    async def job_history(
        self,
        keel: KeelDep,
        name: FromPath[str],
        page: Page = 1,
        limit: Limit = 20,
        outcome: FromQuery[Outcome | None] = None,
    ) -> RunPage:
        """The schedule's runs, newest first."""
        return await operator.history(keel, name, page=page, limit=limit, outcome=outcome)

    @get("/reports")
    async def list_reports(
        self, keel: KeelDep, page: Page = 1, limit: Limit = 20, date: FromQuery[date | None] = None
    ) -> ReportPage:
        """Daily reports, newest first; ``date=YYYY-MM-DD`` narrows to that day's."""
        if date is None:
            return await report.list_reports(keel, page=page, limit=limit)
        found = await report.find_report(keel, date)
        items = [] if found is None else [found]
        return ReportPage(items=items, page=1, limit=limit, total=len(items))

    @get("/reports/{day:date}")
    async def get_report(self, keel: KeelDep, day: FromPath[date]) -> DailyReport:
        """The report of one day (404 when none was made)."""
        return await report.get_report(keel, day)
