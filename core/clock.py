"""Time as keel stores it: timezone-aware UTC at millisecond precision (as MongoDB keeps)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, at millisecond precision (as MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """MongoDB returns naive UTC datetimes; make them aware."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
