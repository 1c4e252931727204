"""Throttles in Valkey, so they hold across every API process.

Keys are derived from the *requested* email (hashed), never from whether an account
exists, so a throttled answer says nothing about the account.
"""

from __future__ import annotations

import hashlib
import math
import time

from core import Metric
from core.context import Keel
from core.errors import RateLimitedError
from core.http.clients import client_key
from core.settings import AuthSettings


def email_key(email: str) -> str:
    """The case-folded email: the lookup and throttle key of an address."""
    return email.strip().casefold()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


BUSY_TTL_S = 10
"""Longest a login attempt of a failing account and client may hold its turn."""
FAILURES = "keel_accounts_login_failures_total"
LOCKOUTS = "keel_accounts_login_lockouts_total"
REFUSED = "keel_accounts_login_refused_total"
METRICS = [
    Metric(FAILURES, "Failed logins (wrong password or code)."),
    Metric(
        LOCKOUTS,
        "Failed logins that made an account wait before its next try from that client IP "
        "(scope account), or brought a client IP to its limit (scope ip).",
        labels=["scope"],
    ),
    Metric(
        REFUSED,
        "Logins refused with 429 before any check: the account must wait (account), the "
        "IP failed too often (ip), another try of that account and IP is under way (busy).",
        labels=["reason"],
    ),
]
"""The throttle's metrics (``register_metrics``)."""


def _refuse(keel: Keel, reason: str, message: str, retry_after_s: int) -> RateLimitedError:
    keel.metrics.counter(REFUSED).labels(reason).inc()
    return RateLimitedError(message, details={"retryAfterSeconds": retry_after_s})


def _login_keys(keel: Keel, email: str, ip: str) -> tuple[str, str]:
    return (
        keel.key("auth", "login-fail", "acct", _digest(email_key(email))),
        keel.key("auth", "login-fail", "ip", client_key(ip)),
    )


def _busy_key(keel: Keel, email: str, ip: str) -> str:
    return keel.key("auth", "login-busy", _digest(email_key(email)), client_key(ip))


def _as_int(value: object) -> int:
    return int(value) if isinstance(value, bytes | str | int) else 0


async def check_login_allowed(keel: Keel, email: str, ip: str) -> str | None:
    """Raise 429 while this account must wait before a try from this IP, or when the IP
    failed too often with any account.

    Failures are counted per account *and* client IP (one Valkey hash per account, a
    field per IP), so an attacker's failures never lock the owner out from elsewhere;
    after ``login_free_failures`` each further failure doubles the wait. Checked before
    the password is hashed, so a throttled attacker costs no CPU. Once an account has
    failed from a client, that client's tries for it take turns (a parallel burst gets
    429s, not a burst of guesses before the wait is set). IPv6 clients count per /64.

    Returns:
        The turn taken, to give back with :func:`end_login_attempt`, or None.
    """
    auth = keel.settings.auth
    acct, by_ip = _login_keys(keel, email, ip)
    field = client_key(ip)
    async with keel.valkey.pipeline(transaction=False) as pipe:
        pipe.hget(acct, f"{field}:until")
        pipe.get(by_ip)
        pipe.ttl(by_ip)
        pipe.hget(acct, field)
        until, ip_count, ip_ttl, failures = await pipe.execute()
    wait_ms = _as_int(until) - int(time.time() * 1000)
    if wait_ms > 0:
        message = "too many failed logins for this account; try again later"
        raise _refuse(keel, "account", message, math.ceil(wait_ms / 1000))
    if _as_int(ip_count) >= auth.login_max_failures_ip:
        message = "too many failed logins from this address; try again later"
        raise _refuse(keel, "ip", message, max(1, _as_int(ip_ttl)))
    if not _as_int(failures):
        return None
    busy = _busy_key(keel, email, ip)
    if not await keel.valkey.set(busy, 1, ex=BUSY_TTL_S, nx=True):
        raise _refuse(
            keel, "busy", "another login for this account is under way; try again later", 1
        )
    return busy


async def end_login_attempt(keel: Keel, turn: str | None) -> None:
    """Give back the turn :func:`check_login_allowed` took."""
    if turn is not None:
        await keel.valkey.delete(turn)


def failure_delay_s(auth: AuthSettings, failures: int) -> float:
    """The wait after ``failures`` failed logins of one account from one IP (0 at first)."""
    over = failures - auth.login_free_failures
    if over < 0:
        return 0.0
    return float(min(auth.login_delay_s * 2 ** min(over, 32), auth.login_max_delay_s))


async def record_login_failure(keel: Keel, email: str, ip: str) -> None:
    """Count one failed login for the account from this IP, and for the IP."""
    auth = keel.settings.auth
    acct, by_ip = _login_keys(keel, email, ip)
    field = client_key(ip)
    async with keel.valkey.pipeline(transaction=False) as pipe:
        pipe.hincrby(acct, field, 1)
        pipe.incr(by_ip)
        pipe.expire(by_ip, auth.login_window_s, nx=True)
        failures, ip_failures, _ = await pipe.execute()
    delay = failure_delay_s(auth, int(failures))
    keel.metrics.counter(FAILURES).inc()
    if delay:
        keel.metrics.counter(LOCKOUTS).labels("account").inc()
    if int(ip_failures) == auth.login_max_failures_ip:
        keel.metrics.counter(LOCKOUTS).labels("ip").inc()
    async with keel.valkey.pipeline(transaction=False) as pipe:
        if delay:
            pipe.hset(acct, f"{field}:until", str(int((time.time() + delay) * 1000)))
        pipe.expire(acct, max(auth.login_window_s, math.ceil(delay)))
        await pipe.execute()


async def clear_login_failures(keel: Keel, email: str, ip: str) -> None:
    """Forget the account's failures from ``ip`` after a successful login from there
    (the IP's own count stays)."""
    field = client_key(ip)
    await keel.valkey.hdel(_login_keys(keel, email, ip)[0], field, f"{field}:until")  # type: ignore[misc]


async def clear_account_failures(keel: Keel, email: str) -> None:
    """Forget every failure of the account, from any IP (a successful password reset)."""
    await keel.valkey.delete(_login_keys(keel, email, "-")[0])


async def claim_send_slot(keel: Keel, kind: str, email: str) -> None:
    """Allow one email of ``kind`` (``otp``, ``reset``) per address per interval.

    Raises:
        RateLimitedError: one was sent to this address too recently.
    """
    interval = keel.settings.auth.otp_resend_interval_s
    if interval <= 0:
        return
    key = keel.key("auth", "send", kind, _digest(email_key(email)))
    if not await keel.valkey.set(key, 1, ex=interval, nx=True):
        raise RateLimitedError(
            "please wait before asking for another email",
            details={"retryAfterSeconds": interval},
        )
