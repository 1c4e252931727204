"""SAQ queues, the job registry and the workers that run it.

Every job is a plain ``async def fn(ctx, **kwargs)``; ``ctx["keel"]`` is the runtime
:class:`core.context.Keel`. Plugins' jobs are named ``<plugin>.<job>``; the core adds
``core.deliver_event`` (durable listeners) and ``core.send_mail`` (the ``email`` queue).
Each named queue of ``[queue] names`` lives in Valkey under ``saq:<key_prefix>:<name>:*``.

A job whose worker died (SIGKILL, lost host) stays ACTIVE in Valkey until a worker's sweep
finds it abandoned and retries it: once its heartbeat is ``[queue] heartbeat_s`` old (the
workers beat it for their running jobs) or, heartbeats off, once past its timeout. Sweeps
run every :func:`core._saq.sweep_every_s` seconds, so with ``heartbeat_s = H`` a dead
worker's job runs again within about ``H + H/2 + 5`` s (the 5 s: the sweep gives a live
but stalled worker that long to stop the job first) plus its retry delay.

SAQ's log lines show a job by its repr, which lists the job's arguments (a mail job's
bodies); :class:`JobLogFilter` shows it by id, function, attempt and, for mail jobs,
recipient instead (see :func:`describe_job`).
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis_async
import saq
from redis.exceptions import RedisError

from core import _saq
from core.errors import ConfigError, KeelError, ServiceUnavailableError
from core.events import deliver_event
from core.joblog import MAIL_RECIPIENT_ARGS, JobLogFilter, describe_job, filter_saq_logs
from core.mail import send_mail
from core.metrics import process_metrics
from core.metrics._jobs import timed_job
from core.records import Job
from core.schedule_runs import tracked

__all__ = [
    "BURST_DEQUEUE_TIMEOUT_S",
    "CORE",
    "MAIL_RECIPIENT_ARGS",
    "JobLogFilter",
    "JobRunner",
    "RegisteredJob",
    "UnknownJobError",
    "build_registry",
    "core_jobs",
    "describe_job",
    "filter_saq_logs",
]

if TYPE_CHECKING:
    from core.context import Keel
    from core.pluginhost import PluginHost
    from core.settings import Settings

CORE = "core"
"""Pseudo plugin name of the core's own jobs."""
BURST_DEQUEUE_TIMEOUT_S = 0.1
"""The same in burst mode, so that a drained burst worker stops quickly."""
DRAINED_CHECKS = 2
BURST_HORIZON_S = 60.0
"""Burst mode waits for jobs scheduled (or retrying) up to this far in the future."""


class UnknownJobError(KeelError, LookupError):
    """``enqueue`` named a job that no enabled plugin registered."""


@dataclass(frozen=True, slots=True)
class RegisteredJob:
    """A job handler in the registry: the plugin that registered it and its record."""

    plugin: str
    job: Job

    @property
    def name(self) -> str:
        """The full name, ``<plugin>.<job>``."""
        return f"{self.plugin}.{self.job.name}"


def core_jobs() -> list[Job]:
    """The core's own jobs (registered under the ``core`` prefix)."""
    return [
        Job("deliver_event", deliver_event),
        Job("send_mail", send_mail, queue="email", recipient_arg="to"),
    ]


def build_registry(
    queue_names: Sequence[str], plugin_jobs: Sequence[tuple[str, Job]]
) -> dict[str, RegisteredJob]:
    """Full job name -> :class:`RegisteredJob`, validated.

    Raises:
        ConfigError: a duplicate name, an unknown queue or a non-async function; every
            problem at once.
    """
    problems: list[str] = []
    registry: dict[str, RegisteredJob] = {}
    known = ", ".join(queue_names)
    for plugin, job in [*((CORE, j) for j in core_jobs()), *plugin_jobs]:
        entry = RegisteredJob(plugin, job)
        where = f"plugins.{plugin}" if plugin != CORE else "queue.names"
        if entry.name in registry:
            problems.append(f"{where}: duplicate job name {entry.name!r}")
        elif job.queue not in queue_names:
            problems.append(
                f"{where}: job {entry.name!r} uses unknown queue {job.queue!r} "
                f"(queue.names: {known})"
            )
        elif not asyncio.iscoroutinefunction(job.function):
            problems.append(f"{where}: job {entry.name!r} is not an async function")
        else:
            registry[entry.name] = entry
            if job.recipient_arg:
                MAIL_RECIPIENT_ARGS[entry.name] = job.recipient_arg
    if problems:
        raise ConfigError(problems)
    return registry


