"""The scheduler: croniter schedules that enqueue jobs, each tick exactly once cluster-wide.

Every process running a :class:`Scheduler` sleeps until the next tick of each schedule,
then claims the tick with ``SET <prefix>:sched:<name>:<tick epoch> NX EX``; only the
winner enqueues the job (whose SAQ key ``sched:<name>:<tick epoch>`` is a second guard).
Pausing is cluster-wide and persistent (the Valkey set ``<prefix>:sched:paused``); the
last run of each schedule is kept in the hash ``<prefix>:sched:last:<name>``.

Missed ticks (every scheduler down, or this process stalled longer than
``MISFIRE_GRACE_S``) follow the schedule's ``misfire``: ``run_once`` fires the latest
missed tick once, ``skip`` drops them. A schedule that never ran has nothing to catch up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from valkey.exceptions import ValkeyError

from core.errors import ConfigError, NotFoundError, ServiceUnavailableError
from core.valkey import awaited

if TYPE_CHECKING:
    from core.context import Keel
    from core.pluginhost import PluginHost
    from core.records import Schedule
    from core.settings import Settings

MISFIRE_GRACE_S = 30.0
"""A tick fired later than this counts as missed (see ``misfire``)."""
TICK_TTL_S = 3600
"""How long a claimed tick key lives; longer than any clock skew between processes."""
MAX_SLEEP_S = 30.0
"""Re-check the clock at least this often (wall-clock jumps, long cron intervals)."""
log = logging.getLogger("core.scheduler")


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A validated schedule, with config overrides applied.

    Attributes:
        name: full name ``<plugin>.<schedule>``.
        plugin: the plugin that registered it.
        cron: the effective croniter expression.
        job: the full name of the job it enqueues.
        tz: the time zone the expression is read in.
        kwargs: keyword arguments of the job.
        misfire: ``run_once`` or ``skip``.
        enabled: false when the plugin registers it off or
            ``[scheduler.overrides."<name>"] enabled = false``.
    """

    name: str
    plugin: str
    cron: str
    job: str
    tz: ZoneInfo
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    misfire: Literal["run_once", "skip"] = "run_once"
    enabled: bool = True

    def next_after(self, when: datetime) -> datetime:
        """The first tick strictly after ``when``.

        Daylight saving follows cron's rule: a fixed-hour expression (``30 2 * * *``)
        whose wall time falls in a gap fires once, just after the gap, and one whose wall
        time happens twice fires at the first occurrence only; an every-hour expression
        (``0 * * * *``) fires every real hour.
        """
        ticks = croniter(self.cron, when.astimezone(self.tz))
        while True:
            result: datetime = ticks.get_next(datetime)
            if not self._repeated(result):
                return result

    def latest_at(self, when: datetime) -> datetime:
        """The last tick at or before ``when`` (same daylight-saving rule)."""
        ticks = croniter(self.cron, when.astimezone(self.tz) + timedelta(microseconds=1))
        while True:
            result: datetime = ticks.get_prev(datetime)
            if not self._repeated(result):
                return result

    def _repeated(self, tick: datetime) -> bool:
        """Whether ``tick`` is the second occurrence of a fixed-hour wall time."""
        fields = self.cron.split()
        fixed_hour = self.cron != "@hourly" and not (len(fields) > 1 and fields[1][0] == "*")
        return (
            fixed_hour and tick.fold == 1 and tick.replace(fold=0).utcoffset() != tick.utcoffset()
        )


def load_schedules(
    settings: Settings, host: PluginHost, job_names: Collection[str]
) -> list[ScheduleEntry]:
    """Every plugin schedule with ``[scheduler.overrides]`` applied, validated.

    Args:
        settings: the application settings.
        host: the plugin host.
        job_names: full names of the registered jobs (``JobRunner.registry``).

    Raises:
        ConfigError: bad cron, unknown time zone or job, duplicate or unknown names;
            every problem at once, each naming ``scheduler.overrides.<name>`` or the plugin.
    """
    problems: list[str] = []
    entries: dict[str, ScheduleEntry] = {}
    overrides = settings.scheduler.overrides
    for plugin, schedule in host.schedules():
        name = f"{plugin}.{schedule.name}"
        if name in entries:
            problems.append(f"plugins.{plugin}: duplicate schedule name {schedule.name!r}")
            continue
        entry = _entry(plugin, schedule, overrides.get(name), job_names, problems)
        if entry is not None:
            entries[name] = entry
    registered = {f"{p}.{s.name}" for p, s in host.schedules()}
    for name in overrides:
        disabled_plugin = name.partition(".")[0] not in host.plugins
        if name not in registered and not disabled_plugin:
            known = ", ".join(sorted(registered)) or "(none)"
            problems.append(f"scheduler.overrides.{name}: unknown schedule (known: {known})")
    if problems:
        raise ConfigError(problems)
    return list(entries.values())


