"""Access tokens: every forged, stale or misused token is a 401 with the JSON error body."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from bson import ObjectId

from plugins.accounts.tokens import key_id

from .conftest import Env, bearer, error_of

PUBLISHED_KEY = "keel-development-secret-not-for-production-use-keel-development-secret"
"""The development key that once shipped in keel's source: it must never work again."""


def _sign(
    env: Env, claims: dict[str, Any], *, key: str | None = None, algorithm: str = "HS256"
) -> str:
    """A token signed like keel's own, with ``key`` (default: this app's signing key)."""
    key = key or env.keel.settings.auth.jwt_secret
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": key_id(key)})


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": "customer",
        "fam": "f" * 32,
        "typ": "access",
        "iss": "keel",
        "aud": "keel-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


async def _assert_401(env: Env, token: str) -> None:
    response = await env.client.get("/api/users/me", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "unauthorized"


async def test_valid_token_is_accepted(env: Env) -> None:
    user, headers = await env.signed_in()
    response = await env.client.get("/api/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == str(user.id)


async def test_a_forged_token_with_the_right_claims_works_only_with_the_right_key(
    env: Env,
) -> None:
    user = await env.user()
    good = _sign(env, _claims(str(user.id)))
    assert (await env.client.get("/api/users/me", headers=bearer(good))).status_code == 200
    await _assert_401(env, jwt.encode(_claims(str(user.id)), "x" * 48, algorithm="HS256"))
    await _assert_401(env, _sign(env, _claims(str(user.id)), key="x" * 48))


@pytest.mark.parametrize("with_kid", [True, False])
async def test_a_token_forged_with_the_once_published_key_is_refused(
    env: Env, with_kid: bool
) -> None:
    user = await env.user(role="admin")
    claims = _claims(str(user.id), role="admin")
    token = (
        _sign(env, claims, key=PUBLISHED_KEY)
        if with_kid
        else jwt.encode(claims, PUBLISHED_KEY, algorithm="HS256")
    )
    await _assert_401(env, token)
    assert (await env.client.get("/api/users", headers=bearer(token))).status_code == 401


async def test_a_token_without_a_key_id_is_refused(env: Env) -> None:
    user = await env.user()
    key = env.keel.settings.auth.jwt_secret
    await _assert_401(env, jwt.encode(_claims(str(user.id)), key, algorithm="HS256"))


async def test_keel_tokens_name_their_key(env: Env) -> None:
    _, headers = await env.signed_in()
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["kid"] == key_id(env.keel.settings.auth.jwt_secret)


async def test_a_token_of_an_unknown_user_is_refused(env: Env) -> None:
    await _assert_401(env, _sign(env, _claims(str(ObjectId()), role="admin")))
    await _assert_401(env, _sign(env, _claims("not-an-object-id")))


async def test_a_token_of_a_deleted_user_is_refused(env: Env) -> None:
    user, headers = await env.signed_in()
    forged = _sign(env, _claims(str(user.id)))  # issued after the deletion below
    response = await env.client.delete(f"/api/users/{user.id}", headers=headers)
    assert response.status_code == 204
    await _assert_401(env, forged)


async def test_a_token_of_a_user_removed_from_the_database_is_refused(env: Env) -> None:
    """Without a marker in Valkey (a user deleted behind keel's back, or Valkey emptied)
    the user is looked up once, and the answer is remembered."""
    user = await env.user()
    await env.keel.db.get_collection(type(user)).delete_one({"_id": user.id})
    token = _sign(env, _claims(str(user.id)))
    await _assert_401(env, token)
    marker = await env.keel.valkey.get(env.keel.key("auth", "user", str(user.id)))
    assert marker == b"0"


async def test_keys_rotate(make_env: Callable[..., Any], keel_settings_factory: Any) -> None:
    old_key, new_key = "o" * 40 + ObjectId().binary.hex(), "n" * 40 + ObjectId().binary.hex()
    async with make_env(**{"auth.jwt_secret": old_key}) as env:
        user = await env.user()
        before = await env.login(user.email)
    rotated = {"auth.jwt_secret": new_key, "auth.jwt_previous_secrets": [old_key]}
    async with make_env(**rotated) as env:
        # tokens and refresh tokens of the previous key still work...
        me = await env.client.get("/api/users/me", headers=bearer(before["accessToken"]))
        assert me.status_code == 200, me.text
        refresh = await env.client.post(
            "/api/auth/refresh", json={"refreshToken": before["refreshToken"]}
        )
        assert refresh.status_code == 200, refresh.text
        # ...and new ones are signed with the new key only
        fresh = refresh.json()["accessToken"]
        assert jwt.get_unverified_header(fresh)["kid"] == key_id(new_key)
        jwt.decode(fresh, new_key, algorithms=["HS256"], audience="keel-api")
    async with make_env(**{"auth.jwt_secret": new_key}) as env:  # the old key is dropped
        await _assert_401(env, before["accessToken"])


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("not yet valid", {"nbf": int(time.time()) + 3600}),
        ("wrong audience", {"aud": "another-api"}),
        ("wrong issuer", {"iss": "evil"}),
        ("refresh type", {"typ": "refresh"}),
        ("no type", {"typ": None}),
        ("no expiry", {"exp": None}),
        ("bad role", {"role": "superuser"}),
    ],
)
async def test_bad_claims_are_rejected(env: Env, case: str, changes: dict[str, Any]) -> None:
    user = await env.user()
    token = _sign(env, _claims(str(user.id), **changes))
    await _assert_401(env, token)


async def test_alg_none_is_rejected(env: Env) -> None:
    user = await env.user()
    await _assert_401(env, _unsigned(_claims(str(user.id), role="admin")))


async def test_algorithms_outside_the_allow_list_are_rejected(env: Env) -> None:
    user = await env.user()
    await _assert_401(env, _sign(env, _claims(str(user.id)), algorithm="HS512"))


async def test_a_tampered_payload_is_rejected(env: Env) -> None:
    _, headers = await env.signed_in()
    header, payload, signature = headers["Authorization"].removeprefix("Bearer ").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    await _assert_401(env, forged)
    response = await env.client.get("/api/users", headers=bearer(forged))
    assert response.status_code == 401


async def test_a_refresh_token_is_not_an_access_token(env: Env) -> None:
    user = await env.user()
    tokens = await env.login(user.email)
    await _assert_401(env, tokens["refreshToken"])


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a.b",
        "Bearer " + "a" * 5000,
    ],
)
async def test_malformed_authorization_headers_are_401(env: Env, header: str) -> None:
    response = await env.client.get("/api/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    error_of(response)


async def test_missing_token_is_401(env: Env) -> None:
    response = await env.client.get("/api/users/me")
    assert response.status_code == 401
    assert "authentication required" in error_of(response)["message"]


async def test_health_and_schema_need_no_token(env: Env) -> None:
    assert (await env.client.get("/health/live")).status_code == 200
    assert (await env.client.get("/schema/openapi.json")).status_code == 200


async def test_a_remembered_token_still_expires(make_env: Callable[..., Any]) -> None:
    async with make_env(**{"auth.clock_leeway_s": 0}) as env:
        user = await env.user()
        now = int(time.time())
        claims = _claims(str(user.id), iat=now, nbf=now, exp=now + 2)
        token = _sign(env, claims)
        first = await env.client.get("/api/users/me", headers=bearer(token))
        assert first.status_code == 200  # verified once, now remembered
        await asyncio.sleep(max(0.0, now + 2.05 - time.time()))
        await _assert_401(env, token)
