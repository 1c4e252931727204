"""Housekeeping: expired codes, dead sessions, old log files. No Litestar imports.

Every delete goes in batches of ``batch_size`` ids (one find, one delete per round trip),
so no job ever holds a collection in memory or runs one unbounded delete.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from core.accounts.documents import OtpChallenge, RefreshToken, ResetToken, utcnow
from core.context import Keel

DAY_S = 86_400


async def delete_in_batches(collection: Any, query: dict[str, Any], batch_size: int) -> int:
    """Delete the documents matching ``query``, ``batch_size`` at a time; how many went."""
    deleted = 0
    while True:
        cursor = collection.find(query, {"_id": 1}).limit(batch_size)
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return deleted
        result = await collection.delete_many({"_id": {"$in": ids}})
        deleted += int(result.deleted_count)
        if len(ids) < batch_size:
            return deleted


async def cleanup_otps(keel: Keel, batch_size: int) -> dict[str, int]:
    """Delete expired one-time codes (the TTL index does the same, lazily)."""
    otps = keel.db.get_collection(OtpChallenge)
    query = {"expires_at": {"$lt": utcnow()}}
    return {"otps_deleted": await delete_in_batches(otps, query, batch_size)}


async def cleanup_sessions(keel: Keel, batch_size: int) -> dict[str, int]:
    """Delete expired or revoked refresh tokens, and stale codes and reset tokens.

    Rotated (used) refresh tokens of live sessions stay until they expire: reuse
    detection needs them. Stale codes are expired, consumed or out of attempts; stale
    reset tokens are expired or used.
    """
    now = utcnow()
    refresh = keel.db.get_collection(RefreshToken)
    otps = keel.db.get_collection(OtpChallenge)
    resets = keel.db.get_collection(ResetToken)
    max_attempts = keel.settings.auth.otp_max_attempts
    counts: dict[str, dict[str, Any]] = {
        "refresh_expired": {"expires_at": {"$lt": now}},
        "refresh_revoked": {"revoked": True},
    }
    result = {
        name: await delete_in_batches(refresh, query, batch_size) for name, query in counts.items()
    }
    stale_otp = {
        "$or": [
            {"expires_at": {"$lt": now}},
            {"consumed": True},
            {"attempts": {"$gte": max_attempts}},
        ]
    }
    result["otps_deleted"] = await delete_in_batches(otps, stale_otp, batch_size)
    stale_reset = {"$or": [{"expires_at": {"$lt": now}}, {"used_at": {"$ne": None}}]}
    result["reset_tokens_deleted"] = await delete_in_batches(resets, stale_reset, batch_size)
    return result


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
