"""Rate limits in Valkey: default and per-route limits, shared across app instances,
failing open when Valkey is down."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from core import Plugin, hookimpl
from core.app import create_app
from core.errors import ConfigError
from core.pluginhost import InstalledPlugin, plugin_settings_types
from core.settings import load_settings


@get("/limited/open", sync_to_thread=False)
def open_route() -> dict[str, str]:
    return {"ok": "open"}


@get("/limited/other", sync_to_thread=False)
def other_route() -> dict[str, str]:
    return {"ok": "other"}


@get("/limited/login", sync_to_thread=False, opt={"rate_limit": ("minute", 2)})
def login_route() -> dict[str, str]:
    return {"ok": "login"}


@get("/limited/exempt", sync_to_thread=False, opt={"rate_limit": None})
def exempt_route() -> dict[str, str]:
    return {"ok": "exempt"}


class LimitedPlugin(Plugin):
    name = "limited"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [open_route, other_route, login_route, exempt_route]


@get("/badlimit", sync_to_thread=False, opt={"rate_limit": ("fortnight", 3)})
def bad_limit_route() -> None:
    return None


class BadLimitPlugin(Plugin):
    name = "badlimit"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [bad_limit_route]


def make_app(
    keel_settings_factory: Any,
    overrides: dict[str, Any] | None = None,
    plugin: type[Plugin] = LimitedPlugin,
) -> Litestar:
    overrides = overrides or {}
    base = keel_settings_factory(**overrides)
    installed = {plugin.name: InstalledPlugin(plugin.name, plugin, "1.0", "test")}
    settings = load_settings(
        os.devnull,
        environ={},
        plugin_types=plugin_settings_types(installed),
        overrides={
            "database.url": base.database.url,
            "database.name": base.database.name,
            "valkey.url": base.valkey.url,
            "valkey.key_prefix": base.valkey.key_prefix,
            "auth.jwt_secret": base.auth.jwt_secret,
            "plugins.enabled": [plugin.name],
            **overrides,
        },
    )
    return create_app(settings, installed=installed)


LIMIT_3: dict[str, Any] = {"server.rate_limit.default_per_minute": 3}


async def test_default_limit_answers_429_with_json_and_retry_after(
    keel_settings_factory: Any,
) -> None:
    app = make_app(keel_settings_factory, LIMIT_3)
    async with AsyncTestClient(app) as client:
        allowed = [await client.get("/api/limited/open") for _ in range(3)]
        refused = await client.get("/api/limited/other")  # the budget is per client
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["ratelimit-limit"] == "3"
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == 3
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-request-id"]


async def test_health_and_schema_are_never_limited(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, {"server.rate_limit.default_per_minute": 1})
    async with AsyncTestClient(app) as client:
        assert (await client.get("/api/limited/open")).status_code == 200
        assert (await client.get("/api/limited/open")).status_code == 429
        for _ in range(3):
            assert (await client.get("/health/live")).status_code == 200
            assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_per_route_limit_counts_on_its_own(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, LIMIT_3)
    async with AsyncTestClient(app) as client:
        login = [(await client.get("/api/limited/login")).status_code for _ in range(3)]
        others = [(await client.get("/api/limited/open")).status_code for _ in range(3)]
        exempt = [(await client.get("/api/limited/exempt")).status_code for _ in range(5)]
        last = await client.get("/api/limited/login")
    assert login == [200, 200, 429]
    assert others == [200, 200, 200]
    assert exempt == [200] * 5
    assert last.status_code == 429
    assert last.json()["error"]["details"]["limit"] == 2
    assert last.headers["ratelimit-limit"] == "2"


async def test_two_app_instances_share_the_limit(keel_settings_factory: Any) -> None:
    first = make_app(keel_settings_factory, LIMIT_3)
    second = make_app(keel_settings_factory, LIMIT_3)
    assert first.state is not second.state
    async with AsyncTestClient(first) as one, AsyncTestClient(second) as two:
        codes = [
            (await one.get("/api/limited/open")).status_code,
            (await two.get("/api/limited/open")).status_code,
            (await one.get("/api/limited/open")).status_code,
            (await two.get("/api/limited/open")).status_code,
            (await one.get("/api/limited/open")).status_code,
        ]
    assert codes == [200, 200, 200, 429, 429]


async def test_limits_are_off_when_disabled(keel_settings_factory: Any) -> None:
    app = make_app(
        keel_settings_factory,
        {"server.rate_limit.enabled": False, "server.rate_limit.default_per_minute": 1},
    )
    async with AsyncTestClient(app) as client:
        codes = [(await client.get("/api/limited/login")).status_code for _ in range(4)]
    assert codes == [200] * 4


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_valkey_down_fails_open_quickly(keel_settings_factory: Any) -> None:
    dead = f"redis://127.0.0.1:{_dead_port()}/0"
    app = make_app(keel_settings_factory, {**LIMIT_3, "valkey.url": dead})
    async with AsyncTestClient(app) as client:
        started = time.monotonic()
        codes = [(await client.get("/api/limited/login")).status_code for _ in range(6)]
        elapsed = time.monotonic() - started
    assert codes == [200] * 6
    assert elapsed < 2.0


def test_bad_route_limit_is_a_config_error(keel_settings_factory: Any) -> None:
    with pytest.raises(ConfigError, match=r"GET /api/badlimit.*rate_limit"):
        make_app(keel_settings_factory, plugin=BadLimitPlugin)