class JobRunner:
    """The queues of ``[queue] names``, the job registry, and workers to run them.

    Building it does not connect; it validates the registry, and filters SAQ's log
    records (:func:`filter_saq_logs`) in this process, where jobs are enqueued or run.

    Args:
        settings: the application settings (``queue`` and ``valkey`` tables).
        host: the plugin host; its ``register_jobs`` records join the core's jobs.

    Raises:
        ConfigError: see :func:`build_registry`.
    """

    def __init__(self, settings: Settings, host: PluginHost) -> None:
        self.settings = settings
        self.registry: dict[str, RegisteredJob] = build_registry(settings.queue.names, host.jobs())
        filter_saq_logs()
        self._client = _saq.client(settings.valkey, blocking=False)
        self._queues = {name: self._make_queue(self._client, name) for name in settings.queue.names}

    def _make_queue(self, client: redis_async.Redis, name: str) -> _saq.Queue:
        return _saq.Queue(client, name=f"{self.settings.valkey.key_prefix}:{name}")

    def queue(self, name: str) -> saq.Queue:
        """The SAQ queue called ``name`` in ``[queue] names`` (raises ``KeyError``)."""
        return self._queues[name]

    def job(
        self,
        name: str,
        kwargs: dict[str, Any],
        *,
        key: str | None = None,
        scheduled: float = 0,
    ) -> saq.Job:
        """A SAQ job for ``name`` with the registry's and ``[queue]``'s defaults.

        Raises:
            UnknownJobError: no such job.
        """
        entry = self.registry.get(name)
        if entry is None:
            raise UnknownJobError(f"unknown job {name!r}; registered: {', '.join(self.registry)}")
        conf = self.settings.queue
        job = saq.Job(
            function=name,
            kwargs=kwargs,
            timeout=entry.job.timeout if entry.job.timeout is not None else conf.timeout_s,
            retries=entry.job.retries if entry.job.retries is not None else conf.retries,
            retry_delay=conf.retry_delay_s,
            retry_backoff=conf.retry_max_delay_s or True,
            heartbeat=conf.heartbeat_s,
            scheduled=math.ceil(scheduled),
        )
        if key:
            job.key = key
        return job

    async def enqueue(
        self,
        name: str,
        *,
        key: str | None = None,
        scheduled: float = 0,
        queue: str | None = None,
        **kwargs: Any,
    ) -> saq.Job | None:
        """Enqueue job ``name`` with ``kwargs`` (JSON-serialisable).

        Args:
            name: the full job name, ``<plugin>.<job>``.
            key: dedupe key; while a job with this key is queued, scheduled or running,
                enqueueing it again is a no-op (returns None).
            scheduled: epoch seconds to run at; 0 runs as soon as possible.
            queue: run on this queue instead of the job's own.
            **kwargs: the job function's keyword arguments.

        Returns:
            The enqueued SAQ job, or None when ``key`` is already in flight.

        Raises:
            UnknownJobError: no such job.
            KeyError: unknown ``queue``.
            ServiceUnavailableError: Valkey did not answer within ``[valkey] timeout_s``.
        """
        job = self.job(name, kwargs, key=key, scheduled=scheduled)
        queue = queue or self.registry[name].job.queue
        target = self._queues[queue]
        try:
            async with asyncio.timeout(self.settings.valkey.timeout_s):
                result: saq.Job | None = await target.enqueue(job)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ServiceUnavailableError(
                f"job queue unreachable: {exc or type(exc).__name__}", details={"service": "valkey"}
            ) from exc
        if result is not None:
            process_metrics().core.jobs_enqueued.labels(queue, name).inc()
        return result

    async def depths(self) -> dict[str, int]:
        """Jobs waiting to run, per queue (excludes running and delayed ones)."""
        counts = await asyncio.gather(*(q.count("queued") for q in self._queues.values()))
        return dict(zip(self._queues, counts, strict=True))

    async def workers_info(self) -> dict[str, dict[str, Any]]:
        """Live workers per queue: worker id -> SAQ's worker info (stats, metadata)."""
        infos = await asyncio.gather(*(q.info() for q in self._queues.values()))
        return {name: dict(info["workers"]) for name, info in zip(self._queues, infos, strict=True)}

    async def run(
        self,
        keel: Keel,
        *,
        burst: bool = False,
        queues: Sequence[str] | None = None,
        burst_horizon_s: float = BURST_HORIZON_S,
    ) -> None:
        """Run a SAQ worker per queue until cancelled or, with ``burst``, until drained.

        Drained means: no job queued, running, or due within ``burst_horizon_s`` (so jobs
        waiting for a retry are waited for) on any of the queues, no inline event
        listener in flight and no outbox entry waiting for the relay. On the way out no
        new job starts, running jobs get ``[server] grace_period_s`` to finish, and those
        still running then are cancelled and go back to their queue (a retry, on any
        worker).

        Args:
            keel: the runtime context handed to jobs as ``ctx["keel"]``.
            burst: stop once drained (tests, one-off runs).
            queues: names of the queues to serve; default all.
            burst_horizon_s: see above.
        """
        client = _saq.client(self.settings.valkey, blocking=True)
        names = list(queues or self._queues)
        started = [asyncio.Event() for _ in names]
        workers = [
            self._worker(client, name, _startup(keel, event), burst=burst)
            for name, event in zip(names, started, strict=True)
        ]
        tasks = [asyncio.create_task(w.start(), name=f"saq:{w.queue.name}") for w in workers]
        try:
            await asyncio.gather(*(e.wait() for e in started))
            if burst:
                await self._wait_drained(keel, names, burst_horizon_s)
            else:
                await asyncio.gather(*tasks)
        finally:
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            for worker in workers:
                await worker.queue.disconnect()
            await client.aclose()

    def _worker(
        self, client: redis_async.Redis, name: str, startup: Any, *, burst: bool
    ) -> _saq.Worker:
        core = process_metrics().core
        functions = [
            (n, timed_job(core, name, n, tracked(e.job.function))) for n, e in self.registry.items()
        ]
        return _saq.Worker(
            self._make_queue(client, name),
            functions,
            startup=startup,
            concurrency=self.settings.queue.concurrency,
            dequeue_timeout=BURST_DEQUEUE_TIMEOUT_S if burst else _saq.DEQUEUE_TIMEOUT_S,
            shutdown_grace_period_s=math.ceil(self.settings.server.grace_period_s),
            heartbeat_s=self.settings.queue.heartbeat_s,
            timers={"sweep": _saq.sweep_every_s(self.settings.queue.heartbeat_s)},
            metadata={"host": socket.gethostname(), "pid": os.getpid(), "queue": name},
        )

    async def _wait_drained(self, keel: Keel, names: Sequence[str], horizon: float) -> None:
        calm = 0  # drained twice in a row: a job may emit events that enqueue more jobs
        while calm < DRAINED_CHECKS:
            await asyncio.sleep(0.05)
            busy = await keel.events.busy() or await self._due(names, horizon) > 0
            calm = 0 if busy else calm + 1

    async def _due(self, names: Sequence[str], horizon: float) -> int:
        async with self._client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.zcount(
                    self._queues[name].namespace("incomplete"), "-inf", time.time() + horizon
                )
            counts = await pipe.execute()
        return sum(counts)

    async def close(self) -> None:
        """Close the queues' connections."""
        for queue in self._queues.values():
            await queue.disconnect()
        await self._client.aclose()


def _startup(keel: Keel, started: asyncio.Event) -> Any:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["keel"] = keel
        started.set()

    return startup
