"""Scheduled runs: history, overrun skipping, run-now, exactly-once with two workers, DST."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core import Job, Plugin, Schedule, hookimpl
from core.context import Keel
from core.runtime import get_scheduler, run_worker
from core.schedule_runs import parse_job_key, run_history
from core.scheduler import ScheduleEntry
from core.testing import KeelFactory


async def record(ctx: dict[str, Any], *, pause: float = 0.0, fail: bool = False) -> str:
    keel = ctx["keel"]
    key = ctx["job"].key
    await keel.valkey.rpush(keel.key("test", "runs"), key)
    await asyncio.sleep(pause)
    if fail:
        raise RuntimeError("boom")
    return key


class BeatPlugin(Plugin):
    name = "beat"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("record", record, retries=1)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("second", "* * * * * *", "record"),
            Schedule("slow", "* * * * * *", "record", kwargs={"pause": 2.3}, enabled=False),
            Schedule("manual", "0 0 1 1 *", "record", kwargs={"pause": 0.5}, enabled=False),
            Schedule("broken", "0 0 1 1 *", "record", kwargs={"fail": True}, enabled=False),
        ]


@pytest.fixture
def keels(keel_factory: KeelFactory) -> Any:
    """``make(n, **overrides)``: n Keels ("processes") on this test's database and prefix."""

    async def make(n: int, **overrides: Any) -> list[Keel]:
        return [await keel_factory(BeatPlugin, **overrides) for _ in range(n)]

    return make


@contextlib.asynccontextmanager
async def working(*keels: Any) -> Any:
    """Worker tasks (queues + scheduler) on ``keels``, as if each were a process."""
    tasks = [asyncio.create_task(run_worker(k)) for k in keels]
    # SAQ sweeps each queue when a worker starts; a job dequeued at that very moment is
    # re-queued (see the report on SAQ's sweep race), so tests enqueue after start-up
    await asyncio.sleep(0.5)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def work_for(seconds: float, *keels: Any) -> None:
    async with working(*keels):
        await asyncio.sleep(seconds)


async def runs(keel: Any) -> list[str]:
    return [v.decode() for v in await keel.valkey.lrange(keel.key("test", "runs"), 0, -1)]


async def test_every_tick_runs_exactly_once_with_two_workers(keels: Any) -> None:
    first, second = await keels(2)

    await work_for(11.5, first, second)

    ran = [int(k.rpartition(":")[2]) for k in await runs(first)]
    assert len(ran) == len(set(ran))  # no tick ran twice
    history, _ = await run_history(first, "beat.second", limit=100)
    recorded = Counter(int(r.tick.timestamp()) for r in history if r.tick)
    assert set(recorded.values()) == {1}  # each tick handled once, in the history too
    ticks = sorted(recorded)
    assert len(ticks) >= 10
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # none missed
    assert set(ran) <= set(recorded)
    # a tick that did not run was skipped because the previous run overran it (only on a
    # machine too busy to finish a trivial job within a second), or was caught by shutdown
    outcomes = {int(r.tick.timestamp()): r.outcome for r in history if r.tick}
    assert {outcomes[t] for t in set(ticks) - set(ran)} <= {"skipped", "running", "aborted"}
    assert len(ran) >= len(ticks) // 2


async def test_a_run_that_overruns_its_next_tick_makes_it_skip(keels: Any) -> None:
    (keel,) = await keels(1, **{"scheduler.overrides": {"beat.second": {"enabled": False}}})
    # the plugin registers beat.slow switched off; run it through a second Keel where it is on
    scheduler = get_scheduler(keel)
    assert not scheduler.entries["beat.slow"].enabled
    await keel.valkey.delete(keel.key("test", "runs"))
    slow = scheduler.entries["beat.slow"]
    scheduler.entries["beat.slow"] = ScheduleEntry(
        slow.name, slow.plugin, slow.cron, slow.job, slow.tz, slow.kwargs, enabled=True
    )

    await work_for(5.2, keel)

    history, _ = await run_history(keel, "beat.slow", limit=100)
    done = sorted((r for r in history if r.outcome == "success"), key=lambda r: r.started_at)
    skipped = [r for r in history if r.outcome == "skipped"]
    assert len(done) >= 1
    assert len(skipped) >= 2
    assert all("still running" in (r.error or "") for r in skipped)
    for before, after in itertools.pairwise(done):  # never overlapping
        assert before.finished_at is not None
        assert before.finished_at <= after.started_at
    ticks = Counter(r.tick for r in history if r.outcome != "running")
    assert set(ticks.values()) == {1}  # every tick ran or was skipped, once


