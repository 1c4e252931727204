"""The /health endpoints: liveness, readiness with core and plugin checks, admin detail."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core import HealthCheck, Plugin, hookimpl
from core.app import create_app
from core.context import Keel
from core.health import CHECK_TIMEOUT_S, keel_version
from core.pluginhost import InstalledPlugin, discover, plugin_settings_types
from core.settings import load_settings


class HealthyPlugin(Plugin):
    name = "healthy"

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        async def cache_warm(keel: Keel) -> None:
            await keel.valkey.ping()

        return [HealthCheck("cache", cache_warm)]


class BrokenPlugin(Plugin):
    name = "broken"

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        async def upstream(keel: Keel) -> None:
            raise ConnectionRefusedError("payments upstream refused the connection")

        return [HealthCheck("upstream", upstream)]


class StuckPlugin(Plugin):
    name = "stuck"

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        async def forever(keel: Keel) -> None:
            await asyncio.Event().wait()

        return [HealthCheck("forever", forever)]


def make_app(keel_settings_factory: Any, *plugins: type[Plugin], **overrides: Any) -> Litestar:
    base = keel_settings_factory(**overrides)
    installed = {p.name: InstalledPlugin(p.name, p, "1.0", "test") for p in plugins}
    installed["accounts"] = discover()["accounts"]  # who is an admin, for /health/detailed
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
            "plugins.enabled": [p.name for p in plugins],
            **overrides,
        },
    )
    return create_app(settings, installed=installed)


async def test_health_reports_status_version_uptime(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, HealthyPlugin, **{"app.name": "marketplace"})
    async with AsyncTestClient(app) as client:
        health = await client.get("/health")
        live = await client.get("/health/live")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["name"] == "marketplace"
    assert body["version"] == keel_version()
    assert body["uptimeSeconds"] >= 0
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}


async def test_ready_runs_core_and_plugin_checks(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, HealthyPlugin)
    async with AsyncTestClient(app) as client:
        ready = await client.get("/health/ready")
        db = await client.get("/health/db")
        valkey = await client.get("/health/valkey")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == {"mongodb", "valkey", "queue", "healthy.cache"}
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert db.status_code == 200
    assert set(db.json()["checks"]) == {"mongodb"}
    assert valkey.status_code == 200
    assert set(valkey.json()["checks"]) == {"valkey"}


async def test_failing_plugin_check_makes_ready_503_naming_it(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, HealthyPlugin, BrokenPlugin)
    async with AsyncTestClient(app) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "broken.upstream" in error["message"]
    assert error["details"]["failing"] == ["broken.upstream"]
    failed = error["details"]["checks"]["broken.upstream"]
    assert failed["status"] == "fail"
    assert "payments upstream refused" in failed["error"]
    assert error["details"]["checks"]["healthy.cache"]["status"] == "ok"
    assert live.status_code == 200


async def test_hanging_check_times_out_instead_of_hanging(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, StuckPlugin)
    async with AsyncTestClient(app) as client:
        started = time.monotonic()
        ready = await client.get("/health/ready")
        elapsed = time.monotonic() - started
    assert ready.status_code == 503
    details = ready.json()["error"]["details"]
    assert details["failing"] == ["stuck.forever"]
    assert "timed out" in details["checks"]["stuck.forever"]["error"]
    assert elapsed < CHECK_TIMEOUT_S + 1.5


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_valkey_down_names_valkey_and_queue(keel_settings_factory: Any) -> None:
    dead = f"redis://127.0.0.1:{_dead_port()}/0"
    app = make_app(keel_settings_factory, **{"valkey.url": dead, "valkey.timeout_s": 0.5})
    async with AsyncTestClient(app) as client:
        started = time.monotonic()
        ready = await client.get("/health/ready")
        valkey = await client.get("/health/valkey")
        db = await client.get("/health/db")
        elapsed = time.monotonic() - started
    assert ready.status_code == 503
    failing = ready.json()["error"]["details"]["failing"]
    assert set(failing) == {"valkey", "queue"}
    assert valkey.status_code == 503
    assert db.status_code == 200
    assert elapsed < 3 * CHECK_TIMEOUT_S


async def test_detailed_is_for_admins_only(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory)
    async with AsyncTestClient(app) as client:
        anonymous = await client.get("/health/detailed")
        forged = await client.get(
            "/health/detailed", headers={"Authorization": "Bearer not-a-real-token"}
        )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert forged.status_code == 401


async def test_detailed_shows_versions_plugins_queues_to_an_admin(
    keel_settings_factory: Any,
) -> None:
    from bson import ObjectId

    from plugins.accounts.documents import User
    from plugins.accounts.tokens import TokenCodec

    app = make_app(keel_settings_factory, HealthyPlugin)
    # In this event loop (AsyncTestClient serves from a thread of its own), so that the
    # test may use the app's connections too.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        keel: Keel = app.state.keel
        codec = TokenCodec(keel.settings)
        await keel.db.get_collection(User).insert_many(
            [
                {"_id": ObjectId(c * 24), "email_key": f"{c}@example.com", "role": role}
                for c, role in (("a", "admin"), ("c", "customer"))
            ]
        )
        admin = {"Authorization": f"Bearer {codec.issue('a' * 24, 'admin', 'fam-admin')}"}
        customer = {"Authorization": f"Bearer {codec.issue('c' * 24, 'customer', 'fam-cust')}"}
        await keel.jobs.enqueue("core.send_mail", to=["x@example.com"], subject="s", text="t")
        detailed = await client.get("/health/detailed", headers=admin)
        refused = await client.get("/health/detailed", headers=customer)
    assert detailed.status_code == 200, detailed.text
    body = detailed.json()
    assert body["status"] == "ok"
    assert body["version"] == keel_version()
    assert {"python", "keel", "litestar"} <= set(body["versions"])
    assert body["plugins"][1:] == [{"name": "healthy", "version": "1.0", "distribution": "test"}]
    assert body["plugins"][0]["name"] == "accounts"  # essential: loaded though not listed
    assert body["queues"]["email"] == 1
    assert set(body["queues"]) == set(keel.settings.queue.names)
    assert body["workers"] == {name: {} for name in keel.settings.queue.names}
    assert set(body["checks"]) == {"mongodb", "valkey", "queue", "healthy.cache"}
    assert refused.status_code == 403
