"""Throttles in Valkey, so they hold across every API process.

Keys are derived from the *requested* email (hashed), never from whether an account
exists, so a throttled answer says nothing about the account.
"""

from __future__ import annotations

import hashlib

from core.context import Keel
from core.errors import RateLimitedError


def email_key(email: str) -> str:
    """The case-folded email: the lookup and throttle key of an address."""
    return email.strip().casefold()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _login_keys(keel: Keel, email: str, ip: str) -> tuple[str, str]:
    return (
        keel.key("auth", "login-fail", "acct", _digest(email_key(email))),
        keel.key("auth", "login-fail", "ip", ip),
    )


async def check_login_allowed(keel: Keel, email: str, ip: str) -> None:
    """Raise 429 when this email or this client IP failed too often recently.

    Checked before the password is hashed, so a throttled attacker costs no CPU.
    """
    auth = keel.settings.auth
    acct, by_ip = await keel.valkey.mget(*_login_keys(keel, email, ip))
    if (acct is not None and int(acct) >= auth.login_max_failures_account) or (
        by_ip is not None and int(by_ip) >= auth.login_max_failures_ip
    ):
        raise RateLimitedError(
            "too many failed logins; try again later",
            details={"retry_after_s": auth.login_window_s},
        )


async def record_login_failure(keel: Keel, email: str, ip: str) -> None:
    """Count one failed login for the email and for the client IP."""
    window = keel.settings.auth.login_window_s
    async with keel.valkey.pipeline(transaction=False) as pipe:
        for key in _login_keys(keel, email, ip):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        await pipe.execute()


async def clear_login_failures(keel: Keel, email: str) -> None:
    """Forget the email's failures after a successful login (the IP's count stays)."""
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
            details={"retry_after_s": interval},
        )