async def test_run_now_runs_once_even_with_two_workers(keels: Any) -> None:
    first, second = await keels(2, **{"scheduler.overrides": {"beat.second": {"enabled": False}}})
    scheduler = get_scheduler(first)

    async with working(first, second):
        key = await scheduler.run_now("beat.manual")
        again = await get_scheduler(second).run_now("beat.manual")  # in flight: a no-op
        await asyncio.sleep(1.5)

    assert key == "sched:beat.manual:now"
    assert again is None
    assert await runs(first) == [key]
    history, total = await run_history(first, "beat.manual")
    assert total == 1
    assert (history[0].trigger, history[0].outcome) == ("manual", "success")
    assert history[0].duration_s is not None
    assert history[0].duration_s >= 0.5
    assert history[0].result == repr(key)


async def test_a_failed_run_is_recorded_with_its_error(keels: Any) -> None:
    (keel,) = await keels(1, **{"scheduler.overrides": {"beat.second": {"enabled": False}}})

    await get_scheduler(keel).run_now("beat.broken")
    async with asyncio.timeout(20):
        await run_worker(keel, burst=True)

    history, _ = await run_history(keel, "beat.broken")
    assert [(r.outcome, r.error) for r in history] == [("failed", "RuntimeError: boom")]
    failed, total = await run_history(keel, "beat.broken", outcome="success")
    assert (failed, total) == ([], 0)


def test_job_keys_name_the_schedule_trigger_and_tick() -> None:
    assert parse_job_key("sched:a.b:1700000000") == (
        "a.b",
        "tick",
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    )
    assert parse_job_key("sched:a.b:now") == ("a.b", "manual", None)
    assert parse_job_key("sched:a.b:cli:x1") == ("a.b", "cli", None)
    assert parse_job_key("event:123") is None


def _entry(cron: str, tz: str) -> ScheduleEntry:
    return ScheduleEntry("t.daily", "t", cron, "t.job", ZoneInfo(tz))


def _ticks(entry: ScheduleEntry, start: datetime, n: int) -> list[str]:
    out = []
    for _ in range(n):
        start = entry.next_after(start)
        out.append(start.isoformat())
    return out


def _days(first: datetime, ticks: list[str]) -> list[str]:
    return [(first + timedelta(days=i)).date().isoformat() for i in range(len(ticks))]


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [  # clocks jump from 02:00 to 03:00: 02:30 does not exist that day
        ("America/New_York", date(2026, 3, 8), "2026-03-08T03:00:00-04:00"),
        ("Europe/Berlin", date(2026, 3, 29), "2026-03-29T03:00:00+02:00"),
    ],
)
def test_a_daily_job_in_a_skipped_hour_runs_once_that_day(
    tz: str, day: date, expected: str
) -> None:
    entry = _entry("30 2 * * *", tz)
    noon_before = datetime.combine(day - timedelta(days=1), dt_time(12), ZoneInfo(tz))

    ticks = _ticks(entry, noon_before, 3)

    assert ticks[0] == expected
    assert [t[:10] for t in ticks] == _days(noon_before + timedelta(days=1), ticks)


@pytest.mark.parametrize(
    ("tz", "cron", "day", "expected"),
    [  # clocks go back an hour: the wall time happens twice that day
        ("America/New_York", "30 1 * * *", date(2026, 11, 1), "2026-11-01T01:30:00-04:00"),
        ("Europe/Berlin", "30 2 * * *", date(2026, 10, 25), "2026-10-25T02:30:00+02:00"),
    ],
)
def test_a_daily_job_in_a_repeated_hour_runs_once_that_day(
    tz: str, cron: str, day: date, expected: str
) -> None:
    entry = _entry(cron, tz)
    noon_before = datetime.combine(day - timedelta(days=1), dt_time(12), ZoneInfo(tz))

    ticks = _ticks(entry, noon_before, 3)

    assert ticks[0] == expected
    assert [t[:10] for t in ticks] == _days(noon_before + timedelta(days=1), ticks)
    # catching up just after the repeat fires the first occurrence, not the second
    after = datetime.combine(day, dt_time(4), ZoneInfo(tz))
    assert entry.latest_at(after).isoformat() == expected


def test_an_hourly_job_runs_every_real_hour_across_the_repeat() -> None:
    entry = _entry("0 * * * *", "America/New_York")
    start = datetime(2026, 11, 1, 0, 30, tzinfo=ZoneInfo("America/New_York"))

    utc = [datetime.fromisoformat(t).astimezone(UTC).hour for t in _ticks(entry, start, 4)]

    assert utc == [5, 6, 7, 8]  # 01:00 EDT, 01:00 EST, 02:00 EST, 03:00 EST


def test_seconds_field_expressions_follow_the_same_rule() -> None:
    entry = _entry("30 1 * * * 15", "America/New_York")  # 01:30:15, seconds last
    start = datetime(2026, 10, 31, 12, 0, tzinfo=ZoneInfo("America/New_York"))

    ticks = _ticks(entry, start, 2)

    assert ticks == ["2026-11-01T01:30:15-04:00", "2026-11-02T01:30:15-05:00"]
