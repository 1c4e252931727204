"""Refresh-token rotation, replay detection, logout and password change."""

from __future__ import annotations

import asyncio

from core.accounts.documents import RefreshToken

from .conftest import PASSWORD, Env, bearer, error_of


async def _refresh(env: Env, token: str) -> tuple[int, dict[str, object]]:
    response = await env.client.post("/api/auth/refresh", json={"refresh_token": token})
    return response.status_code, response.json()


async def _me(env: Env, access: str) -> int:
    return (await env.client.get("/api/users/me", headers=bearer(access))).status_code


async def test_refresh_rotates_the_token(env: Env) -> None:
    user = await env.user()
    first = await env.login(user.email)
    status, second = await _refresh(env, first["refresh_token"])
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert await _me(env, str(second["access_token"])) == 200
    stored = await env.keel.db.find(RefreshToken)
    assert {t.family for t in stored} == {stored[0].family}
    assert all(first["refresh_token"] not in t.token_hash for t in stored)  # hashed at rest


async def test_replaying_a_rotated_token_revokes_the_whole_family(env: Env) -> None:
    user = await env.user()
    stolen = await env.login(user.email)
    other_session = await env.login(user.email)
    _, rotated = await _refresh(env, stolen["refresh_token"])

    status, body = await _refresh(env, stolen["refresh_token"])  # the replay
    assert status == 401
    assert body["error"]["code"] == "unauthorized"  # type: ignore[index]
    # every token of that family is dead, refresh and access alike...
    assert (await _refresh(env, str(rotated["refresh_token"])))[0] == 401
    assert await _me(env, str(rotated["access_token"])) == 401
    # ...while the user's other session lives on
    assert await _me(env, other_session["access_token"]) == 200
    assert (await _refresh(env, other_session["refresh_token"]))[0] == 200


async def test_concurrent_use_of_one_refresh_token_yields_one_new_pair(env: Env) -> None:
    user = await env.user()
    tokens = await env.login(user.email)
    results = await asyncio.gather(*(_refresh(env, tokens["refresh_token"]) for _ in range(5)))
    assert sorted(status for status, _ in results) == [200, 401, 401, 401, 401]


async def test_unknown_or_malformed_refresh_tokens_are_rejected(env: Env) -> None:
    assert (await _refresh(env, "A" * 43))[0] == 401
    response = await env.client.post("/api/auth/refresh", json={"refresh_token": {"$ne": ""}})
    assert response.status_code == 400
    error_of(response)


async def test_logout_revokes_every_refresh_and_access_token(env: Env) -> None:
    user = await env.user()
    one = await env.login(user.email)
    two = await env.login(user.email)
    response = await env.client.post("/api/auth/logout", headers=bearer(one["access_token"]))
    assert response.status_code == 204
    for pair in (one, two):
        assert await _me(env, pair["access_token"]) == 401
        assert (await _refresh(env, pair["refresh_token"]))[0] == 401
    assert await _me(env, (await env.login(user.email))["access_token"]) == 200


async def test_logout_needs_a_token(env: Env) -> None:
    response = await env.client.post("/api/auth/logout")
    assert response.status_code == 401


async def test_change_password_ends_other_sessions(env: Env) -> None:
    user = await env.user()
    old = await env.login(user.email)
    response = await env.client.post(
        "/api/auth/change-password",
        headers=bearer(old["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert await _me(env, old["access_token"]) == 401
    assert (await _refresh(env, old["refresh_token"]))[0] == 401
    assert await _me(env, fresh["access_token"]) == 200
    await env.login(user.email, "a brand new passphrase")
    bad = await env.client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert bad.status_code == 401
    await env.drain()
    assert [e.changed for e in env.events] == [["password"]]  # type: ignore[attr-defined]


async def test_change_password_checks_the_current_one(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.post(
        "/api/auth/change-password",
        headers=headers,
        json={"current_password": "not my password", "new_password": "a brand new passphrase"},
    )
    assert response.status_code == 401
    assert await _me(env, headers["Authorization"].removeprefix("Bearer ")) == 200
    assert user.email
