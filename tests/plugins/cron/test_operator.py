"""The operator surface: /api/cron/jobs (list, run now, pause, resume, history)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.testing import KeelTestApp
from core.testing._app import AppFactory

from .conftest import MetronomePlugin, run_keys, wait_until, workers

CRON_JOBS = {
    "cron.backup_database",
    "cron.cleanup_logs",
    "cron.cleanup_otps",
    "cron.cleanup_sessions",
    "cron.daily_report",
}


async def test_every_schedule_of_every_enabled_plugin_is_listed(
    env: KeelTestApp, admin: dict[str, str]
) -> None:
    response = await env.client.get("/api/cron/jobs", headers=admin)

    assert response.status_code == 200, response.text
    jobs = {job["name"]: job for job in response.json()["items"]}
    assert set(jobs) == CRON_JOBS | {"metronome.second", "metronome.slow"}
    backup = jobs["cron.backup_database"]
    assert (backup["cron"], backup["tz"], backup["job"]) == (
        "0 3 * * *",
        "UTC",
        "cron.backup_database",
    )
    assert (backup["enabled"], backup["paused"], backup["lastRun"]) == (True, False, None)
    next_run = datetime.fromisoformat(backup["nextRun"])
    assert next_run > datetime.now(UTC)
    assert (next_run.hour, next_run.minute) == (3, 0)
    assert jobs["cron.cleanup_sessions"]["cron"] == "0 */6 * * *"
    assert (jobs["metronome.second"]["enabled"], jobs["metronome.second"]["nextRun"]) == (
        False,
        None,
    )


async def test_only_admins_see_or_touch_schedules(env: KeelTestApp) -> None:
    _, customer = await env.signed_in("customer")

    assert (await env.client.get("/api/cron/jobs")).status_code == 401
    assert (await env.client.get("/api/cron/jobs", headers=customer)).status_code == 403
    run = await env.client.post("/api/cron/jobs/cron.cleanup_otps/run", headers=customer)
    assert run.status_code == 403
    assert (await env.client.get("/api/cron/reports", headers=customer)).status_code == 403


async def test_unknown_schedules_answer_404(env: KeelTestApp, admin: dict[str, str]) -> None:
    for method, path in [
        ("POST", "/api/cron/jobs/cron.nope/run"),
        ("POST", "/api/cron/jobs/cron.nope/pause"),
        ("POST", "/api/cron/jobs/nope/resume"),
        ("GET", "/api/cron/jobs/cron.nope/history"),
    ]:
        response = await env.client.request(method, path, headers=admin)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


async def test_run_now_runs_once_and_the_history_pages(
    env: KeelTestApp, admin: dict[str, str]
) -> None:
    run = "/api/cron/jobs/metronome.slow/run"
    history = "/api/cron/jobs/metronome.slow/history"

    async def finished(n: int) -> bool:
        body = (await env.client.get(history, params={"outcome": "success"}, headers=admin)).json()
        return bool(body["total"] == n)

    async with workers(env, 2):
        first = await env.client.post(run, headers=admin)
        again = await env.client.post(run, headers=admin)  # the first is still in flight
        await wait_until(lambda: finished(1))
        assert await run_keys(env) == ["sched:metronome.slow:now"]  # once, on one of two
        for n in (2, 3):
            assert (await env.client.post(run, headers=admin)).json()["queued"] is True
            await wait_until(lambda n=n: finished(n))

    assert first.status_code == 202
    assert first.json() == {
        "name": "metronome.slow",
        "queued": True,
        "jobKey": "sched:metronome.slow:now",
    }
    assert again.json()["queued"] is False
    page1 = (await env.client.get(history, params={"limit": 2}, headers=admin)).json()
    page2 = (await env.client.get(history, params={"limit": 2, "page": 2}, headers=admin)).json()
    assert (page1["total"], len(page1["items"]), len(page2["items"])) == (3, 2, 1)
    last = page1["items"][0]
    assert (last["trigger"], last["outcome"], last["error"]) == ("manual", "success", None)
    assert last["durationSeconds"] >= 0.5
    listed = (await env.client.get("/api/cron/jobs", headers=admin)).json()["items"]
    slow = next(job for job in listed if job["name"] == "metronome.slow")
    assert slow["lastRun"]["startedAt"] == last["startedAt"]
    bad = await env.client.get(history, params={"limit": 1000}, headers=admin)
    assert bad.status_code == 400


async def test_pause_and_resume_hold_across_workers_and_restarts(
    keel_app_factory: AppFactory,
) -> None:

    async with keel_app_factory(plugins=["cron"], extra=(MetronomePlugin,)) as env:
        _, admin = await env.signed_in("admin")
        paused = await env.client.post("/api/cron/jobs/metronome.second/pause", headers=admin)
        assert paused.status_code == 200
        assert paused.json()["paused"] is True

    # a restarted app (same database and Valkey) still has it paused
    async with keel_app_factory(plugins=["cron"], extra=(MetronomePlugin,)) as env:
        jobs = (await env.client.get("/api/cron/jobs", headers=admin)).json()["items"]
        assert next(j for j in jobs if j["name"] == "metronome.second")["paused"] is True
        async with workers(env, 2):
            await asyncio.sleep(1.6)
            assert await run_keys(env) == []
            resumed = await env.client.post("/api/cron/jobs/metronome.second/resume", headers=admin)
            assert resumed.json()["paused"] is False
            await asyncio.sleep(2.2)

        keys = await run_keys(env)
        assert len(keys) >= 2
        assert len(keys) == len(set(keys))  # two workers, each tick once
        history = "/api/cron/jobs/metronome.second/history"
        body = (await env.client.get(history, headers=admin)).json()
        assert {item["outcome"] for item in body["items"]} <= {"success", "skipped", "aborted"}
        assert {item["trigger"] for item in body["items"]} == {"tick"}
