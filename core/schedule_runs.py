"""Run history and overrun protection of scheduled jobs.

Every run of a schedule's job goes through :func:`run_tracked`, whether a tick fired it
(job key ``sched:<name>:<tick epoch>``), run-now did (``sched:<name>:now``) or
``keel cron run`` runs it in the foreground (``sched:<name>:cli:<id>``):

- the run holds the Valkey lock ``<prefix>:sched:running:<name>`` while it works; a run of
  the same schedule that starts while the lock is held is *skipped* (recorded, never run),
  so a run that overruns its next tick never overlaps with it;
- each run is one document of the MongoDB collection ``core_schedule_runs``: schedule,
  job, job key, trigger, tick, start, end, duration, outcome (``running``, ``success``,
  ``failed``, ``skipped``, ``aborted``), error and a short summary of the job's result;
  runs are kept 90 days.

:class:`core.jobs.JobRunner` wraps every job function with :func:`tracked`; for jobs that
are not scheduled runs that costs one string check.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pymongo
from odmantic import Model
from pymongo.errors import PyMongoError
from valkey.exceptions import ValkeyError

from core.valkey import awaited

if TYPE_CHECKING:
    from core.context import Keel
    from core.records import JobFunction
    from core.scheduler import ScheduleEntry

RUNS_COLLECTION = "core_schedule_runs"
"""The MongoDB collection of the run history."""
KEY_PREFIX = "sched:"
"""SAQ job keys of scheduled runs start with this."""
DEFAULT_LOCK_S = 3600
"""Overrun lock lifetime for jobs without a timeout."""
LOCK_MARGIN_S = 30
"""The lock outlives the job's timeout by this much (a crashed worker frees it then)."""
DONE_TTL_S = 3600
"""How long a finished run is remembered, so that a redelivery of it does not run again."""
HISTORY_TTL_S = 90 * 86_400
"""Runs are kept this long (a TTL index on ``started_at``)."""
TEXT_MAX = 1000
"""Errors and result summaries are cut to this length."""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
log = logging.getLogger("core.scheduler")


