"""Rate limiting in Valkey, shared by every process: Litestar's ``RateLimitConfig`` on a
``ValkeyStore``, with per-route limits and a fail-open path when Valkey is down.

Litestar's own middleware reads and rewrites a JSON history under a process-local lock:
two round trips per request, serialised within a process and racy across processes. Ours
keeps its configuration, store lookup, headers and exclusions but counts with one atomic
Lua call (``INCR`` + ``EXPIRE``, a fixed window) on a :class:`RateLimitStore`.

A route sets its own limit through ``opt``::

    @get("/login", opt={"rate_limit": ("minute", 5)})

Such a route is counted on its own (per client and route) instead of against the default
per-client budget. ``opt={"rate_limit": None}`` exempts a route.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import valkey.exceptions
from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    DurationUnit,
    RateLimitConfig,
    RateLimitMiddleware,
)
from litestar.stores.valkey import ValkeyStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import ConfigError
from core.settings import Settings

__all__ = [
    "OPT_KEY",
    "KeelRateLimitConfig",
    "KeelRateLimitMiddleware",
    "RateLimitStore",
    "check_route_limits",
    "rate_limit_config",
]

log = logging.getLogger("core.http.ratelimit")

OPT_KEY = "rate_limit"
"""The route ``opt`` key holding a ``(unit, max_requests)`` limit, or ``None`` for none."""
STORE_NAME = "rate_limit"
EXCLUDE = ["^/health", "^/schema"]

_HIT_SCRIPT = b"""
local n = server.call('INCR', KEYS[1])
if n == 1 then server.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = server.call('TTL', KEYS[1])
if ttl < 0 then server.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


class RateLimitStore(ValkeyStore):
    """A :class:`ValkeyStore` that can also count hits in a fixed window atomically."""

    def __init__(self, valkey: Any, namespace: str) -> None:
        super().__init__(valkey, namespace=namespace, handle_client_shutdown=False)
        self._hit_script = self._valkey.register_script(_HIT_SCRIPT)

    async def hit(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one hit on ``key``.

        Returns:
            ``(hits in the current window, seconds until the window resets)``.
        """
        count, ttl = await self._hit_script(keys=[self._make_key(key)], args=[window_s])
        return int(count), max(int(ttl), 1)


@dataclass
class KeelRateLimitConfig(RateLimitConfig):
    """Litestar's :class:`RateLimitConfig` plus keel's fail-open tuning."""

    timeout_s: float = 0.25
    """Longest wait for Valkey before letting the request through uncounted."""
    suspend_s: float = 5.0
    """After a Valkey failure, stop counting for this long (no per-request timeouts)."""


def _limit_of(value: Any) -> tuple[DurationUnit, int]:
    unit, count = value
    if unit not in DURATION_VALUES or not isinstance(count, int) or count < 1:
        raise ValueError(value)
    return cast("DurationUnit", unit), count


class KeelRateLimitMiddleware(RateLimitMiddleware):
    """Fixed-window limits in Valkey: per client, or per client and route with ``opt``."""

    def __init__(self, app: ASGIApp, config: RateLimitConfig) -> None:
        super().__init__(app, config)
        keel_config = config if isinstance(config, KeelRateLimitConfig) else None
        self.timeout_s = keel_config.timeout_s if keel_config else 0.25
        self.suspend_s = keel_config.suspend_s if keel_config else 5.0
        self._suspended_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request; answer 429 over the limit; fail open when Valkey is down."""
        route_handler = scope["route_handler"]
        if OPT_KEY in route_handler.opt:
            if route_handler.opt[OPT_KEY] is None:
                await self.app(scope, receive, send)
                return
            unit, limit = _limit_of(route_handler.opt[OPT_KEY])
            bucket = f"route:{scope.get('method', '')}:{scope.get('path_template', scope['path'])}"
        else:
            unit, limit, bucket = self.unit, self.max_requests, "all"
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope)
        key = f"{self.get_identifier_for_request(request)}:{bucket}"
        counted = await self._hit(scope, key, DURATION_VALUES[unit])
        if counted is None:
            await self.app(scope, receive, send)
            return
        count, reset_s = counted
        headers = self._headers(limit, DURATION_VALUES[unit], count, reset_s)
        if count > limit:
            raise TooManyRequestsException(
                detail=f"Rate limit of {limit} requests per {unit} exceeded; retry in {reset_s} s.",
                headers={**headers, "Retry-After": str(reset_s)},
                extra={"limit": limit, "per": unit, "retry_after_s": reset_s},
            )
        await self.app(scope, receive, self._send_with(send, headers) if headers else send)

    async def _hit(self, scope: Scope, key: str, window_s: int) -> tuple[int, int] | None:
        if self._suspended_until and time.monotonic() < self._suspended_until:
            return None
        store = self.config.get_store_from_app(scope["litestar_app"])
        if not isinstance(store, RateLimitStore):
            raise TypeError(f"rate limit store must be a RateLimitStore, not {type(store)!r}")
        try:
            return await asyncio.wait_for(store.hit(key, window_s), self.timeout_s)
        except (valkey.exceptions.ValkeyError, OSError, TimeoutError) as exc:
            self._suspended_until = time.monotonic() + self.suspend_s
            log.warning(
                "rate limiting suspended for %.0f s: valkey unreachable (%s: %s)",
                self.suspend_s,
                type(exc).__name__,
                exc,
            )
            return None

    def _headers(self, limit: int, window_s: int, count: int, reset_s: int) -> dict[str, str]:
        if not self.config.set_rate_limit_headers:
            return {}
        return {
            self.config.rate_limit_policy_header_key: f"{limit}; w={window_s}",
            self.config.rate_limit_limit_header_key: str(limit),
            self.config.rate_limit_remaining_header_key: str(max(limit - count, 0)),
            self.config.rate_limit_reset_header_key: str(reset_s),
        }

    @staticmethod
    def _send_with(send: Send, headers: dict[str, str]) -> Send:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                mutable = MutableScopeHeaders(message)
                for name, value in headers.items():
                    mutable[name] = value
            await send(message)

        return send_wrapper


def rate_limit_config(settings: Settings) -> KeelRateLimitConfig | None:
    """The app's rate limit configuration, or ``None`` when ``server.rate_limit`` is off.

    The default limit is ``server.rate_limit.default_per_minute`` per client IP. The app
    applies it to the ``/api`` router only, so ``/health`` and ``/schema`` pay nothing for
    it; :data:`EXCLUDE` keeps them exempt wherever else the middleware is mounted.
    """
    if not settings.server.rate_limit.enabled:
        return None
    return KeelRateLimitConfig(
        rate_limit=("minute", settings.server.rate_limit.default_per_minute),
        exclude=EXCLUDE,
        middleware_class=KeelRateLimitMiddleware,
        store=STORE_NAME,
    )


def check_route_limits(handlers: list[tuple[str, Any]]) -> None:
    """Validate the ``opt["rate_limit"]`` of every ``(label, route handler)``.

    Raises:
        ConfigError: naming each handler whose limit is not ``(unit, positive int)``.
    """
    problems = []
    for label, handler in handlers:
        value = handler.opt.get(OPT_KEY)
        if value is None:
            continue
        try:
            _limit_of(value)
        except (TypeError, ValueError):
            problems.append(
                f"route {label}: opt[{OPT_KEY!r}] must be (unit, count) with unit one of "
                f"{', '.join(DURATION_VALUES)} and a positive count, got {value!r}"
            )
    if problems:
        raise ConfigError(problems)
