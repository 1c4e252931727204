"""Two app instances on one database and Valkey behave as one system (like two processes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from litestar import Litestar

from core.app import create_app
from core.testing import SettingsFactory

from .conftest import PASSWORD, Env, bearer, running, with_spy


def _second_app(factory: SettingsFactory) -> Litestar:
    """Another app on the same test database and key prefix."""
    settings, installed = with_spy(factory({"auth.login_free_failures": 3}))
    return create_app(settings, installed=installed)


async def test_throttles_and_revocations_hold_across_instances(
    make_env: Callable[..., Any], keel_settings_factory: SettingsFactory
) -> None:
    async with make_env(**{"auth.login_free_failures": 3}) as env:
        env_a: Env = env
        app_b = _second_app(keel_settings_factory)
        transport = httpx.ASGITransport(app=app_b)  # type: ignore[arg-type]
        async with (
            running(app_b),
            httpx.AsyncClient(transport=transport, base_url="http://b") as client_b,
        ):
            user = await env_a.user()
            tokens = await env_a.login(user.email)
            me_b = await client_b.get("/api/users/me", headers=bearer(tokens["accessToken"]))
            assert me_b.status_code == 200  # B verified (and now remembers) A's token

            await env_a.client.post("/api/auth/logout", headers=bearer(tokens["accessToken"]))
            me_b = await client_b.get("/api/users/me", headers=bearer(tokens["accessToken"]))
            assert me_b.status_code == 401

            for _ in range(3):
                await env_a.client.post(
                    "/api/auth/login", json={"email": user.email, "password": "wrong one"}
                )
            blocked = await client_b.post(
                "/api/auth/login", json={"email": user.email, "password": PASSWORD}
            )
            assert blocked.status_code == 429