class ScheduleRun(Model):
    """One run (or skipped run) of a schedule's job."""

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": RUNS_COLLECTION,
        "indexes": lambda: [
            pymongo.IndexModel(
                [("schedule", pymongo.ASCENDING), ("started_at", pymongo.DESCENDING)]
            ),
            pymongo.IndexModel(
                [
                    ("schedule", pymongo.ASCENDING),
                    ("outcome", pymongo.ASCENDING),
                    ("started_at", pymongo.DESCENDING),
                ]
            ),
            pymongo.IndexModel([("job_key", pymongo.ASCENDING)]),
            pymongo.IndexModel(
                [("started_at", pymongo.ASCENDING)], expireAfterSeconds=HISTORY_TTL_S
            ),
        ],
    }

    schedule: str
    job: str
    job_key: str
    trigger: str
    tick: datetime | None = None
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    outcome: str
    error: str | None = None
    result: str | None = None
    attempt: int = 1
    worker: str = ""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What :func:`run_tracked` needs to know about a run.

    Attributes:
        schedule: the schedule's full name.
        job: the job's full name.
        job_key: the SAQ job key (or the CLI's own key).
        trigger: ``tick``, ``manual`` (run-now) or ``cli``.
        tick: the tick time, for tick-triggered runs.
        attempt: the attempt number (SAQ retries).
        lock_s: lifetime of the overrun lock.
        delivery: identifies one enqueueing of the job (key and enqueue time): a run of a
            delivery that already succeeded is a redelivery and does not run again.
    """

    schedule: str
    job: str
    job_key: str
    trigger: str
    tick: datetime | None = None
    attempt: int = 1
    lock_s: int = DEFAULT_LOCK_S + LOCK_MARGIN_S
    delivery: str = ""


def parse_job_key(key: str) -> tuple[str, str, datetime | None] | None:
    """``(schedule, trigger, tick)`` of a scheduled run's job key, None for other jobs."""
    if not key.startswith(KEY_PREFIX):
        return None
    parts = key.split(":", 2)
    if len(parts) < 3:  # noqa: PLR2004
        return None
    _, name, rest = parts
    if rest.isdigit():
        return name, "tick", datetime.fromtimestamp(int(rest), UTC)
    return name, "manual" if rest == "now" else rest.partition(":")[0], None


def tracked(function: JobFunction) -> JobFunction:
    """``function`` that runs through :func:`run_tracked` when its job is a scheduled run."""

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        job = ctx.get("job")
        parsed = parse_job_key(str(getattr(job, "key", "") or ""))
        if parsed is None or "keel" not in ctx:
            return await function(ctx, **kwargs)
        schedule, trigger, tick = parsed
        spec = RunSpec(
            schedule=schedule,
            job=str(getattr(job, "function", "")),
            job_key=str(getattr(job, "key", "")),
            trigger=trigger,
            tick=tick,
            attempt=int(getattr(job, "attempts", 1) or 1),
            lock_s=int(getattr(job, "timeout", 0) or DEFAULT_LOCK_S) + LOCK_MARGIN_S,
            delivery=f"{getattr(job, 'key', '')}@{getattr(job, 'queued', '')}",
        )
        return await run_tracked(ctx["keel"], spec, function, ctx, kwargs)

    return run


async def run_tracked(
    keel: Keel, spec: RunSpec, function: JobFunction, ctx: dict[str, Any], kwargs: dict[str, Any]
) -> Any:
    """Run ``function(ctx, **kwargs)`` under the schedule's overrun lock, recording it.

    SAQ may deliver one job twice (its sweep can re-queue a job that a worker has just
    dequeued); such a redelivery is recognised (by ``spec.delivery``, or the lock held by
    the same job key) and returns None without running or recording anything.

    Returns:
        The function's result, or None when the run was skipped (another run held the lock).

    Raises:
        Exception: whatever the function raised (recorded as ``failed`` first).
    """
    lock, token = keel.key("sched", "running", spec.schedule), f"{spec.job_key}#{uuid.uuid4().hex}"
    done = keel.key("sched", "done", spec.delivery) if spec.delivery else None
    if done is not None and await keel.valkey.exists(done):
        log.info("schedule %s: %s already ran; redelivery ignored", spec.schedule, spec.job_key)
        return None
    doc = _document(spec)
    if not await keel.valkey.set(lock, token, nx=True, ex=spec.lock_s):
        holder = await keel.valkey.get(lock)
        running = holder.decode().partition("#")[0] if holder else "another run"
        if running == spec.job_key:
            log.info("schedule %s: %s redelivered while running", spec.schedule, running)
            return None
        log.info("schedule %s: skipped, %s is still running", spec.schedule, running)
        keel.metrics.core.schedule_runs.labels(spec.schedule, "skipped").inc()
        doc.update(outcome="skipped", finished_at=doc["started_at"], duration_s=0.0)
        doc["error"] = f"skipped: {running} was still running"
        await _insert(keel, doc)
        return None
    run_id = await _insert(keel, {**doc, "outcome": "running"})
    started = time.monotonic()
    outcome, error, result = "failed", None, None
    try:
        result = await function(ctx, **kwargs)
        outcome = "success"
        if done is not None:
            await keel.valkey.set(done, "1", ex=DONE_TTL_S)
        return result
    except asyncio.CancelledError:
        outcome, error = "aborted", "cancelled (timeout, abort or shutdown)"
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        end = {
            "outcome": outcome,
            "error": error and error[:TEXT_MAX],
            "result": None if result is None else _summary(result),
            "finished_at": _now(),
            "duration_s": round(time.monotonic() - started, 3),
        }
        keel.metrics.core.schedule_runs.labels(spec.schedule, outcome).inc()
        await _finish(keel, run_id, end)
        await _release(keel, lock, token)


async def run_in_foreground(keel: Keel, entry: ScheduleEntry) -> Any:
    """Run ``entry``'s job in this process now (``keel cron run``), tracked like any run.

    Returns:
        The job's result (None when skipped because a run is in progress).
    """
    registered = keel.jobs.registry[entry.job]
    timeout = registered.job.timeout or keel.settings.queue.timeout_s
    spec = RunSpec(
        schedule=entry.name,
        job=entry.job,
        job_key=f"{KEY_PREFIX}{entry.name}:cli:{uuid.uuid4().hex[:12]}",
        trigger="cli",
        lock_s=(timeout or DEFAULT_LOCK_S) + LOCK_MARGIN_S,
    )
    ctx: dict[str, Any] = {"keel": keel, "job": None}
    return await run_tracked(keel, spec, registered.job.function, ctx, dict(entry.kwargs))


async def last_runs(keel: Keel, names: list[str]) -> dict[str, ScheduleRun | None]:
    """The most recent recorded run of each schedule in ``names``."""
    runs = keel.db.get_collection(ScheduleRun)
    found = await asyncio.gather(
        *(runs.find_one({"schedule": n}, sort=[("started_at", -1)]) for n in names)
    )
    return {
        n: None if d is None else ScheduleRun.model_validate_doc(d)
        for n, d in zip(names, found, strict=True)
    }


async def run_history(
    keel: Keel, name: str, *, page: int = 1, limit: int = 20, outcome: str | None = None
) -> tuple[list[ScheduleRun], int]:
    """One page of schedule ``name``'s runs, newest first, and the total count."""
    query: dict[str, Any] = {"schedule": name}
    if outcome:
        query["outcome"] = outcome
    runs = keel.db.get_collection(ScheduleRun)
    cursor = runs.find(query, sort=[("started_at", -1)], skip=(page - 1) * limit, limit=limit)
    docs, total = await asyncio.gather(cursor.to_list(limit), runs.count_documents(query))
    return [ScheduleRun.model_validate_doc(d) for d in docs], int(total)


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _document(spec: RunSpec) -> dict[str, Any]:
    return {
        "schedule": spec.schedule,
        "job": spec.job,
        "job_key": spec.job_key,
        "trigger": spec.trigger,
        "tick": spec.tick,
        "started_at": _now(),
        "finished_at": None,
        "duration_s": None,
        "error": None,
        "result": None,
        "attempt": spec.attempt,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def _summary(result: Any) -> str:
    return repr(result)[:TEXT_MAX]


async def _insert(keel: Keel, doc: dict[str, Any]) -> Any:
    try:
        inserted = await keel.db.get_collection(ScheduleRun).insert_one(doc)
    except PyMongoError as exc:
        log.warning("schedule %s: run not recorded: %s", doc["schedule"], exc)
        return None
    return inserted.inserted_id


async def _finish(keel: Keel, run_id: Any, end: dict[str, Any]) -> None:
    if run_id is None:
        return
    try:
        await keel.db.get_collection(ScheduleRun).update_one({"_id": run_id}, {"$set": end})
    except PyMongoError as exc:
        log.warning("schedule run %s: outcome not recorded: %s", run_id, exc)


async def _release(keel: Keel, lock: str, token: str) -> None:
    try:
        await awaited(keel.valkey.eval(_RELEASE, 1, lock, token))
    except (ValkeyError, OSError) as exc:  # the lock expires by itself
        log.warning("overrun lock %s not released: %s", lock, exc)
