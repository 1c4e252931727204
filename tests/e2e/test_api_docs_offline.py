"""Swagger UI and Scalar work offline: headless Chromium renders the operations list.

The app is served by uvicorn on a loopback port; the browser may reach that server and
nothing else (every other request is aborted and recorded), so a page that still needed
a CDN would stay blank and the test would name what it tried to load. The browser is
Debian's ``chromium`` (``make system-deps``), driven by playwright's Python package.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from _keel_procs import BUILT_INS, free_port
from litestar import Litestar
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright

from core.testing import AppFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not found: `make system-deps` installs Debian's chromium"
)
LOOPBACK = {"127.0.0.1", "localhost"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ME = "/api/users/me"
RENDER_TIMEOUT_MS = 30_000


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[str]:
    """``app`` (its lifespan already running) on a loopback port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


class Offline:
    """A page whose requests leave only for the loopback server; the rest is recorded."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.console_errors: list[str] = []

    async def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            self.blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def open(self, browser: Browser, url: str) -> Page:
        context = await browser.new_context()
        await context.route("**/*", self.route)
        page = await context.new_page()
        page.on("console", self.console)
        response = await page.goto(url)
        assert response is not None
        assert response.status == 200, url
        return page


def operations(document: dict[str, Any], tag: str | None = None) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` in the OpenAPI document (only those tagged ``tag`` if given)."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and (tag is None or tag in operation.get("tags", ()))
    }


@pytest.fixture
async def docs(keel_app_factory: AppFactory) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(base URL of a served app with every built-in plugin, its OpenAPI document)."""
    async with keel_app_factory(plugins=BUILT_INS) as env:
        document = (await env.client.get("/schema/openapi.json")).json()
        assert ("GET", ME) in operations(document, "users")
        async with serving(env.app) as base:
            yield base, document


@pytest.mark.e2e
@pytest.mark.parametrize("page_path", ["/schema", "/schema/swagger"])
async def test_swagger_ui_lists_every_operation_offline(
    docs: tuple[str, dict[str, Any]], page_path: str
) -> None:
    base, document = docs
    offline = Offline()
    async with chromium() as browser:
        page = await offline.open(browser, base + page_path)
        me = page.locator(f'.opblock-get .opblock-summary-path[data-path="{ME}"]')
        await me.first.wait_for(timeout=RENDER_TIMEOUT_MS)
        shown = await page.eval_on_selector_all(
            ".opblock",
            """blocks => blocks.map(b => [
                b.querySelector('.opblock-summary-method').textContent,
                b.querySelector('.opblock-summary-path').dataset.path,
            ])""",
        )
    assert {(method, path) for method, path in shown} == operations(document)
    assert offline.blocked == []
    assert offline.console_errors == []


@pytest.mark.e2e
async def test_scalar_shows_the_operations_offline(docs: tuple[str, dict[str, Any]]) -> None:
    base, document = docs
    offline = Offline()
    async with chromium() as browser:
        # a deep link, as a user would share it: Scalar opens that operation and its tag
        page = await offline.open(browser, f"{base}/schema/scalar#tag/users/GET{ME}")
        section = page.locator(f'section[id$="tag/users/GET{ME}"]')
        await section.wait_for(timeout=RENDER_TIMEOUT_MS)
        text = await section.inner_text()
        sidebar = await page.eval_on_selector_all(
            "[data-sidebar-id]", "items => items.map(i => i.dataset.sidebarId)"
        )
    assert re.search(rf"GET\s*{re.escape(ME)}", text), text
    tags = {m[1] for i in sidebar if (m := re.search(r"/tag/([^/]+)$", i))}
    assert tags == {t for op in all_operations(document) for t in op.get("tags", ())}
    users = {(m[1], m[2]) for i in sidebar if (m := re.search(r"/tag/users/([A-Z]+)(/.*)$", i))}
    assert users == operations(document, "users")
    assert offline.blocked == []
    assert offline.console_errors == []


def all_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation object of the OpenAPI document."""
    return [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
