"""Fixtures of the cron tests: an app with the cron plugin and a small scheduled plugin."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core import Job, Plugin, Schedule, hookimpl
from core.context import Keel
from core.pluginhost import PluginHost
from core.runtime import close_keel, open_keel, run_worker
from core.testing import KeelTestApp
from core.testing._app import AppFactory

RUNS = "test_runs"


async def beat(ctx: dict[str, Any], *, pause: float = 0.0) -> str:
    """Record the run's job key in ``test_runs`` (then take ``pause`` seconds)."""
    keel: Keel = ctx["keel"]
    key = str(ctx["job"].key)
    await keel.mongo[keel.settings.database.name][RUNS].insert_one({"key": key})
    await asyncio.sleep(pause)
    return key


class MetronomePlugin(Plugin):
    """Another plugin's schedules: every second, and a slow one that is off by default."""

    name = "metronome"

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("beat", beat, retries=1)]

    @hookimpl
    def register_schedules(self) -> list[Schedule]:
        return [
            Schedule("second", "* * * * * *", "beat"),
            Schedule("slow", "0 0 1 1 *", "beat", kwargs={"pause": 0.5}, enabled=False),
        ]


@pytest.fixture
async def env(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    """The app with ``cron`` and ``metronome`` (whose every-second schedule is off here)."""
    overrides = {"scheduler.overrides": {"metronome.second": {"enabled": False}}}
    async with keel_app_factory(
        plugins=["cron"], extra=(MetronomePlugin,), overrides=overrides
    ) as app:
        yield app


@pytest.fixture
async def admin(env: KeelTestApp) -> dict[str, str]:
    """Headers of a signed-in admin."""
    _, headers = await env.signed_in("admin")
    return headers


@contextlib.asynccontextmanager
async def workers(env: KeelTestApp, n: int = 2) -> AsyncIterator[list[Keel]]:
    """``n`` worker "processes" (queues + scheduler) on ``env``'s settings, each its own Keel.

    Jobs are enqueued after SAQ's start-up sweep (a job dequeued during that sweep may be
    re-queued by SAQ).
    """
    keels = [env.keel]
    for _ in range(n - 1):
        keels.append(
            await open_keel(env.settings, PluginHost(env.settings, env.keel.host.installed))
        )
    tasks = [asyncio.create_task(run_worker(k)) for k in keels]
    await asyncio.sleep(0.5)
    try:
        yield keels
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for keel in keels[1:]:
            await close_keel(keel)


async def run_keys(env: KeelTestApp) -> list[str]:
    """Job keys recorded by :func:`beat`, in order."""
    db = env.keel.mongo[env.settings.database.name]
    return [doc["key"] async for doc in db[RUNS].find({}, sort=[("_id", 1)])]


async def wait_until(predicate: Any, within: float = 10.0) -> None:
    """Poll the async ``predicate`` until it is true (fails the test after ``within`` s)."""
    async with asyncio.timeout(within):
        while not await predicate():  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.05)
