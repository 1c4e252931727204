"""Opening and closing a process's runtime context, and running the worker side.

::

    keel = await open_keel(settings, host)
    try:
        await host.startup(keel)          # the caller runs plugin lifespan hooks
        await run_worker(keel)            # queue workers + scheduler, until cancelled
    finally:
        await host.shutdown(keel)
        await close_keel(keel)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from core import db as core_db
from core import valkey as core_valkey
from core.context import Keel
from core.errors import ConfigError
from core.events import EventBus, build_subscriptions
from core.jobs import CORE, JobRunner, build_registry, core_jobs
from core.mail import Mailer
from core.metrics import process_metrics
from core.outbox import OutboxEntry
from core.pluginhost import PluginHost
from core.relay import get_relay
from core.schedule_runs import ScheduleRun
from core.scheduler import Scheduler, load_schedules
from core.settings import Settings
from core.stash import StashKey
from core.toggles import MODELS as TOGGLE_MODELS

SCHEDULER = StashKey[Scheduler]("core.scheduler")
"""``keel.stash`` key of the process's :class:`Scheduler`."""
log = logging.getLogger("core.runtime")


def validate(settings: Settings, host: PluginHost) -> None:
    """Check jobs, event types, listeners and schedules without connecting anywhere.

    Finds what :func:`open_keel` would reject (for ``keel config check``).

    Raises:
        ConfigError: every problem at once, each with its dotted path or plugin.
        PluginError: a plugin's ``register_*`` hook failed.
    """
    job_names = {f"{CORE}.{j.name}" for j in core_jobs()} | {
        f"{p}.{j.name}" for p, j in host.jobs()
    }
    checks: list[Callable[[], Any]] = [
        functools.partial(build_registry, settings.queue.names, host.jobs()),
        functools.partial(build_subscriptions, host, settings.queue.names),
        functools.partial(load_schedules, settings, host, job_names),
    ]
    problems: list[str] = host.settings_problems()
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


async def open_keel(settings: Settings, host: PluginHost) -> Keel:
    """Connect to MongoDB and Valkey, build the job runner, event bus, mailer and scheduler.

    Declares the plugins' metrics and creates the indexes of every registered model.
    Does not call plugins' ``on_startup``. The scheduler (validated here) is kept in
    ``keel.stash[SCHEDULER]``.

    Raises:
        ConfigError: invalid jobs, listeners, event types or schedules.
        pymongo.errors.PyMongoError: MongoDB unreachable while creating indexes.
    """
    metrics = process_metrics()
    metrics.declare(host.metrics())
    jobs = JobRunner(settings, host)
    events = EventBus(host, jobs)
    mongo = core_db.connect(settings.database)
    keel = Keel(
        settings=settings,
        host=host,
        mongo=mongo,
        db=core_db.engine(mongo, settings.database.name),
        valkey=core_valkey.connect(settings.valkey),
        events=events,
        jobs=jobs,
        mail=Mailer(settings.mail, jobs),
        metrics=metrics,
    )
    events.bind(keel)
    try:
        get_scheduler(keel)  # built now: a bad schedule fails here, not at its first tick
        models = [
            ScheduleRun,
            OutboxEntry,
            *TOGGLE_MODELS,
            *(model for _, model in host.models()),
        ]
        await core_db.ensure_indexes(keel.db, models)
        await keel.toggles.load()  # before serving: a process starts in the current state
    except BaseException:
        await close_keel(keel)
        raise
    return keel


def get_scheduler(keel: Keel) -> Scheduler:
    """The process's :class:`Scheduler` (pause, resume, last runs)."""
    return keel.stash.get_or_create(SCHEDULER, lambda: Scheduler(keel))


async def close_keel(keel: Keel) -> None:
    """Finish inline listeners (briefly), then close every connection. Never raises."""
    with contextlib.suppress(Exception):
        await keel.toggles.close()
    await keel.events.close()
    with contextlib.suppress(Exception):
        await keel.jobs.close()
    with contextlib.suppress(Exception):
        await keel.valkey.aclose()
    keel.mongo.close()


async def run_worker(keel: Keel, *, burst: bool = False, scheduler: bool = True) -> None:
    """Run a SAQ worker per queue, the outbox relay and, if asked, the scheduler.

    Args:
        keel: the runtime context.
        burst: return once every queue and the outbox are drained (see
            :meth:`JobRunner.run`); the scheduler does not run in burst mode, the relay
            does (even with ``[events] relay = false``).
        scheduler: also run the scheduler (unless ``[scheduler] enabled = false``).

    Runs until cancelled (or drained, with ``burst``); on cancellation running jobs get
    ``[server] grace_period_s`` to finish.
    """
    with_scheduler = scheduler and not burst and keel.settings.scheduler.enabled
    try:  # deliveries held while a plugin was off, now on (core.toggles)
        await keel.toggles.release_held()
    except Exception as exc:  # the switchboard's periodic re-read retries
        log.warning("held deliveries not released yet: %s", exc)
    async with asyncio.TaskGroup() as group:
        relay = None
        if burst or keel.settings.events.relay:
            relay = group.create_task(get_relay(keel).run(), name="keel:relay")
        jobs = group.create_task(keel.jobs.run(keel, burst=burst), name="keel:jobs")
        if with_scheduler:
            group.create_task(get_scheduler(keel).run(), name="keel:scheduler")
        if burst and relay is not None:
            await jobs
            relay.cancel()