def _entry(
    plugin: str,
    schedule: Schedule,
    override: Any,
    job_names: Collection[str],
    problems: list[str],
) -> ScheduleEntry | None:
    name = f"{plugin}.{schedule.name}"
    where = f"plugins.{plugin}: schedule {schedule.name!r}"
    before = len(problems)
    cron = schedule.cron
    cron_where = where
    if override is not None and override.cron:
        cron, cron_where = override.cron, f"scheduler.overrides.{name}.cron"
    try:
        tz = ZoneInfo(schedule.tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}: unknown time zone {schedule.tz!r}")
        tz = ZoneInfo("UTC")
    if not (isinstance(cron, str) and croniter.is_valid(cron)):
        problems.append(f"{cron_where}: invalid cron expression {cron!r}")
    else:
        try:
            croniter(cron, datetime.now(tz)).get_next(datetime)
        except Exception:  # croniter raises several types for impossible dates
            problems.append(f"{cron_where}: cron expression {cron!r} never fires")
    job = next((j for j in (f"{plugin}.{schedule.job}", schedule.job) if j in job_names), None)
    if job is None:
        problems.append(f"{where}: unknown job {schedule.job!r}")
    if schedule.misfire not in ("run_once", "skip"):
        problems.append(f"{where}: misfire must be 'run_once' or 'skip'")
    if len(problems) > before or job is None:
        return None
    enabled = schedule.enabled and (override.enabled if override is not None else True)
    return ScheduleEntry(
        name, plugin, cron, job, tz, dict(schedule.kwargs), schedule.misfire, enabled
    )


@dataclass(frozen=True, slots=True)
class LastRun:
    """What happened at a schedule's most recent claimed tick.

    Attributes:
        tick: the tick time (UTC).
        status: ``enqueued``, ``paused`` (skipped while paused) or ``duplicate`` (the
            job's key was still in flight).
        fired_at: when the winning process handled the tick (UTC).
    """

    tick: datetime
    status: str
    fired_at: datetime


