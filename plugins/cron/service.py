"""Housekeeping: expired codes, dead sessions, old log files. No Litestar imports.

Every delete goes in batches of ``batch_size`` ids (one find, one delete per round trip),
so no job ever holds a collection in memory or runs one unbounded delete.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from core.context import Keel
from core.db import delete_in_batches
from plugins.accounts.api import delete_stale_records

__all__ = ["cleanup_otps", "cleanup_sessions", "delete_in_batches"]

DAY_S = 86_400


async def cleanup_otps(keel: Keel, batch_size: int) -> dict[str, int]:
    """Delete expired one-time codes (the TTL index does the same, lazily)."""
    return await delete_stale_records(keel, batch_size, codes_only=True)


async def cleanup_sessions(keel: Keel, batch_size: int) -> dict[str, int]:
    """Delete expired or revoked refresh tokens, and stale codes and reset tokens (what
    the accounts plugin says it no longer needs)."""
    return await delete_stale_records(keel, batch_size)


def _old_logs(directory: Path, cutoff: float) -> list[str]:
    deleted = []
    for path in sorted(directory.iterdir()):
        if ".log" in path.name and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            deleted.append(path.name)
    return deleted


async def cleanup_logs(log_dir: str, days: int) -> dict[str, Any]:
    """Delete log files (``*.log*``) last written more than ``days`` days ago."""
    directory = Path(log_dir) if log_dir else None
    if directory is None or not directory.is_dir():
        return {"deleted": [], "note": f"no log directory ({log_dir or '[app] log_dir unset'})"}
    cutoff = time.time() - days * DAY_S
    return {"deleted": await asyncio.to_thread(_old_logs, directory, cutoff)}
