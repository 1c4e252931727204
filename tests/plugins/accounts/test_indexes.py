"""The accounts collections get their unique and TTL indexes at startup."""

from __future__ import annotations

from typing import Any

from plugins.accounts.documents import OtpChallenge, RefreshToken, ResetToken, User

from .conftest import Env


async def _indexes(env: Env, model: Any) -> dict[str, dict[str, Any]]:
    info: Any = await env.keel.db.get_collection(model).index_information()
    return {"+".join(k for k, _ in spec["key"]): spec for spec in info.values()}


async def test_unique_and_ttl_indexes_exist(env: Env) -> None:
    users = await _indexes(env, User)
    assert users["email_key"]["unique"] is True
    assert {"role+created_at", "created_at", "name"} <= set(users)
    for model in (RefreshToken, ResetToken):
        indexes = await _indexes(env, model)
        assert indexes["token_hash"]["unique"] is True
        assert indexes["expires_at"]["expireAfterSeconds"] == 0
        assert "user_id" in indexes
    assert "family" in await _indexes(env, RefreshToken)
    otp = await _indexes(env, OtpChallenge)
    assert otp["user_id"]["unique"] is True
    assert otp["expires_at"]["expireAfterSeconds"] == 0


async def test_emails_are_unique_case_insensitively(env: Env) -> None:
    user = await env.user()
    again = await env.client.post(
        "/api/auth/register",
        json={"name": "Twin", "email": user.email.upper(), "password": "a fine passphrase"},
    )
    assert again.status_code == 202
    assert await env.keel.db.count(User) == 1
