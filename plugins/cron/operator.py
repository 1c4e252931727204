"""The operator's view of every schedule: list, run now, pause, resume, history.

Shared by the routes and the ``keel cron`` commands; no Litestar imports.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.context import Keel
from core.errors import NotFoundError
from core.runtime import get_scheduler
from core.schedule_runs import ScheduleRun, last_runs, run_history
from core.scheduler import ScheduleEntry
from plugins.cron.schemas import JobInfo, JobList, RunInfo, RunPage, RunRequested


def run_info(run: ScheduleRun) -> RunInfo:
    """The API shape of a recorded run."""
    return RunInfo(
        job_key=run.job_key,
        trigger=run.trigger,
        tick=run.tick,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        outcome=run.outcome,
        error=run.error,
        result=run.result,
        attempt=run.attempt,
        worker=run.worker,
    )


def _job_info(
    entry: ScheduleEntry, *, paused: bool, last: ScheduleRun | None, now: datetime
) -> JobInfo:
    return JobInfo(
        name=entry.name,
        plugin=entry.plugin,
        job=entry.job,
        cron=entry.cron,
        tz=entry.tz.key,
        enabled=entry.enabled,
        paused=paused,
        misfire=entry.misfire,
        next_run=entry.next_after(now).astimezone(UTC) if entry.enabled else None,
        last_run=None if last is None else run_info(last),
    )


async def list_jobs(keel: Keel, names: list[str] | None = None) -> JobList:
    """Every schedule of every enabled plugin (or those in ``names``), by name.

    Raises:
        NotFoundError: a name in ``names`` is no schedule.
    """
    scheduler = get_scheduler(keel)
    wanted = sorted(scheduler.entries) if names is None else names
    paused = await asyncio.gather(*(scheduler.is_paused(n) for n in wanted))
    last = await last_runs(keel, wanted)
    now = datetime.now(UTC)
    items = [
        _job_info(scheduler.entries[n], paused=p, last=last[n], now=now)
        for n, p in zip(wanted, paused, strict=True)
    ]
    return JobList(items=items)


async def job_info(keel: Keel, name: str) -> JobInfo:
    """One schedule (raises ``NotFoundError``)."""
    return (await list_jobs(keel, [name])).items[0]


async def run_now(keel: Keel, name: str) -> RunRequested:
    """Queue schedule ``name``'s job once, now (raises ``NotFoundError``)."""
    key = await get_scheduler(keel).run_now(name)
    return RunRequested(name=name, queued=key is not None, job_key=f"sched:{name}:now")


async def pause(keel: Keel, name: str) -> JobInfo:
    """Pause schedule ``name`` in every process (raises ``NotFoundError``)."""
    await get_scheduler(keel).pause(name)
    return await job_info(keel, name)


async def resume(keel: Keel, name: str) -> JobInfo:
    """Resume schedule ``name`` in every process (raises ``NotFoundError``)."""
    await get_scheduler(keel).resume(name)
    return await job_info(keel, name)


async def history(
    keel: Keel, name: str, *, page: int, limit: int, outcome: str | None = None
) -> RunPage:
    """A page of schedule ``name``'s runs, newest first (raises ``NotFoundError``)."""
    if name not in get_scheduler(keel).entries:
        raise NotFoundError(f"no schedule named {name!r}", details={"schedule": name})
    runs, total = await run_history(keel, name, page=page, limit=limit, outcome=outcome)
    return RunPage(items=[run_info(r) for r in runs], page=page, limit=limit, total=total)
