"""Errors of the cron plugin."""

from __future__ import annotations

from core.errors import BadRequestError


class BackupError(BadRequestError):
    """A backup or restore cannot go on: a non-empty target, a bad or truncated archive."""

    code = "backup_failed"
