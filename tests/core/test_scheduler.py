"""The scheduler: cron validation, exactly-once ticks across instances, pause and resume."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core import Job, Plugin, Schedule, hookimpl
from core.errors import ConfigError, NotFoundError
from core.pluginhost import InstalledPlugin, PluginHost, plugin_settings_types
from core.runtime import close_keel, open_keel, run_worker, validate
from core.scheduler import Scheduler
from core.settings import load_settings
from core.testing import KeelFactory

EVERY_SECOND = "clock.every_second"


async def tick(ctx: dict[str, Any], *, label: str) -> None:
    keel = ctx["keel"]
    await keel.valkey.rpush(keel.key("test", "ticks"), f"{label}|{ctx['job'].key}")


class ClockPlugin(Plugin):
    name = "clock"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("tick", tick)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("every_second", "* * * * * *", "tick", kwargs={"label": "s"}),
            Schedule("hourly", "0 * * * *", "clock.tick", tz="Europe/Berlin"),
        ]


class BrokenClockPlugin(Plugin):
    name = "broken"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("tick", tick)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("zoned", "* * * * *", "tick", tz="Mars/Olympus_Mons"),
            Schedule("typo", "* * * * *", "tik"),
            Schedule("garbled", "every day at noon", "tick"),
        ]


class LatePlugin(Plugin):
    name = "late"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("tick", tick)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("run_once", "* * * * *", "tick", kwargs={"label": "once"}),
            Schedule("skip", "* * * * *", "tick", kwargs={"label": "skip"}, misfire="skip"),
        ]


@pytest.fixture
def make_keel(keel_factory: KeelFactory) -> KeelFactory:
    """``make(*plugins, **dotted)``: a Keel with only ``plugins`` enabled."""
    return keel_factory


@pytest.fixture
async def twin(make_keel: Any) -> Any:
    """A second process's view: its own connections, the same settings."""
    opened: list[Any] = []

    async def make(keel: Any) -> Any:
        other = await open_keel(keel.settings, PluginHost(keel.settings, keel.host.installed))
        opened.append(other)
        return other

    yield make
    for keel in opened:
        await close_keel(keel)


async def run_for(seconds: float, *schedulers: Scheduler) -> None:
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def fired(keel: Any) -> list[str]:
    async with asyncio.timeout(30):
        await run_worker(keel, burst=True)
    return [v.decode() for v in await keel.valkey.lrange(keel.key("test", "ticks"), 0, -1)]


async def test_each_tick_fires_once_across_two_schedulers(make_keel: Any, twin: Any) -> None:
    # one job at a time: runs of one schedule never overlap (a concurrent one is skipped)
    keel = await make_keel(ClockPlugin, **{"queue.concurrency": 1})
    other = await twin(keel)

    await run_for(3.5, Scheduler(keel), Scheduler(other))
    keys = await fired(keel)

    assert len(keys) == len(set(keys))
    ticks = sorted(int(k.rpartition(":")[2]) for k in keys)
    assert len(ticks) >= 3
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # no tick missed
    assert all(k.startswith(f"s|sched:{EVERY_SECOND}:") for k in keys)
    last = await Scheduler(other).last_run(EVERY_SECOND)
    assert last is not None
    assert (last.status, int(last.tick.timestamp())) == ("enqueued", ticks[-1])


async def test_pause_stops_firing_everywhere_and_resume_restarts(make_keel: Any, twin: Any) -> None:
    keel = await make_keel(ClockPlugin)
    scheduler, elsewhere = Scheduler(keel), Scheduler(await twin(keel))

    await scheduler.pause(EVERY_SECOND)
    assert await elsewhere.is_paused(EVERY_SECOND)
    await run_for(2.2, scheduler)
    assert await fired(keel) == []
    last = await scheduler.last_run(EVERY_SECOND)
    assert last is not None
    assert last.status == "paused"

    await elsewhere.resume(EVERY_SECOND)
    assert not await scheduler.is_paused(EVERY_SECOND)
    await run_for(2.2, scheduler)
    assert len(await fired(keel)) >= 1

    with pytest.raises(NotFoundError):
        await scheduler.pause("clock.nope")


