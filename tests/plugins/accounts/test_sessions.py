"""Refresh-token rotation, replay detection, logout and password change."""

from __future__ import annotations

import asyncio

from plugins.accounts.documents import RefreshToken

from .conftest import PASSWORD, Env, bearer, error_of


async def _refresh(env: Env, token: str) -> tuple[int, dict[str, object]]:
    response = await env.client.post("/api/auth/refresh", json={"refreshToken": token})
    return response.status_code, response.json()


async def _me(env: Env, access: str) -> int:
    return (await env.client.get("/api/users/me", headers=bearer(access))).status_code


async def test_refresh_rotates_the_token(env: Env) -> None:
    user = await env.user()
    first = await env.login(user.email)
    status, second = await _refresh(env, first["refreshToken"])
    assert status == 200
    assert second["refreshToken"] != first["refreshToken"]
    assert await _me(env, str(second["accessToken"])) == 200
    stored = await env.keel.db.find(RefreshToken)
    assert {t.family for t in stored} == {stored[0].family}
    assert all(first["refreshToken"] not in t.token_hash for t in stored)  # hashed at rest


async def test_replaying_a_rotated_token_revokes_the_whole_family(env: Env) -> None:
    user = await env.user()
    stolen = await env.login(user.email)
    other_session = await env.login(user.email)
    _, rotated = await _refresh(env, stolen["refreshToken"])

    status, body = await _refresh(env, stolen["refreshToken"])  # the replay
    assert status == 401
    assert body["error"]["code"] == "unauthorized"  # type: ignore[index]
    # every token of that family is dead, refresh and access alike...
    assert (await _refresh(env, str(rotated["refreshToken"])))[0] == 401
    assert await _me(env, str(rotated["accessToken"])) == 401
    # ...while the user's other session lives on
    assert await _me(env, other_session["accessToken"]) == 200
    assert (await _refresh(env, other_session["refreshToken"]))[0] == 200


async def test_concurrent_use_of_one_refresh_token_ends_the_session(env: Env) -> None:
    """Parallel use of one refresh token is reuse: at most one of them is exchanged,
    and even that pair dies with the session (a refresh racing the end never outlives
    it)."""
    user = await env.user()
    tokens = await env.login(user.email)
    results = await asyncio.gather(*(_refresh(env, tokens["refreshToken"]) for _ in range(5)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) <= 1
    assert statuses.count(401) >= 4
    for status, body in results:
        if status == 200:
            assert await _me(env, str(body["accessToken"])) == 401
            assert (await _refresh(env, str(body["refreshToken"])))[0] == 401
    assert await _me(env, tokens["accessToken"]) == 401
    listed = await env.client.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))
    assert listed.status_code == 401


async def test_unknown_or_malformed_refresh_tokens_are_rejected(env: Env) -> None:
    assert (await _refresh(env, "A" * 43))[0] == 401
    response = await env.client.post("/api/auth/refresh", json={"refreshToken": {"$ne": ""}})
    assert response.status_code == 400
    error_of(response)


async def test_logout_ends_this_session_only(env: Env) -> None:
    user = await env.user()
    one = await env.login(user.email)
    two = await env.login(user.email)
    response = await env.client.post("/api/auth/logout", headers=bearer(one["accessToken"]))
    assert response.status_code == 204
    assert await _me(env, one["accessToken"]) == 401
    assert (await _refresh(env, one["refreshToken"]))[0] == 401
    assert await _me(env, two["accessToken"]) == 200  # the other device stays signed in
    assert (await _refresh(env, two["refreshToken"]))[0] == 200


async def test_logout_all_ends_every_session(env: Env) -> None:
    user = await env.user()
    one = await env.login(user.email)
    two = await env.login(user.email)
    response = await env.client.post("/api/auth/logout-all", headers=bearer(one["accessToken"]))
    assert response.status_code == 204
    for pair in (one, two):
        assert await _me(env, pair["accessToken"]) == 401
        assert (await _refresh(env, pair["refreshToken"]))[0] == 401
    assert await _me(env, (await env.login(user.email))["accessToken"]) == 200


