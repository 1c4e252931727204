"""The upload routes' own rate limit, counted per signed-in user.

Routes' limits in ``opt`` are counted by the rate-limit middleware, before the handler
resolves who is calling: an unsigned request would use up the budget of its IP and get
429 where the answer is 401. This one is counted once the caller is known, so requests
without a valid token are refused with 401 and cost nothing. The global per-client
budget (``[server.rate_limit]``) still applies to these routes as to any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import RateLimitedError

if TYPE_CHECKING:
    from bson import ObjectId

    from core.context import Keel

__all__ = ["UPLOADS_PER_MINUTE", "check_rate"]

UPLOADS_PER_MINUTE = 60
"""Upload requests (``POST /api/uploads`` and ``/multiple`` together) per user and minute."""
WINDOW_S = 60


async def check_rate(keel: Keel, owner_id: ObjectId) -> None:
    """Count one upload request of ``owner_id`` in the current one-minute window.

    Off, like every rate limit, when ``[server.rate_limit] enabled`` is false.

    Raises:
        RateLimitedError: the user has made :data:`UPLOADS_PER_MINUTE` already.
    """
    if not keel.settings.server.rate_limit.enabled:
        return
    key = keel.key("uploads", "rate", str(owner_id))
    async with keel.valkey.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, WINDOW_S, nx=True)
        pipe.ttl(key)
        count, _, ttl = await pipe.execute()
    if int(count) > UPLOADS_PER_MINUTE:
        retry_s = max(int(ttl), 1)
        raise RateLimitedError(
            f"at most {UPLOADS_PER_MINUTE} upload requests per minute; retry in {retry_s} s",
            details={"limit": UPLOADS_PER_MINUTE, "per": "minute", "retryAfterSeconds": retry_s},
        )
