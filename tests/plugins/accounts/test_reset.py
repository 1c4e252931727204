"""Password reset: emailed token, single use, expiry, and no account enumeration."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from plugins.accounts.documents import ResetToken, utcnow

from .conftest import PASSWORD, Env, bearer, error_of, reset_token_in

NEW_PASSWORD = "an entirely new passphrase"


async def _forgot(env: Env, email: str) -> tuple[int, dict[str, object]]:
    response = await env.client.post("/api/auth/forgot-password", json={"email": email})
    return response.status_code, response.json()


async def _reset(env: Env, token: str, password: str = NEW_PASSWORD) -> int:
    response = await env.client.post(
        "/api/auth/reset-password", json={"token": token, "password": password}
    )
    return response.status_code


async def _emailed_token(env: Env, email: str) -> str:
    assert (await _forgot(env, email))[0] == 202
    return reset_token_in(await env.mail_to(email, contains="Reset"))


async def test_reset_sets_the_password_and_ends_every_session(env: Env) -> None:
    user = await env.user()
    session = await env.login(user.email)
    token = await _emailed_token(env, user.email)
    assert len(token) >= 22  # >= 128 bits, base64url
    stored = await env.keel.db.find_one(ResetToken)
    assert stored is not None
    assert token not in stored.token_hash

    response = await env.client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    assert response.json() == {"endedSessions": 1}
    await env.login(user.email, NEW_PASSWORD)
    old = await env.client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    me = await env.client.get("/api/users/me", headers=bearer(session["accessToken"]))
    assert me.status_code == 401
    refresh = await env.client.post(
        "/api/auth/refresh", json={"refreshToken": session["refreshToken"]}
    )
    assert refresh.status_code == 401


async def test_a_reset_token_works_once(env: Env) -> None:
    user = await env.user()
    token = await _emailed_token(env, user.email)
    assert await _reset(env, token) == 200
    assert await _reset(env, token, "yet another passphrase") == 422


async def test_an_expired_reset_token_is_rejected(env: Env) -> None:
    user = await env.user()
    token = await _emailed_token(env, user.email)
    await env.keel.db.get_collection(ResetToken).update_many(
        {}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    assert await _reset(env, token) == 422


async def test_a_weak_new_password_keeps_the_token_usable(env: Env) -> None:
    user = await env.user()
    token = await _emailed_token(env, user.email)
    response = await env.client.post(
        "/api/auth/reset-password", json={"token": token, "password": "password"}
    )
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "password"
    assert await _reset(env, token) == 200


async def test_a_new_request_voids_the_previous_token(env: Env) -> None:
    user = await env.user()
    first = await _emailed_token(env, user.email)
    second = await _emailed_token(env, user.email)
    assert first != second
    assert await _reset(env, first) == 422
    assert await _reset(env, second) == 200


async def test_unknown_tokens_are_422_malformed_ones_400(env: Env) -> None:
    response = await env.client.post(
        "/api/auth/reset-password", json={"token": "A" * 43, "password": NEW_PASSWORD}
    )
    assert response.status_code == 422  # schema-valid, names no reset
    assert error_of(response) == {
        "code": "unprocessable_entity",
        "message": "invalid or expired reset token",
        "details": None,
    }
    for token in ({"$ne": None}, ["x"], "short", "x" * 200, "bad chars !!!!!!!!!!!"):
        response = await env.client.post(
            "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        error_of(response)


async def test_unknown_email_gets_the_same_answer_and_no_mail(env: Env) -> None:
    user = await env.user()
    ghost = env.email()
    assert await _forgot(env, user.email) == await _forgot(env, ghost)
    await env.drain()
    assert len(env.mails_to(user.email)) == 1
    assert env.mails_to(ghost) == []


async def test_forgot_password_takes_the_same_time_for_known_and_unknown_emails(
    make_env: Callable[..., Any],
) -> None:
    async with make_env(**{"server.rate_limit.enabled": False}) as env:
        user = await env.user()
        ghost = env.email()
        timings: dict[str, list[float]] = {user.email: [], ghost: []}
        for _ in range(10):  # warm up both paths
            await _forgot(env, user.email)
            await _forgot(env, ghost)
        for _ in range(200):
            for email in (user.email, ghost):
                start = time.perf_counter()
                status, _ = await _forgot(env, email)
                timings[email].append(time.perf_counter() - start)
                assert status == 202
        known, unknown = (statistics.median(timings[e]) for e in (user.email, ghost))
        assert abs(known - unknown) < 0.010, (known, unknown)


async def test_a_reset_clears_the_accounts_login_delay(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.login_free_failures": 2}) as env:
        user = await env.user()
        for _ in range(2):
            bad = await env.client.post(
                "/api/auth/login", json={"email": user.email, "password": "wrong password"}
            )
            assert bad.status_code == 401
        blocked = await env.client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert await _reset(env, await _emailed_token(env, user.email)) == 200
        await env.login(user.email, NEW_PASSWORD)
