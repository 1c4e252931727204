"""``RootRoutes`` records from ``register_routes`` mount at the app's root, not under /api."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from core import Plugin, RootRoutes, hookimpl


@get("/rooted/page", sync_to_thread=False, opt={"rate_limit": None})
def rooted_page() -> Response[str]:
    return Response("<p>hi</p>", media_type="text/html", headers={"content-security-policy": "x"})


@get("/nested", sync_to_thread=False)
def nested() -> dict[str, str]:
    return {"where": "api"}


class RootedPlugin(Plugin):
    """Serves one page at the root and one route under /api."""

    name = "rooted"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [nested, RootRoutes([rooted_page])]


async def test_root_routes_are_mounted_at_the_root(keel_app_factory: Any) -> None:
    async with keel_app_factory(plugins=[], extra=(RootedPlugin,)) as env:
        page = await env.client.get("/rooted/page")
        assert page.status_code == 200
        assert page.text == "<p>hi</p>"
        # a response that sets its own CSP keeps it (the middleware adds no second one)
        assert page.headers.get_list("content-security-policy") == ["x"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert (await env.client.get("/api/rooted/page")).status_code == 404
        assert (await env.client.get("/api/nested")).json() == {"where": "api"}
        assert (await env.client.get("/nested")).status_code == 404
        schema = (await env.client.get("/schema/openapi.json")).json()
        assert schema["paths"]["/rooted/page"]["get"]["tags"] == ["rooted"]
