"""SAQ adapters for :mod:`core.jobs`: a redis-py client with keel's timeouts, a queue that
rides out a Valkey outage quietly, and a worker that leaves signals to the process, beats
the heartbeat of the jobs it runs and, once stopping, starts no new job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as redis_async
import saq
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from saq.queue.redis import RedisQueue
from saq.utils import now

from core.settings import ValkeySettings, redis_url
from core.valkey import sentinel_addresses, sentinel_kwargs, url_options

T = TypeVar("T")
DEQUEUE_TIMEOUT_S = 1.0
"""How long an idle worker blocks on an empty queue before it polls again."""
SWEEP_SETTLE_S = 1.0
"""How long a job may sit in the active list without being ACTIVE before it is swept."""
WARN_EVERY_S = 10.0
"""During an outage, each queue logs the problem at most this often."""
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
SWEEP_EVERY_S = 60
"""How often a worker looks for abandoned jobs when heartbeats are off (SAQ's default)."""
log = logging.getLogger("core.jobs")


class SentinelRedis(redis_async.Redis):
    """A redis-py client of the Sentinels' primary; closing it closes its Sentinel clients."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


def client(settings: ValkeySettings, *, blocking: bool) -> redis_async.Redis:
    """A redis-py client for SAQ; a worker's (``blocking``) also outlasts a BLMOVE.

    With ``[valkey] sentinels`` it connects to the primary they name, found again on each
    new connection (after a failover, the retried command reaches the new primary).
    """
    extra = DEQUEUE_TIMEOUT_S + 1.0 if blocking else 0.0
    options: dict[str, Any] = {
        "socket_timeout": settings.timeout_s + extra,
        "socket_connect_timeout": settings.timeout_s,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        "retry_on_error": [RedisConnectionError],
    }
    if settings.sentinels:
        extras, tls = url_options(settings.url)
        sentinel = Sentinel(sentinel_addresses(settings), sentinel_kwargs=sentinel_kwargs(settings))  # type: ignore[no-untyped-call]
        primary: redis_async.Redis = sentinel.master_for(
            settings.master_name,
            redis_class=SentinelRedis,
            connection_class=SentinelManagedSSLConnection if tls else SentinelManagedConnection,
            **extras,
            **options,
        )
        return primary
    return redis_async.Redis.from_url(redis_url(settings.url), **options)


class Queue(RedisQueue):
    """A SAQ queue on a shared client.

    While Valkey is unreachable a worker's polling (dequeue, scheduling, sweeping, worker
    info) logs one warning per ``WARN_EVERY_S`` instead of a traceback per call, and an idle
    worker waits between attempts instead of spinning. Enqueueing still raises.
    """

    _warned_at = 0.0
    stopping = False
    """Set by :meth:`Worker.stop`: a job dequeued from now on is handed back, not run."""

    async def _quiet(self, call: Awaitable[T], default: T) -> T:
        try:
            return await call
        except UNREACHABLE as exc:
            now = time.monotonic()
            if now - self._warned_at > WARN_EVERY_S:
                self._warned_at = now
                log.warning("queue %s: Valkey unreachable (%s); retrying", self.name, exc)
            return default

    async def dequeue(
        self,
        timeout: float = 0.0,  # noqa: ASYNC109 (SAQ's signature)
        poll_interval: float = 0.0,
    ) -> saq.Job | None:
        failed = object()
        job = await self._quiet(super().dequeue(timeout, poll_interval), failed)
        if job is failed:
            await asyncio.sleep(DEQUEUE_TIMEOUT_S)
            return None
        if job is not None and self.stopping:
            # taken by a blocking dequeue that began before the worker was told to stop:
            # back to the head of the queue, never marked ACTIVE, for another worker
            await self._quiet(self._hand_back(job), None)  # type: ignore[arg-type]
            return None
        return job  # type: ignore[return-value]

    async def _hand_back(self, job: saq.Job) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrem(self._active, 1, job.id)
            pipe.lpush(self._queued, job.id)
            await pipe.execute()
        log.info("queue %s: handed %s back while stopping", self.name, job.id)

    async def touch(self, job: saq.Job, worker_id: str) -> bool:
        """Beat ``job``'s heartbeat (its ``touched`` time) if it still is this attempt's.

        Only the stored job's ``touched`` changes, and only while it is ACTIVE, on
        ``worker_id``, at the attempt ``job`` is: a job finished, swept or retried meanwhile
        is left alone (the write is a WATCH/MULTI transaction on the job's key).

        Returns:
            Whether the heartbeat was written.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(job.id)
                stored = self.deserialize(await pipe.get(job.id))
                if (
                    stored is None
                    or stored.status != saq.job.Status.ACTIVE
                    or stored.worker_id != worker_id
                    or stored.attempts != job.attempts
                ):
                    return False
                stored.touched = now()
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(job.id, self.serialize(stored))
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def schedule(self, lock: int = 1) -> list[str]:
        return await self._quiet(super().schedule(lock), [])

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        return await self._quiet(self._settled_sweep(lock, abort), [])

    async def _settled_sweep(self, lock: int, abort: float) -> list[str]:
        """SAQ's sweep without its race against a worker that is just taking a job.

        A worker moves a job into the active list a moment before it marks the job ACTIVE;
        SAQ's sweep takes such a job for abandoned and retries it while it runs (a double
        run, seen whenever a worker starts next to a fresh job). Here a job that is in the
        active list but not ACTIVE is swept only if it still is after ``SWEEP_SETTLE_S``.
        """
        if not await self.redis.set(self._sweep, 1, ex=lock, nx=True):
            return []
        first = await self._active_jobs()
        # a running job past its timeout is swept at once, as SAQ does
        stuck = [key for key, job in first if not self._waiting(job) and job and job.stuck]
        waiting = [key for key, job in first if self._waiting(job)]
        if waiting:
            await asyncio.sleep(SWEEP_SETTLE_S)
            still = {key for key, job in await self._active_jobs() if self._waiting(job)}
            waiting = [key for key in waiting if key in still]
        swept = []
        for key in stuck + waiting:
            job = await self._read_job(key)
            if job is None:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, key.decode())
                    pipe.zrem(self._incomplete, key)
                    await pipe.execute()
            else:
                log.warning("sweeping abandoned job %s", job.info())
                await self.abort(job, error=self.swept_error_message)
                with contextlib.suppress(TimeoutError):
                    await job.refresh(abort)
                if job.retryable:
                    await self.retry(job, error=self.swept_error_message)
                else:
                    await self.finish(job, saq.job.Status.ABORTED, error=self.swept_error_message)
            swept.append(key.decode())
        return swept

    async def _active_jobs(self) -> list[tuple[bytes, saq.Job | None]]:
        keys: list[bytes] = await self.redis.lrange(self._active, 0, -1)  # type: ignore[misc]
        return [(key, await self._read_job(key)) for key in keys]

    async def _read_job(self, key: bytes) -> saq.Job | None:
        job: saq.Job | None = self.deserialize(await self.redis.get(key))
        return job

    @staticmethod
    def _waiting(job: saq.Job | None) -> bool:
        """In the active list but not (yet, or no longer) marked ACTIVE."""
        return job is None or job.status != saq.job.Status.ACTIVE

    async def write_worker_info(self, worker_id: str, info: Any, ttl: int) -> None:
        await self._quiet(super().write_worker_info(worker_id, info, ttl), None)

    async def disconnect(self) -> None:
        # The client is shared by every queue; its owner closes it.
        if self._pubsub._daemon_task is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.close()
        await self._pubsub.pubsub.aclose()  # type: ignore[no-untyped-call]


