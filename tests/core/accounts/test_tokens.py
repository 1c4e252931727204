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

from core.accounts.tokens import DEV_SECRET

from .conftest import Env, bearer, error_of


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
    good = jwt.encode(_claims(str(user.id)), DEV_SECRET, algorithm="HS256")
    assert (await env.client.get("/api/users/me", headers=bearer(good))).status_code == 200
    await _assert_401(env, jwt.encode(_claims(str(user.id)), "x" * 48, algorithm="HS256"))


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
    token = jwt.encode(_claims(str(user.id), **changes), DEV_SECRET, algorithm="HS256")
    await _assert_401(env, token)


async def test_alg_none_is_rejected(env: Env) -> None:
    user = await env.user()
    await _assert_401(env, _unsigned(_claims(str(user.id), role="admin")))


async def test_algorithms_outside_the_allow_list_are_rejected(env: Env) -> None:
    user = await env.user()
    await _assert_401(env, jwt.encode(_claims(str(user.id)), DEV_SECRET, algorithm="HS512"))


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
    await _assert_401(env, tokens["refresh_token"])


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
        token = jwt.encode(claims, DEV_SECRET, algorithm="HS256")
        first = await env.client.get("/api/users/me", headers=bearer(token))
        assert first.status_code == 200  # verified once, now remembered
        await asyncio.sleep(max(0.0, now + 2.05 - time.time()))
        await _assert_401(env, token)
