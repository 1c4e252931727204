"""SAQ's sweep never takes a job that a worker is just taking for abandoned.

A worker moves a job into the active list and marks it ACTIVE a moment later; a sweep
(which every worker runs on start and once a minute) that lands in between used to
abort and retry the job while it ran, so it ran twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from saq.job import Status
from saq.utils import now

from core import Job, Plugin, hookimpl
from core.testing import KeelFactory


async def noop(ctx: dict[str, Any]) -> None:
    return None


class NoopPlugin(Plugin):
    name = "noop"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("noop", noop)]


async def test_sweep_spares_a_job_that_is_being_taken(keel_factory: KeelFactory) -> None:
    keel = await keel_factory(NoopPlugin)
    queue = keel.jobs.queue("default")
    await keel.jobs.enqueue("noop.noop")
    job = await queue.dequeue()  # in the active list, not yet marked ACTIVE
    assert job is not None
    assert job.status == Status.QUEUED

    async def take() -> None:  # what saq.Worker.process does right after dequeue()
        await asyncio.sleep(0.3)
        job.started = now()
        job.attempts += 1
        await job.update(status=Status.ACTIVE)

    swept, _ = await asyncio.gather(queue.sweep(), take())
    assert swept == []
    await job.refresh()
    assert job.status == Status.ACTIVE
    assert job.attempts == 1


async def test_sweep_still_retries_a_truly_abandoned_job(keel_factory: KeelFactory) -> None:
    keel = await keel_factory(NoopPlugin)
    queue = keel.jobs.queue("default")
    await keel.jobs.enqueue("noop.noop")
    job = await queue.dequeue()  # its worker died before marking it ACTIVE
    assert job is not None
    swept = await queue.sweep()
    assert swept == [job.id]
    await job.refresh()
    assert job.status == Status.QUEUED  # back in the queue for another worker
