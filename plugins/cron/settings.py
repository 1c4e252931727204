"""Settings of the cron plugin (``[plugins.cron]``).

Each housekeeping job has its own table, e.g.::

    [plugins.cron.backup_database]
    cron = "0 3 * * *"
    enabled = true

``[scheduler.overrides."cron.<job>"]`` still applies on top (it can change the cron or
switch the schedule off).
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class CronJobSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When one housekeeping job runs."""

    cron: str = ""
    """croniter expression (5 fields, or 6 with seconds last), read in ``[plugins.cron] tz``;
    empty keeps the job's default."""
    enabled: bool = True
    """False keeps the schedule listed and runnable by hand, but never fired."""


DEFAULT_CRONS = {
    "cleanup_otps": "0 0 * * *",
    "daily_report": "0 1 * * *",
    "cleanup_logs": "0 2 * * 0",
    "backup_database": "0 3 * * *",
    "cleanup_sessions": "0 */6 * * *",
}
"""Each housekeeping job's default schedule."""


class CronSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[plugins.cron]`` in config.toml."""

    tz: str = "UTC"
    """IANA time zone the housekeeping crons and the daily report's day are read in."""
    cleanup_otps: CronJobSettings = msgspec.field(default_factory=CronJobSettings)
    """Deletes expired one-time codes (default: daily at 00:00)."""
    daily_report: CronJobSettings = msgspec.field(default_factory=CronJobSettings)
    """Builds the previous day's report (default: daily at 01:00)."""
    cleanup_logs: CronJobSettings = msgspec.field(default_factory=CronJobSettings)
    """Deletes old log files (default: Sundays at 02:00)."""
    backup_database: CronJobSettings = msgspec.field(default_factory=CronJobSettings)
    """Dumps the database into a compressed archive (default: daily at 03:00)."""
    cleanup_sessions: CronJobSettings = msgspec.field(default_factory=CronJobSettings)
    """Deletes expired and revoked refresh tokens and stale codes (default: every 6 h)."""
    backup_dir: str = "./var/backups"
    """Where ``cron.backup_database`` and ``keel backup`` write archives."""
    backup_keep: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 7
    """How many archives to keep; older ones are deleted after each backup."""
    backup_encrypt: bool = False
    """Encrypt the archives of ``cron.backup_database`` (and of ``keel backup`` without
    ``--no-encrypt``) with the passphrase in the environment variable ``KEEL_BACKUP_KEY``
    (at least 32 characters); when true and the variable is missing, the backup fails."""
    log_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    """Log files in ``[app] log_dir`` older than this many days are deleted."""
    batch_size: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 500
    """Documents read or written per round trip by every job."""