def sweep_every_s(heartbeat_s: int) -> int:
    """How often workers look for abandoned jobs: twice per heartbeat period, at most a
    minute apart.

    A job whose worker died is found by the sweep once its heartbeat is ``heartbeat_s``
    old (or, heartbeats off, once past its timeout); the sweep's own period adds to that.
    """
    return max(1, min(SWEEP_EVERY_S, heartbeat_s // 2)) if heartbeat_s > 0 else SWEEP_EVERY_S


class Worker(saq.Worker):  # type: ignore[type-arg]
    """A SAQ worker that leaves signal handling to the process (CLI, uvicorn).

    SAQ checks heartbeats but leaves beating them to each job (``await job.update()``);
    with ``heartbeat_s`` set this worker beats them for every job it runs, every third of
    the period, so a job is swept only when its worker is gone or stalled, not for being
    long. On :meth:`stop` it starts no new job (one dequeued meanwhile goes back to the
    queue's head) and keeps beating until its running jobs are done or handed back.

    Args:
        *args: SAQ's.
        heartbeat_s: the jobs' heartbeat period (``[queue] heartbeat_s``); 0 = off.
        **kwargs: SAQ's.
    """

    SIGNALS: list[signal.Signals] = []  # noqa: RUF012 (overrides SAQ's class attribute)
    queue: Queue

    def __init__(self, *args: Any, heartbeat_s: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heartbeat_s = heartbeat_s
        self._beating: asyncio.Task[None] | None = None

    async def upkeep(self) -> list[asyncio.Task[None]]:
        tasks: list[asyncio.Task[None]] = await super().upkeep()
        if self._heartbeat_s > 0 and self._beating is None:
            self._beating = asyncio.create_task(self._beat(), name="heartbeat")
        return tasks

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s / 3)
            for job in list(self.job_task_contexts):
                try:
                    await self.queue.touch(job, self.id)
                except UNREACHABLE as exc:  # the sweep cannot run either; next beat
                    log.debug("heartbeat of %s not written: %s", job.id, exc)

    async def stop(self) -> None:
        # SAQ's stop() waits out the grace period for its upkeep loops too (they sleep up
        # to a minute); only jobs deserve the grace, so the loops are cancelled first.
        self.event.set()
        self.queue.stopping = True
        for task in list(self.tasks):
            if task.get_name() != "process":
                task.cancel()
        try:
            await super().stop()
        finally:
            if self._beating is not None:  # beats on through the grace period
                self._beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._beating