class Scheduler:
    """Runs the enabled schedules and pauses/resumes them cluster-wide.

    Building it validates every schedule (see :func:`load_schedules`); it does not
    connect. Any process may build one to pause, resume or inspect schedules; only
    worker processes :meth:`run` it.

    Args:
        keel: the runtime context.
    """

    def __init__(self, keel: Keel) -> None:
        self.keel = keel
        entries = load_schedules(keel.settings, keel.host, keel.jobs.registry)
        self.entries: dict[str, ScheduleEntry] = {e.name: e for e in entries}
        self._paused_key = keel.key("sched", "paused")

    def _get(self, name: str) -> ScheduleEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise NotFoundError(f"no schedule named {name!r}", details={"schedule": name})
        return entry

    async def pause(self, name: str) -> None:
        """Stop firing schedule ``name`` (full name) in every process until resumed.

        Raises:
            NotFoundError: no such schedule.
        """
        await awaited(self.keel.valkey.sadd(self._paused_key, self._get(name).name))

    async def resume(self, name: str) -> None:
        """Fire schedule ``name`` again from its next tick on."""
        await awaited(self.keel.valkey.srem(self._paused_key, self._get(name).name))

    async def is_paused(self, name: str) -> bool:
        """Whether schedule ``name`` is paused."""
        member = self.keel.valkey.sismember(self._paused_key, self._get(name).name)
        return bool(await awaited(member))

    async def last_run(self, name: str) -> LastRun | None:
        """The most recent claimed tick of schedule ``name``, or None if it never fired."""
        raw = await awaited(self.keel.valkey.hgetall(self._last_key(self._get(name).name)))
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return LastRun(
            tick=datetime.fromtimestamp(float(data["tick"]), UTC),
            status=data["status"],
            fired_at=datetime.fromtimestamp(float(data["fired_at"]), UTC),
        )

    async def run_now(self, name: str) -> str | None:
        """Enqueue schedule ``name``'s job once, now, whatever its state (paused too).

        The job key ``sched:<name>:now`` makes it run once however many workers there
        are; while such a run is queued or running, asking again does nothing.

        Returns:
            The job key, or None when a run-now of ``name`` is already in flight.

        Raises:
            NotFoundError: no such schedule.
        """
        entry = self._get(name)
        key = f"sched:{entry.name}:now"
        job = await self.keel.jobs.enqueue(entry.job, key=key, **entry.kwargs)
        return None if job is None else key

    def _last_key(self, name: str) -> str:
        return self.keel.key("sched", "last", name)

    async def run(self) -> None:
        """Fire the enabled schedules until cancelled."""
        active = [e for e in self.entries.values() if e.enabled]
        if not active:
            return
        now = datetime.now(UTC)
        for entry in active:
            await self._catch_up(entry, now)
        upcoming = {e.name: e.next_after(now) for e in active}
        while True:
            delay = min(upcoming.values()).timestamp() - time.time()
            if delay > 0:
                await asyncio.sleep(min(delay, MAX_SLEEP_S))
                continue
            now = datetime.now(UTC)
            due = [e for e in active if upcoming[e.name] <= now]
            await asyncio.gather(*(self._fire(e, upcoming[e.name]) for e in due))
            for entry in due:
                upcoming[entry.name] = self._advance(entry, upcoming[entry.name], now)

    def _advance(self, entry: ScheduleEntry, tick: datetime, now: datetime) -> datetime:
        following = entry.next_after(tick)
        if following.timestamp() >= now.timestamp() - MISFIRE_GRACE_S:
            return following  # on time, or late within the grace: fire it
        log.warning("schedule %s: ticks missed (process stalled?)", entry.name)
        if entry.misfire == "run_once":
            return entry.latest_at(now)
        return entry.next_after(now)

    async def _catch_up(self, entry: ScheduleEntry, now: datetime) -> None:
        if entry.misfire == "skip":
            return
        try:
            last = await awaited(self.keel.valkey.hget(self._last_key(entry.name), "tick"))
        except (ValkeyError, OSError) as exc:
            log.warning("schedule %s: cannot read its last run: %s", entry.name, exc)
            return
        latest = entry.latest_at(now)
        if last is not None and float(last) < latest.timestamp():
            log.info("schedule %s: firing missed tick %s", entry.name, latest.isoformat())
            await self._fire(entry, latest)

    async def _fire(self, entry: ScheduleEntry, tick: datetime) -> None:
        ticks = self.keel.metrics.core.schedule_ticks
        try:
            if status := await self._claim_and_enqueue(entry, tick):
                ticks.labels(entry.name, status).inc()
        except (ValkeyError, OSError, ServiceUnavailableError) as exc:
            ticks.labels(entry.name, "failed").inc()
            log.warning("schedule %s: tick %s lost: %s", entry.name, tick.isoformat(), exc)
        except Exception:
            ticks.labels(entry.name, "failed").inc()
            log.exception("schedule %s: tick %s failed", entry.name, tick.isoformat())

    async def _claim_and_enqueue(self, entry: ScheduleEntry, tick: datetime) -> str | None:
        """Claim the tick and enqueue its job; the status, or None if another claimed it."""
        epoch = int(tick.timestamp())
        claim = self.keel.key("sched", entry.name, str(epoch))
        valkey = self.keel.valkey
        async with valkey.pipeline(transaction=False) as pipe:
            pipe.set(claim, "1", nx=True, ex=TICK_TTL_S)
            pipe.sismember(self._paused_key, entry.name)
            won, paused = await pipe.execute()
        if not won:
            return None
        status = "paused"
        if not self.keel.toggles.active(entry.plugin):
            status = "plugin_off"  # switched off live: its ticks are skipped until it is on
        elif not paused:
            try:
                job = await self.keel.jobs.enqueue(
                    entry.job, key=f"sched:{entry.name}:{epoch}", **entry.kwargs
                )
            except Exception:
                await valkey.delete(claim)  # let another process (or a retry) have it
                raise
            status = "enqueued" if job is not None else "duplicate"
        mapping = {"tick": epoch, "status": status, "fired_at": time.time()}
        await awaited(valkey.hset(self._last_key(entry.name), mapping=mapping))
        return status
