"""Deleting what accounts no longer need: stale codes, dead refresh tokens, used resets."""

from __future__ import annotations

from typing import Any

from core.clock import utcnow
from core.context import Keel
from core.db import delete_in_batches

from .documents import OtpChallenge, RefreshToken, ResetToken


async def delete_stale(keel: Keel, batch_size: int, *, codes_only: bool) -> dict[str, int]:
    """See :func:`plugins.accounts.api.delete_stale_records`."""
    now = utcnow()
    otps = keel.db.get_collection(OtpChallenge)
    if codes_only:
        expired = {"expires_at": {"$lt": now}}
        return {"otps_deleted": await delete_in_batches(otps, expired, batch_size)}
    refresh = keel.db.get_collection(RefreshToken)
    resets = keel.db.get_collection(ResetToken)
    queries: dict[str, dict[str, Any]] = {
        "refresh_expired": {"expires_at": {"$lt": now}},
        "refresh_revoked": {"revoked": True},
    }
    result = {
        name: await delete_in_batches(refresh, query, batch_size) for name, query in queries.items()
    }
    stale_otp = {
        "$or": [
            {"expires_at": {"$lt": now}},
            {"consumed": True},
            {"attempts": {"$gte": keel.settings.auth.otp_max_attempts}},
        ]
    }
    result["otps_deleted"] = await delete_in_batches(otps, stale_otp, batch_size)
    stale_reset = {"$or": [{"expires_at": {"$lt": now}}, {"used_at": {"$ne": None}}]}
    result["reset_tokens_deleted"] = await delete_in_batches(resets, stale_reset, batch_size)
    return result
