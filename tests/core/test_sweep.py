"""A worker starting next to a job that another worker is just taking never runs it twice."""

from __future__ import annotations

from typing import Any

from core import Job, Plugin, hookimpl
from core.runtime import run_worker
from core.testing import KeelFactory


async def count(ctx: dict[str, Any], *, n: int) -> None:
    keel = ctx["keel"]
    await keel.valkey.incr(keel.key("test", "runs", str(n)))


class CountPlugin(Plugin):
    name = "count"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("count", count)]


async def test_fresh_jobs_run_once_when_workers_start_and_sweep(
    keel_factory: KeelFactory,
) -> None:
    keel = await keel_factory(CountPlugin)
    for round_ in range(5):
        # a new sweep lock per round: every burst worker below starts with a sweep
        await keel.valkey.delete(f"saq:{keel.settings.valkey.key_prefix}:default:sweep")
        await keel.jobs.enqueue("count.count", n=round_)
        await run_worker(keel, burst=True, scheduler=False)
    runs = [await keel.valkey.get(keel.key("test", "runs", str(n))) for n in range(5)]
    assert runs == [b"1"] * 5
