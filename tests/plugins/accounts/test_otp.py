"""One-time codes: single use, expiry, brute force, concurrency, resend limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from plugins.accounts.documents import OtpChallenge, utcnow

from .conftest import PASSWORD, Env, code_in, error_of, reset_token_in


async def _pending_code(env: Env) -> tuple[str, str]:
    """A new unverified user who asked to log in, and the code emailed to them."""
    user = await env.user(verified=False)
    response = await env.client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 202
    return user.email, code_in(await env.mail_to(user.email))


async def _verify(env: Env, email: str, code: str) -> int:
    response = await env.client.post("/api/auth/verify-otp", json={"email": email, "code": code})
    return response.status_code


def _wrong(code: str, n: int) -> str:
    return f"{(int(code) + n) % 1_000_000:06d}"


async def test_a_code_works_once(env: Env) -> None:
    email, code = await _pending_code(env)
    assert await _verify(env, email, code) == 200
    assert await _verify(env, email, code) == 401


async def test_the_code_is_stored_hashed(env: Env) -> None:
    _, code = await _pending_code(env)
    stored = await env.keel.db.find_one(OtpChallenge)
    assert stored is not None
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64


async def test_five_wrong_codes_kill_the_code(env: Env) -> None:
    email, code = await _pending_code(env)
    for n in range(1, 6):
        assert await _verify(env, email, _wrong(code, n)) == 401
    assert await _verify(env, email, code) == 401


async def test_four_wrong_codes_still_leave_the_right_one_usable(env: Env) -> None:
    email, code = await _pending_code(env)
    for n in range(1, 5):
        assert await _verify(env, email, _wrong(code, n)) == 401
    assert await _verify(env, email, code) == 200


async def test_a_burst_of_parallel_guesses_gets_five_tries_only(env: Env) -> None:
    email, code = await _pending_code(env)
    guesses = [_wrong(code, n) for n in range(1, 30)] + [code]
    statuses = await asyncio.gather(*(_verify(env, email, g) for g in guesses[:-1]))
    assert set(statuses) == {401}
    assert await _verify(env, email, code) == 401
    stored = await env.keel.db.find_one(OtpChallenge)
    assert stored is not None
    assert stored.attempts == 5


async def test_twenty_concurrent_right_codes_succeed_exactly_once(env: Env) -> None:
    email, code = await _pending_code(env)
    statuses = await asyncio.gather(*(_verify(env, email, code) for _ in range(20)))
    assert sorted(statuses).count(200) == 1
    assert set(statuses) == {200, 401}


async def test_an_expired_code_is_rejected(env: Env) -> None:
    email, code = await _pending_code(env)
    await env.keel.db.get_collection(OtpChallenge).update_many(
        {}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    assert await _verify(env, email, code) == 401


async def test_unknown_email_and_wrong_code_look_the_same(env: Env) -> None:
    email, code = await _pending_code(env)
    wrong = await env.client.post(
        "/api/auth/verify-otp", json={"email": email, "code": _wrong(code, 1)}
    )
    unknown = await env.client.post(
        "/api/auth/verify-otp", json={"email": env.email(), "code": code}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_codes_must_be_six_digits(env: Env) -> None:
    for code in ("12345", "1234567", "abcdef", {"$ne": ""}, 123456):
        response = await env.client.post(
            "/api/auth/verify-otp", json={"email": env.email(), "code": code}
        )
        assert response.status_code == 400
        error_of(response)


async def test_resend_sends_a_new_code_that_replaces_the_old(env: Env) -> None:
    email, first = await _pending_code(env)
    response = await env.client.post("/api/auth/resend-otp", json={"email": email})
    assert response.status_code == 202
    await env.drain()
    second = code_in(env.mails_to(email)[-1])
    assert len(env.mails_to(email)) == 2
    if second != first:
        assert await _verify(env, email, first) == 401
    assert await _verify(env, email, second) == 200


async def test_resend_is_rate_limited_and_says_nothing_about_the_account(
    make_env: Callable[..., Any],
) -> None:
    async with make_env(**{"auth.otp_resend_interval_s": 60}) as env:
        user = await env.user(verified=False)
        ghost = env.email()
        answers = []
        for email in (user.email, ghost):
            first = await env.client.post("/api/auth/resend-otp", json={"email": email})
            second = await env.client.post("/api/auth/resend-otp", json={"email": email})
            answers.append((first.status_code, first.json(), second.status_code, second.json()))
        assert answers[0] == answers[1]
        assert answers[0][0] == 202
        assert answers[0][2] == 429
        await env.drain()
        assert len(env.mails_to(user.email)) == 1
        assert env.mails_to(ghost) == []


async def test_resend_for_a_verified_account_without_a_pending_code_sends_nothing(
    env: Env,
) -> None:
    user = await env.user(verified=True)
    response = await env.client.post("/api/auth/resend-otp", json={"email": user.email})
    assert response.status_code == 202
    await env.drain()
    assert env.mails_to(user.email) == []


async def test_wrong_codes_count_across_resends(make_env: Callable[..., Any]) -> None:
    """New codes buy no new guesses: a daily budget per account, reopened by a reset."""
    async with make_env(**{"auth.otp_daily_failures": 6}) as env:
        email, code = await _pending_code(env)
        for n in range(1, 5):  # four wrong guesses on the first code
            assert await _verify(env, email, _wrong(code, n)) == 401
        resent = await env.client.post("/api/auth/resend-otp", json={"email": email})
        assert resent.status_code == 202
        second = code_in(await env.mail_to(email))
        for n in range(1, 3):  # two more on the second: the budget of six is spent
            assert await _verify(env, email, _wrong(second, n)) == 401
        assert await _verify(env, email, second) == 401  # even the right code
        await env.client.post("/api/auth/resend-otp", json={"email": email})
        third = code_in(await env.mail_to(email))
        assert await _verify(env, email, third) == 401

        forgot = await env.client.post("/api/auth/forgot-password", json={"email": email})
        assert forgot.status_code == 202
        token = reset_token_in(await env.mail_to(email, contains="Reset"))
        reset = await env.client.post(
            "/api/auth/reset-password", json={"token": token, "password": "a new passphrase!"}
        )
        assert reset.status_code == 200
        await env.login(email, "a new passphrase!")  # the reset verified the address
