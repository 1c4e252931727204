"""App-level fixtures: a running keel app, an HTTP client, users, and queue draining.

``keel_app_factory`` builds :func:`core.app.create_app` on the test's own settings, runs
its lifespan in the current event loop and speaks ASGI to it through httpx (no socket),
so a plugin's tests see exactly what a client would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
import msgspec
import pytest
from bson import ObjectId
from litestar import Litestar

from core.app import create_app
from core.context import Keel
from core.plugin import Plugin
from core.pluginhost import InstalledPlugin, PluginHost
from core.runtime import close_keel, open_keel, run_worker
from core.settings import PluginsSettings, Settings
from core.testing._mailbox import Mailbox
from core.testing._stack import SettingsFactory

PASSWORD = "correct horse battery staple"  # noqa: S105 - test users only
"""The password of every user made by :meth:`KeelTestApp.user`."""


@dataclass
class KeelTestApp:
    """One test's running app, its client and helpers."""

    app: Litestar
    client: httpx.AsyncClient
    settings: Settings
    mailbox: Mailbox

    @property
    def keel(self) -> Keel:
        """The app's runtime context (db, valkey, events, jobs, mail)."""
        keel: Keel = self.app.state.keel
        return keel

    async def drain(self) -> None:
        """Run every queued job and inline listener until nothing is left."""
        for _ in range(10):
            await run_worker(self.keel, burst=True, scheduler=False)
            await self.keel.events.drain()
            if not any((await self.keel.jobs.depths()).values()):
                return

    async def user(
        self,
        *,
        role: str = "customer",
        verified: bool = True,
        email: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Create a user whose password is :data:`PASSWORD` (no event, no email), through
        the plugin that implements ``create_user`` (the essential ``accounts`` plugin:
        the result is its ``User`` document)."""
        return await self.keel.host.create_user(
            self.keel,
            email=email or f"{role}.{ObjectId()}@example.com",
            password=PASSWORD,
            name=name or f"{role.title()} Person",
            role=role,
            verified=verified,
            publish=False,
        )

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        """Log in through the API; the token pair body."""
        response = await self.client.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == HTTPStatus.OK, response.text  # noqa: S101 - test helper
        body: dict[str, Any] = response.json()
        return body

    async def signed_in(self, role: str = "customer", **kwargs: Any) -> tuple[Any, dict[str, str]]:
        """A new verified user of ``role`` and the ``Authorization`` header of a login."""
        user = await self.user(role=role, **kwargs)
        tokens = await self.login(user.email)
        return user, {"Authorization": f"Bearer {tokens['accessToken']}"}


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan, entered and left in one task of its own.

    pytest-asyncio may finalise a fixture in another task than the one that set it up,
    and the lifespan's task group must be left in the task that entered it.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(hold())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises the startup error
    try:
        yield
    finally:
        stop.set()
        await task


AppFactory = Callable[..., AbstractAsyncContextManager[KeelTestApp]]


def with_plugins(
    settings: Settings,
    installed: Mapping[str, InstalledPlugin],
    enabled: Iterable[str] | None,
    extra: Iterable[type[Plugin]] = (),
    standby: Iterable[str] = (),
) -> tuple[Settings, dict[str, InstalledPlugin]]:
    """``settings`` with ``enabled`` plugins (default: as configured) plus test plugins,
    and ``standby`` ones (loaded, off until switched on live)."""
    everything = dict(installed)
    tables = dict(settings.plugins.tables)
    for cls in extra:
        everything[cls.name] = InstalledPlugin(cls.name, cls, "0", "tests")
        tables.setdefault(cls.name, cls.settings_type())
    names = list(settings.plugins.enabled if enabled is None else enabled)
    waiting = list(standby)
    names += [cls.name for cls in extra if cls.name not in names and cls.name not in waiting]
    plugins = PluginsSettings(enabled=names, tables=tables, standby=waiting)
    return msgspec.structs.replace(settings, plugins=plugins), everything


@pytest.fixture
def keel_app_factory(
    keel_settings_factory: SettingsFactory,
    keel_installed: dict[str, InstalledPlugin],
    mailbox: Mailbox,
) -> AppFactory:
    """``async with keel_app_factory(plugins=None, extra=(), **dotted) as env``.

    ``plugins`` names the enabled plugins (default: those in config.toml), ``extra``
    adds test-only Plugin classes (enabled), ``standby`` names plugins loaded but off
    (``plugins.standby``), ``dotted`` are settings overrides
    (``server__port=1`` or ``{"server.port": 1}`` via ``overrides=``).
    """

    @asynccontextmanager
    async def build(
        plugins: Iterable[str] | None = None,
        extra: Iterable[type[Plugin]] = (),
        overrides: Mapping[str, Any] | None = None,
        standby: Iterable[str] = (),
        **dotted: Any,
    ) -> AsyncIterator[KeelTestApp]:
        settings, installed = with_plugins(
            keel_settings_factory(overrides, **dotted), keel_installed, plugins, extra, standby
        )
        app = create_app(settings, installed=installed)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with (
            running(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            yield KeelTestApp(app=app, client=client, settings=settings, mailbox=mailbox)

    return build


@pytest.fixture
async def keel_app(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    """A running app with the plugins enabled in config.toml, on this test's own data."""
    async with keel_app_factory() as env:
        yield env


KeelFactory = Callable[..., Awaitable[Keel]]


@pytest.fixture
async def keel_factory(keel_settings_factory: SettingsFactory) -> AsyncIterator[KeelFactory]:
    """``await keel_factory(*plugin_classes, **dotted) -> Keel``: a runtime context (no
    HTTP app) with only the given test plugins, on this test's database and key prefix.

    Each call opens its own connections, like a separate process would; all are closed
    when the test ends. Plugins' ``on_startup`` hooks are not run.
    """
    opened: list[Keel] = []

    async def make(*plugins: type[Plugin], **dotted: Any) -> Keel:
        settings, installed = keel_settings_factory.for_plugins(plugins, **dotted)
        keel = await open_keel(settings, PluginHost(settings, installed))
        opened.append(keel)
        return keel

    yield make
    for keel in opened:
        await close_keel(keel)