async def test_missed_ticks_run_once_or_are_skipped(make_keel: Any) -> None:
    keel = await make_keel(LatePlugin)
    if time.time() % 60 > 57:  # keep clear of a minute boundary
        await asyncio.sleep(4)
    now = time.time()
    minute = int(now // 60 * 60)
    for name in ("late.run_once", "late.skip"):  # as left by schedulers that ran long ago
        last = {"tick": minute - 180, "status": "enqueued", "fired_at": minute - 180}
        await keel.valkey.hset(keel.key("sched", "last", name), mapping=last)

    await run_for(0.5, Scheduler(keel))

    keys = await fired(keel)
    assert [k for k in keys if int(k.rpartition(":")[2]) <= now] == [
        f"once|sched:late.run_once:{minute}"  # the latest missed tick, once
    ]


async def test_a_schedule_switched_off_in_config_never_fires(make_keel: Any) -> None:
    keel = await make_keel(
        ClockPlugin, **{"scheduler.overrides": {EVERY_SECOND: {"enabled": False}}}
    )

    await run_for(1.5, Scheduler(keel))

    assert await fired(keel) == []


async def test_an_override_replaces_the_cron(make_keel: Any) -> None:
    keel = await make_keel(
        ClockPlugin, **{"scheduler.overrides": {EVERY_SECOND: {"cron": "0 0 1 1 *"}}}
    )

    assert Scheduler(keel).entries[EVERY_SECOND].cron == "0 0 1 1 *"


async def test_bad_override_cron_names_its_dotted_path(make_keel: Any) -> None:
    overrides = {"scheduler.overrides": {EVERY_SECOND: {"cron": "61 * * * *"}}}

    with pytest.raises(ConfigError, match=r"scheduler\.overrides\.clock\.every_second\.cron"):
        await make_keel(ClockPlugin, **overrides)


async def test_unknown_override_name_is_a_config_error(make_keel: Any) -> None:
    overrides = {"scheduler.overrides": {"clock.nope": {"enabled": False}}}

    with pytest.raises(ConfigError, match=r"scheduler\.overrides\.clock\.nope: unknown schedule"):
        await make_keel(ClockPlugin, **overrides)


async def test_bad_plugin_schedules_are_reported_together(make_keel: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        await make_keel(BrokenClockPlugin)

    problems = "\n".join(caught.value.problems)
    assert "plugins.broken: schedule 'zoned': unknown time zone 'Mars/Olympus_Mons'" in problems
    assert "plugins.broken: schedule 'typo': unknown job 'tik'" in problems
    assert "plugins.broken: schedule 'garbled': invalid cron expression" in problems


async def test_ticks_follow_the_time_zone_across_dst(make_keel: Any) -> None:
    keel = await make_keel(ClockPlugin)
    hourly = Scheduler(keel).entries["clock.hourly"]
    berlin = ZoneInfo("Europe/Berlin")

    # 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET; 02:00 happens twice.
    when = datetime(2026, 10, 25, 1, 30, tzinfo=berlin)
    ticks = []
    for _ in range(3):
        when = hourly.next_after(when)
        ticks.append(when.astimezone(UTC).strftime("%H:%M"))

    assert ticks == ["00:00", "01:00", "02:00"]  # one UTC hour apart, none skipped


def test_validate_reports_every_problem_without_connecting() -> None:
    installed = {"broken": InstalledPlugin("broken", BrokenClockPlugin, "0", "tests")}
    settings = load_settings(
        environ={},
        overrides={  # no database or Valkey URL: nothing may connect
            "plugins.enabled": ["broken"],
            "scheduler.overrides": {"broken.typo": {"cron": "* * *"}, "broken.gone": {}},
        },
        plugin_types=plugin_settings_types(installed),
    )

    with pytest.raises(ConfigError) as caught:
        validate(settings, PluginHost(settings, installed))

    problems = "\n".join(caught.value.problems)
    assert "scheduler.overrides.broken.typo.cron: invalid cron expression '* * *'" in problems
    assert "scheduler.overrides.broken.gone: unknown schedule" in problems
    assert "unknown time zone 'Mars/Olympus_Mons'" in problems
