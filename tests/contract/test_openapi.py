"""The OpenAPI document covers every route of every built-in plugin."""

from __future__ import annotations

from core.testing import KeelTestApp

BUILTIN = ["bookings", "search", "realtime", "payments", "cron", "notifications"]


async def test_openapi_renders_with_every_builtin_plugin(keel_app_factory) -> None:
    async with keel_app_factory(plugins=BUILTIN) as env:
        env: KeelTestApp
        response = await env.client.get("/schema/openapi.json")
        assert response.status_code == 200, response.text[:2000]
        paths = response.json()["paths"]
        assert "/api/users/me" in paths
        for path, operations in paths.items():
            for method, operation in operations.items():
                assert operation.get("responses"), f"{method.upper()} {path} has no responses"
        for page in ("/schema/swagger", "/schema/scalar"):
            assert (await env.client.get(page)).status_code == 200
