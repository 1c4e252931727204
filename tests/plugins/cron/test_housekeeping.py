"""The housekeeping jobs on real data: codes, sessions, log files, the daily report."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from core.testing import KeelTestApp
from core.testing._app import AppFactory
from plugins.accounts.documents import OtpChallenge, RefreshToken, ResetToken, User
from plugins.cron import jobs

NOW = datetime.now(UTC)
PAST = NOW - timedelta(hours=1)
FUTURE = NOW + timedelta(hours=1)


@pytest.fixture
async def small(keel_app_factory: AppFactory, tmp_path: Path) -> AsyncIterator[KeelTestApp]:
    """The cron plugin with batches of 10 and a log directory."""
    overrides = {"plugins.cron.batch_size": 10, "app.log_dir": str(tmp_path / "logs")}
    async with keel_app_factory(plugins=["cron"], overrides=overrides) as app:
        yield app


def _otp(expires_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": ObjectId(),
        "purpose": "verify",
        "code_hash": "x",
        "attempts": 0,
        "consumed": False,
        "expires_at": expires_at,
        "created_at": NOW,
        **extra,
    }


async def _left(env: KeelTestApp, model: Any) -> list[dict[str, Any]]:
    return [doc async for doc in env.keel.db.get_collection(model).find({})]


async def test_cleanup_otps_deletes_expired_codes_in_batches(small: KeelTestApp) -> None:
    otps = small.keel.db.get_collection(OtpChallenge)
    await otps.insert_many([_otp(PAST - timedelta(minutes=i)) for i in range(25)])
    live = [_otp(FUTURE), _otp(FUTURE, attempts=3)]
    await otps.insert_many(live)
    _, admin = await small.signed_in("admin")

    response = await small.client.post("/api/cron/jobs/cron.cleanup_otps/run", headers=admin)
    assert response.status_code == 202
    await small.drain()

    assert sorted(d["_id"] for d in await _left(small, OtpChallenge)) == sorted(
        d["_id"] for d in live
    )
    history = await small.client.get("/api/cron/jobs/cron.cleanup_otps/history", headers=admin)
    run = history.json()["items"][0]
    assert (run["outcome"], run["trigger"]) == ("success", "manual")
    assert "otps_deleted" in run["result"]


async def test_cleanup_sessions_keeps_only_live_sessions_and_codes(small: KeelTestApp) -> None:
    db = small.keel.db

    def token(n: int, **fields: Any) -> dict[str, Any]:
        base = {
            "token_hash": f"h{n}",
            "user_id": ObjectId(),
            "family": f"f{n}",
            "expires_at": FUTURE,
            "used_at": None,
            "revoked": False,
            "created_at": NOW,
        }
        return {**base, **fields}

    expired = [token(i, expires_at=PAST) for i in range(12)]
    revoked = [token(100 + i, revoked=True) for i in range(12)]
    live = [token(200), token(201, used_at=NOW)]  # a rotated token stays for reuse detection
    await db.get_collection(RefreshToken).insert_many([*expired, *revoked, *live])
    stale = [_otp(FUTURE, consumed=True), _otp(FUTURE, attempts=5), _otp(PAST)]
    fresh = _otp(FUTURE, attempts=2)
    await db.get_collection(OtpChallenge).insert_many([*stale, fresh])
    resets = [
        {"token_hash": "r1", "user_id": ObjectId(), "expires_at": PAST, "used_at": None},
        {"token_hash": "r2", "user_id": ObjectId(), "expires_at": FUTURE, "used_at": NOW},
        {"token_hash": "r3", "user_id": ObjectId(), "expires_at": FUTURE, "used_at": None},
    ]
    await db.get_collection(ResetToken).insert_many(resets)

    result = await jobs.cleanup_sessions({"keel": small.keel})

    assert sorted(d["token_hash"] for d in await _left(small, RefreshToken)) == ["h200", "h201"]
    assert [d["_id"] for d in await _left(small, OtpChallenge)] == [fresh["_id"]]
    assert [d["token_hash"] for d in await _left(small, ResetToken)] == ["r3"]
    assert result["otps_deleted"] == 3
    assert result["reset_tokens_deleted"] == 2
    assert result["refresh_expired"] + result["refresh_revoked"] == 24


def _write_logs(logs: Path) -> None:
    logs.mkdir()
    month_ago = time.time() - 31 * 86_400
    for name, old in [
        ("keel.log", False),
        ("keel.log.1", True),
        ("keel.log.2", False),
        ("keel.log.5", True),
        ("notes.txt", True),
    ]:
        (logs / name).write_text("x", encoding="utf-8")
        if old:
            os.utime(logs / name, (month_ago, month_ago))


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_cleanup_logs_deletes_only_old_log_files(small: KeelTestApp) -> None:
    logs = Path(small.settings.app.log_dir)
    _write_logs(logs)

    result = await jobs.cleanup_logs({"keel": small.keel})

    assert result == {"deleted": ["keel.log.1", "keel.log.5"]}
    assert _names(logs) == ["keel.log", "keel.log.2", "notes.txt"]


async def test_cleanup_logs_without_a_log_directory_does_nothing(env: KeelTestApp) -> None:
    result = await jobs.cleanup_logs({"keel": env.keel})

    assert result["deleted"] == []


DAY = datetime(2026, 11, 20, tzinfo=UTC)


async def _seed_day(env: KeelTestApp) -> None:
    db = env.keel.mongo[env.settings.database.name]
    inside, before, after = (
        DAY + timedelta(hours=5),
        DAY - timedelta(minutes=1),
        DAY + timedelta(days=1),
    )
    for when in (inside, inside, before, after):
        await env.user()
        await env.keel.db.get_collection(User).update_one(
            {"created_at": {"$gt": NOW - timedelta(minutes=5)}}, {"$set": {"created_at": when}}
        )
    statuses = ["pending", "confirmed", "confirmed", "cancelled", "completed"]
    await db["bookings_bookings"].insert_many(
        [{"status": s, "price": 1000, "created_at": inside} for s in statuses]
        + [{"status": "confirmed", "price": 1000, "created_at": after}]
    )
    await db["bookings_reviews"].insert_many(
        # one review per booking: a unique index of the bookings plugin
        [{"rating": r, "booking_id": ObjectId(), "created_at": inside} for r in (5, 4, 4)]
        + [{"rating": 1, "booking_id": ObjectId(), "created_at": before}]
    )
    await db["payments_payments"].insert_many(
        [
            {"status": "succeeded", "amount": 2500, "currency": "eur", "created_at": inside},
            {"status": "succeeded", "amount": 1500, "currency": "eur", "created_at": inside},
            {"status": "succeeded", "amount": 900, "currency": "usd", "created_at": inside},
            {"status": "refunded", "amount": 2500, "currency": "eur", "created_at": inside},
            {"status": "succeeded", "amount": 7777, "currency": "eur", "created_at": after},
        ]
    )


@pytest.fixture
async def report_env(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    """cron with the plugins whose figures its report shows (bookings, payments)."""
    async with keel_app_factory(plugins=["cron", "bookings", "payments"]) as app:
        yield app


async def test_daily_report_counts_the_day_and_is_served_to_admins(
    report_env: KeelTestApp,
) -> None:
    env = report_env
    admin = (await env.signed_in("admin"))[1]
    await _seed_day(env)

    summary = await jobs.daily_report({"keel": env.keel}, date="2026-11-20")

    assert summary == {
        "date": "2026-11-20",
        "new_users": 2,
        "bookings": 5,
        "reviews": 3,
        "payments": 4,
    }
    response = await env.client.get(
        "/api/cron/reports", params={"date": "2026-11-20"}, headers=admin
    )
    assert response.status_code == 200, response.text
    (report,) = response.json()["items"]
    assert report["newUsers"] == 2
    assert report["bookings"] == {
        "total": 5,
        "byStatus": {"pending": 1, "confirmed": 2, "cancelled": 1, "completed": 1},
    }
    assert report["reviews"] == {"count": 3, "averageRating": 4.333}
    assert report["payments"]["totals"] == [
        {"status": "refunded", "currency": "eur", "count": 1, "amount": 2500},
        {"status": "succeeded", "currency": "eur", "count": 2, "amount": 4000},
        {"status": "succeeded", "currency": "usd", "count": 1, "amount": 900},
    ]
    one = await env.client.get("/api/cron/reports/2026-11-20", headers=admin)
    assert one.json() == report
    assert "generatedAt" in report
    stored = await env.keel.mongo[env.settings.database.name]["cron_reports"].find_one({})
    assert stored is not None  # the database keeps the Python names
    assert (stored["new_users"], stored["bookings"]["by_status"]["confirmed"]) == (2, 2)
    assert "generated_at" in stored
    # running it again replaces the day's report
    await jobs.daily_report({"keel": env.keel}, date="2026-11-20")
    assert (await env.client.get("/api/cron/reports", headers=admin)).json()["total"] == 1


async def test_a_day_without_data_or_collections_reports_zeros(
    env: KeelTestApp, admin: dict[str, str]
) -> None:
    await jobs.daily_report({"keel": env.keel}, date="2026-01-02")

    report = (await env.client.get("/api/cron/reports/2026-01-02", headers=admin)).json()
    assert (report["newUsers"], report["bookings"]["total"], report["payments"]["count"]) == (
        0,
        0,
        0,
    )
    assert report["reviews"] == {"count": 0, "averageRating": None}
    missing = await env.client.get("/api/cron/reports/2026-01-03", headers=admin)
    assert missing.status_code == 404
    empty = await env.client.get("/api/cron/reports", params={"date": "2026-01-03"}, headers=admin)
    assert empty.json()["items"] == []
    bad = await env.client.get("/api/cron/reports", params={"date": "yesterday"}, headers=admin)
    assert bad.status_code == 400


async def test_the_report_day_follows_the_configured_time_zone(
    keel_app_factory: AppFactory,
) -> None:
    overrides = {"plugins.cron.tz": "America/New_York"}
    async with keel_app_factory(plugins=["cron", "bookings"], overrides=overrides) as env:
        db = env.keel.mongo[env.settings.database.name]
        # 03:00 UTC on the 21st is still the 20th in New York
        await db["bookings_bookings"].insert_one(
            {"status": "confirmed", "created_at": datetime(2026, 11, 21, 3, tzinfo=UTC)}
        )
        summary = await jobs.daily_report({"keel": env.keel}, date="2026-11-20")
        assert summary["bookings"] == 1
        jobs_list = await env.client.get(
            "/api/cron/jobs", headers=(await env.signed_in("admin"))[1]
        )
        report_job = next(j for j in jobs_list.json()["items"] if j["name"] == "cron.daily_report")
        assert report_job["tz"] == "America/New_York"


async def test_plugins_add_their_own_figures_and_switched_off_ones_count_zero(
    keel_app_factory: AppFactory,
) -> None:
    """The figures come from each plugin's ``report_figures``: the hello fixture plugin adds
    one, and with bookings and payments off their figures are zeros (their collections are
    never read by cron)."""
    async with keel_app_factory(plugins=["cron", "hello"]) as env:
        db = env.keel.mongo[env.settings.database.name]
        inside = datetime(2026, 11, 20, 12, tzinfo=UTC)
        await db["hello_greetings"].insert_many(
            [{"event_id": str(i), "who": "ada", "greeted_at": inside} for i in range(3)]
        )
        await db["bookings_bookings"].insert_one({"status": "confirmed", "created_at": inside})
        await jobs.daily_report({"keel": env.keel}, date="2026-11-20")
        admin = (await env.signed_in("admin"))[1]
        report = (await env.client.get("/api/cron/reports/2026-11-20", headers=admin)).json()
    assert report["figures"] == {"helloGreetings": 3}  # figure names: camelCase on the wire
    assert report["bookings"] == {"total": 0, "byStatus": {}}
    assert report["newUsers"] == 0  # the admin was made today, not on the 20th
