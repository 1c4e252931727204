"""The housekeeping jobs (``cron.<name>``); each returns a short summary of its work."""

from __future__ import annotations

import dataclasses
from datetime import date as Date  # noqa: N812 - the job's keyword is ``date``
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.context import Keel, settings_of
from core.records import Job
from plugins.cron import backup, report, service
from plugins.cron.errors import BackupError
from plugins.cron.settings import CronSettings

REPORT_TIMEOUT_S = 600
BACKUP_TIMEOUT_S = 3600


def cron_settings(keel: Keel) -> CronSettings:
    """The ``[plugins.cron]`` table of ``keel``."""
    return settings_of(keel, CronSettings)


async def cleanup_otps(ctx: dict[str, Any], **_: Any) -> dict[str, int]:
    """Delete expired one-time codes."""
    keel: Keel = ctx["keel"]
    return await service.cleanup_otps(keel, cron_settings(keel).batch_size)


async def cleanup_sessions(ctx: dict[str, Any], **_: Any) -> dict[str, int]:
    """Delete expired and revoked refresh tokens and stale codes and reset tokens."""
    keel: Keel = ctx["keel"]
    return await service.cleanup_sessions(keel, cron_settings(keel).batch_size)


async def cleanup_logs(ctx: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Delete log files in ``[app] log_dir`` older than ``log_retention_days``."""
    keel: Keel = ctx["keel"]
    return await service.cleanup_logs(
        keel.settings.app.log_dir, cron_settings(keel).log_retention_days
    )


async def daily_report(ctx: dict[str, Any], *, date: str | None = None) -> dict[str, Any]:
    """Build and store the report of ``date`` (``YYYY-MM-DD``; default yesterday)."""
    keel: Keel = ctx["keel"]
    tz = ZoneInfo(cron_settings(keel).tz)
    day = Date.fromisoformat(date) if date else report.yesterday(tz)
    built = await report.build_report(keel, day, tz)
    await report.store_report(keel, built)
    return {
        "date": built.date,
        "new_users": built.new_users,
        "bookings": built.bookings.total,
        "reviews": built.reviews.count,
        "payments": built.payments.count,
    }


async def backup_database(ctx: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Dump the database into ``backup_dir``, keeping the newest ``backup_keep`` archives.

    With ``backup_encrypt`` the archive is encrypted with ``KEEL_BACKUP_KEY``.
    """
    keel: Keel = ctx["keel"]
    settings = cron_settings(keel)
    summary = await backup.backup_database(
        keel.mongo[keel.settings.database.name],
        Path(settings.backup_dir),
        batch_size=settings.batch_size,
        keep=settings.backup_keep,
        key=backup_key_for(settings.backup_encrypt),
    )
    return dataclasses.asdict(summary)


def backup_key_for(encrypt: bool) -> str | None:
    """``KEEL_BACKUP_KEY`` when ``encrypt``, else None.

    Raises:
        BackupError: ``encrypt`` and the variable is missing or too short.
    """
    if not encrypt:
        return None
    try:
        return backup.backup_key()
    except BackupError as exc:
        raise BackupError(f"backups are to be encrypted, but {exc}") from exc


def jobs() -> list[Job]:
    """Every housekeeping job (also runnable by hand when its schedule is off)."""
    return [
        Job("cleanup_otps", cleanup_otps),
        Job("cleanup_sessions", cleanup_sessions),
        Job("cleanup_logs", cleanup_logs),
        Job("daily_report", daily_report, queue="reports", timeout=REPORT_TIMEOUT_S),
        Job(
            "backup_database", backup_database, queue="reports", timeout=BACKUP_TIMEOUT_S, retries=2
        ),
    ]