async def test_sessions_are_listed_and_can_be_ended_one_by_one(env: Env) -> None:
    user = await env.user()
    async with env.client_from("198.51.100.4") as phone:
        response = await phone.post(
            "/api/auth/login",
            json={"email": user.email, "password": PASSWORD},
            headers={"User-Agent": "KeelPhone/1.0"},
        )
        assert response.status_code == 200
        on_phone = response.json()
    laptop = await env.login(user.email)
    listed = await env.client.get("/api/auth/sessions", headers=bearer(laptop["accessToken"]))
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2
    current = [s for s in body["items"] if s["current"]]
    (phone_session,) = [s for s in body["items"] if not s["current"]]
    assert len(current) == 1
    assert phone_session["userAgent"] == "KeelPhone/1.0"
    assert phone_session["ip"] == "198.51.100.4"
    assert {"createdAt", "lastUsedAt", "expiresAt"} <= set(phone_session)

    # another user can't see or end them
    _, stranger = await env.signed_in()
    other = await env.client.get("/api/auth/sessions", headers=stranger)
    assert other.json() == {"items": [other.json()["items"][0]], "total": 1}
    gone = await env.client.delete(f"/api/auth/sessions/{phone_session['id']}", headers=stranger)
    assert gone.status_code == 404
    assert await _me(env, on_phone["accessToken"]) == 200

    ended = await env.client.delete(
        f"/api/auth/sessions/{phone_session['id']}", headers=bearer(laptop["accessToken"])
    )
    assert ended.status_code == 204
    assert await _me(env, on_phone["accessToken"]) == 401
    assert (await _refresh(env, on_phone["refreshToken"]))[0] == 401
    assert await _me(env, laptop["accessToken"]) == 200
    again = await env.client.delete(
        f"/api/auth/sessions/{phone_session['id']}", headers=bearer(laptop["accessToken"])
    )
    assert again.status_code == 404
    error_of(again)
    left = await env.client.get("/api/auth/sessions", headers=bearer(laptop["accessToken"]))
    assert [s["current"] for s in left.json()["items"]] == [True]


async def test_a_refresh_keeps_the_session_and_touches_it(env: Env) -> None:
    user = await env.user()
    first = await env.login(user.email)
    listed = await env.client.get("/api/auth/sessions", headers=bearer(first["accessToken"]))
    (before,) = listed.json()["items"]
    await asyncio.sleep(0.01)
    status, second = await _refresh(env, first["refreshToken"])
    assert status == 200
    listed = await env.client.get("/api/auth/sessions", headers=bearer(str(second["accessToken"])))
    (after,) = listed.json()["items"]
    assert after["id"] == before["id"]
    assert after["current"]
    assert after["lastUsedAt"] > before["lastUsedAt"]


async def test_logout_needs_a_token(env: Env) -> None:
    response = await env.client.post("/api/auth/logout")
    assert response.status_code == 401


async def test_change_password_ends_other_sessions(env: Env) -> None:
    user = await env.user()
    current = await env.login(user.email)
    other = await env.login(user.email)
    response = await env.client.post(
        "/api/auth/change-password",
        headers=bearer(current["accessToken"]),
        json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
    )
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert fresh["endedSessions"] == 1
    assert await _me(env, other["accessToken"]) == 401
    assert (await _refresh(env, other["refreshToken"]))[0] == 401
    # this session goes on with its new pair; its old refresh token is spent
    assert await _me(env, fresh["accessToken"]) == 200
    assert (await _refresh(env, fresh["refreshToken"]))[0] == 200
    await env.login(user.email, "a brand new passphrase")
    bad = await env.client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert bad.status_code == 401
    await env.drain()
    assert [e.changed for e in env.events if type(e).name == "user.updated"] == [["password"]]  # type: ignore[attr-defined]


async def test_change_password_checks_the_current_one(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.post(
        "/api/auth/change-password",
        headers=headers,
        json={"currentPassword": "not my password", "newPassword": "a brand new passphrase"},
    )
    assert response.status_code == 401
    assert await _me(env, headers["Authorization"].removeprefix("Bearer ")) == 200
    assert user.email


async def test_change_password_speaks_camel_case_and_names_the_wire_field(env: Env) -> None:
    _, headers = await env.signed_in()
    path = "/api/auth/change-password"
    snake = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    response = await env.client.post(path, headers=headers, json=snake)
    assert response.status_code == 400, response.text
    assert "current_password" in error_of(response)["message"]  # an unknown field
    short = {"currentPassword": PASSWORD, "newPassword": "short"}
    response = await env.client.post(path, headers=headers, json=short)
    assert response.status_code == 400, response.text
    assert "newPassword" in response.text
    weak = {"currentPassword": PASSWORD, "newPassword": "password"}
    response = await env.client.post(path, headers=headers, json=weak)
    assert response.status_code == 422, response.text
    assert error_of(response)["details"][0]["field"] == "newPassword"
    assert await _me(env, headers["Authorization"].removeprefix("Bearer ")) == 200
