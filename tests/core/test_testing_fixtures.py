"""The app-level pytest fixtures that plugin authors use (core.testing)."""

from __future__ import annotations

from core.testing import KeelTestApp
from core.testing._app import AppFactory


async def test_keel_app_serves_health_and_users(keel_app: KeelTestApp) -> None:
    response = await keel_app.client.get("/health/live")
    assert response.status_code == 200
    user, headers = await keel_app.signed_in("provider")
    me = await keel_app.client.get("/api/users/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == user.email
    assert me.json()["role"] == "provider"


async def test_keel_app_factory_enables_named_plugins(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory(plugins=[]) as env:
        assert list(env.keel.host.plugins) == ["accounts", "uploads"]  # the essential ones
        await env.drain()
