"""The OpenAPI document covers every route of every built-in plugin, truthfully."""

from __future__ import annotations

from core.testing import KeelTestApp

BUILTIN = ["bookings", "search", "realtime", "payments", "cron", "notifications"]
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _concrete(path: str, operations: dict) -> str:
    """``path`` with each parameter replaced by a value of its documented type."""
    params = [p for op in operations.values() for p in op.get("parameters", [])]
    formats = {p["name"]: p.get("schema", {}).get("format") for p in params if p["in"] == "path"}
    for name, fmt in formats.items():
        path = path.replace(f"{{{name}}}", "2026-01-01" if fmt == "date" else "0" * 24)
    return path


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


async def test_every_error_is_documented_with_keels_body(keel_app_factory) -> None:
    async with keel_app_factory(plugins=BUILTIN) as env:
        env: KeelTestApp
        document = (await env.client.get("/schema/openapi.json")).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, answer in operation["responses"].items():
                    if int(status) >= 400:
                        schema = answer["content"]["application/json"]["schema"]
                        assert schema == ERROR_REF, f"{method.upper()} {path} {status}"
                if operation.get("security"):
                    assert "401" in operation["responses"], f"{method.upper()} {path}"
        me = await env.client.get("/api/users/me")
        assert me.status_code == 401
        assert set(me.json()) == {"error"}
        assert set(me.json()["error"]) == {"code", "message", "details"}


async def test_options_allow_lists_every_documented_method(keel_app_factory) -> None:
    async with keel_app_factory(plugins=BUILTIN) as env:
        env: KeelTestApp
        document = (await env.client.get("/schema/openapi.json")).json()
        for path, operations in document["paths"].items():
            answer = await env.client.options(_concrete(path, operations))
            allowed = {m.strip() for m in answer.headers.get("allow", "").split(",")}
            expected = {m.upper() for m in operations} | {"OPTIONS"}
            assert allowed == expected, f"{path}: {answer.status_code} Allow {allowed}"
        services = await env.client.options("/api/services")
        assert {"GET", "POST"} <= {m.strip() for m in services.headers["allow"].split(",")}
