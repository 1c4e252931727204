"""The app: plugin routes under /api, OpenAPI, request ids, security headers, CORS,
logging, the in-process worker and ``app_factory``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Router, WebSocket, get, post, websocket
from litestar.params import FromQuery
from litestar.testing import AsyncTestClient

from core import Job, Plugin, hookimpl
from core.app import app_factory, create_app
from core.health import keel_version
from core.http import KeelDep
from core.http.middleware import DOCS_CSP
from core.logging import (
    BatchingStreamHandler,
    ConsoleFormatter,
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    current_request_id,
    direct_access_handlers,
    reset_logging,
)
from core.pluginhost import InstalledPlugin, plugin_settings_types
from core.settings import Settings, load_settings

log = logging.getLogger("tests.app")


@get("/shown/whoami", sync_to_thread=False)
def whoami(keel: KeelDep) -> dict[str, Any]:
    log.info("serving whoami")
    return {"database": keel.settings.database.name, "request_id": current_request_id()}


@websocket("/shown/ws")
async def request_id_socket(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_json({"request_id": current_request_id()})
    await socket.close()


class ShownPlugin(Plugin):
    name = "shown"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [whoami, request_id_socket]


@get("/", sync_to_thread=False)
def hidden_index() -> str:
    return "should never be served"


class HiddenPlugin(Plugin):
    name = "hidden"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [Router(path="/hidden", route_handlers=[hidden_index])]


async def remember(ctx: dict[str, Any], *, value: str) -> None:
    keel = ctx["keel"]
    await keel.valkey.rpush(keel.key("worked"), value)


@post("/worker/jobs", status_code=202)
async def enqueue_job(keel: KeelDep, value: FromQuery[str]) -> None:
    await keel.jobs.enqueue("worker.remember", value=value)


@get("/worker/done")
async def done_jobs(keel: KeelDep) -> list[str]:
    values: list[bytes] = await keel.valkey.lrange(keel.key("worked"), 0, -1)  # type: ignore[misc]
    return [v.decode() for v in values]


class WorkerPlugin(Plugin):
    name = "worker"

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [enqueue_job, done_jobs]

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("remember", remember)]


INSTALLED = {
    p.name: InstalledPlugin(p.name, p, "1.0", "test")
    for p in (ShownPlugin, HiddenPlugin, WorkerPlugin)
}


def make_settings(
    keel_settings_factory: Any, enabled: list[str], overrides: dict[str, Any] | None = None
) -> Settings:
    overrides = overrides or {}
    base = keel_settings_factory(**overrides)
    return load_settings(
        os.devnull,
        environ={},
        plugin_types=plugin_settings_types(INSTALLED),
        overrides={
            "database.url": base.database.url,
            "database.name": base.database.name,
            "valkey.url": base.valkey.url,
            "valkey.key_prefix": base.valkey.key_prefix,
            "auth.jwt_secret": base.auth.jwt_secret,
            "plugins.enabled": enabled,
            **overrides,
        },
    )


def make_app(
    keel_settings_factory: Any,
    enabled: list[str],
    overrides: dict[str, Any] | None = None,
    *,
    run_worker: bool = False,
) -> Litestar:
    settings = make_settings(keel_settings_factory, enabled, overrides)
    return create_app(settings, installed=INSTALLED, run_worker=run_worker)


async def test_plugin_routes_are_mounted_under_api_with_the_keel_dependency(
    keel_settings_factory: Any,
) -> None:
    app = make_app(keel_settings_factory, ["shown"])
    async with AsyncTestClient(app) as client:
        response = await client.get("/api/shown/whoami")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == app.state.keel.settings.database.name
    assert body["request_id"] == response.headers["x-request-id"]


async def test_disabled_plugin_routes_404_and_are_absent_from_openapi(
    keel_settings_factory: Any,
) -> None:
    app = make_app(keel_settings_factory, ["shown"])
    async with AsyncTestClient(app) as client:
        hidden = await client.get("/api/hidden/")
        schema = (await client.get("/schema/openapi.json")).json()
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert "/api/shown/whoami" in schema["paths"]
    assert schema["paths"]["/api/shown/whoami"]["get"]["tags"] == ["shown"]
    assert not [p for p in schema["paths"] if p.startswith("/api/hidden")]

    both = make_app(keel_settings_factory, ["shown", "hidden"])
    async with AsyncTestClient(both) as client:
        served = await client.get("/api/hidden/")
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert served.status_code == 200
    assert paths["/api/hidden"]["get"]["tags"] == ["hidden"]


async def test_openapi_document_and_doc_pages(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, ["shown"], {"app.name": "marketplace"})
    async with AsyncTestClient(app) as client:
        document = await client.get("/schema/openapi.json")
        pages = {p: await client.get(p) for p in ("/schema", "/schema/swagger", "/schema/scalar")}
    info = document.json()["info"]
    assert info == {"title": "marketplace", "version": keel_version()}
    assert {"/health", "/health/live", "/health/ready"} <= set(document.json()["paths"])
    assert document.headers["content-security-policy"].startswith("default-src 'self'")
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<html" in page.text.lower(), path
        csp = page.headers["content-security-policy"]
        assert csp == DOCS_CSP, path  # assets are served by keel itself: no CDN is allowed
        assert "https:" not in csp, path
    assert "swagger-ui" in pages["/schema/swagger"].text
    assert "scalar" in pages["/schema/scalar"].text.lower()


async def test_request_id_is_generated_or_accepted_when_sane(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, ["shown"])
    async with AsyncTestClient(app) as client:
        generated = await client.get("/api/shown/whoami")
        accepted = await client.get("/api/shown/whoami", headers={"X-Request-ID": "edge.42_a-b"})
        too_long = await client.get("/health/live", headers={"X-Request-ID": "a" * 129})
        bad_chars = await client.get("/health/live", headers={"X-Request-ID": "a b;<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert accepted.headers["x-request-id"] == "edge.42_a-b"
    assert accepted.json()["request_id"] == "edge.42_a-b"
    for response in (too_long, bad_chars):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_websocket_connections_get_a_request_id_too(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, ["shown"])
    async with AsyncTestClient(app) as client:
        socket = await client.websocket_connect("/api/shown/ws", headers={"X-Request-ID": "ws-1"})
        with socket:
            assert socket.receive_json() == {"request_id": "ws-1"}


async def test_security_headers_on_every_response(keel_settings_factory: Any) -> None:
    app = make_app(keel_settings_factory, ["shown"])
    async with AsyncTestClient(app) as client:
        responses = [
            await client.get("/health/live"),
            await client.get("/api/shown/whoami"),
            await client.get("/nowhere"),
        ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )
        assert "strict-transport-security" not in response.headers


async def test_cors_from_settings(keel_settings_factory: Any) -> None:
    app = make_app(
        keel_settings_factory, ["shown"], {"server.cors_origins": ["https://app.example"]}
    )
    async with AsyncTestClient(app) as client:
        preflight = await client.options(
            "/api/shown/whoami",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
            },
        )
        simple = await client.get("/api/shown/whoami", headers={"Origin": "https://app.example"})
        foreign = await client.get("/api/shown/whoami", headers={"Origin": "https://evil.example"})
    assert preflight.status_code in {200, 204}
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


async def test_json_logs_with_request_id_in_a_rotating_file(
    keel_settings_factory: Any, tmp_path: Path
) -> None:
    overrides = {"app.log_format": "json", "app.log_dir": str(tmp_path)}
    settings = make_settings(keel_settings_factory, ["shown"], overrides)
    app = create_app(settings, installed=INSTALLED)
    configure_logging(settings)
    try:
        async with AsyncTestClient(app) as client:
            response = await client.get("/api/shown/whoami", headers={"X-Request-ID": "log-1"})
        logging.getLogger("uvicorn.error").warning("from uvicorn")
    finally:
        reset_logging()
    own_file = tmp_path / f"keel-app-{os.getpid()}.log"  # one file per process
    lines = [json.loads(line) for line in own_file.read_text().splitlines()]
    assert response.status_code == 200
    access = [e for e in lines if e["logger"] == "core.access" and e["requestId"] == "log-1"]
    assert len(access) == 1
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/api/shown/whoami"
    assert access[0]["status"] == 200
    assert access[0]["durationMs"] >= 0
    handler_line = next(e for e in lines if e["msg"] == "serving whoami")
    assert handler_line["requestId"] == "log-1"
    assert handler_line["clientIp"] == access[0]["clientIp"]
    uvicorn_line = next(e for e in lines if e["logger"] == "uvicorn.error")
    assert uvicorn_line["msg"] == "from uvicorn"
    assert uvicorn_line["requestId"] == "-"
    assert "clientIp" not in uvicorn_line


def test_console_format_is_readable_with_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "core.test", "levelno": 20, "levelname": "INFO", "msg": "hello %s", "args": ("x",)}
    )
    record.request_id = "rid-7"
    line = ConsoleFormatter().format(record)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} INFO    core\.test \[rid-7\] hello x", line)


async def test_in_process_worker_runs_jobs_and_stops_within_the_grace_period(
    keel_settings_factory: Any,
) -> None:
    app = make_app(keel_settings_factory, ["worker"], {"server.grace_period_s": 2}, run_worker=True)
    async with AsyncTestClient(app) as client:
        assert (await client.post("/api/worker/jobs?value=one")).status_code == 202
        deadline = time.monotonic() + 10
        while (done := (await client.get("/api/worker/done")).json()) != ["one"]:
            assert time.monotonic() < deadline, done
            await asyncio.sleep(0.05)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2 + 2


async def test_keel_tells_plugins_whether_the_process_runs_the_queue_workers(
    keel_settings_factory: Any,
) -> None:
    for run_worker in (True, False):
        app = make_app(keel_settings_factory, ["worker"], run_worker=run_worker)
        async with AsyncTestClient(app):
            assert app.state.keel.runs_worker is run_worker


def test_app_factory_reads_keel_config_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[app]\nname = "from-file"\n\n[plugins]\nenabled = ["bookings"]\n')
    monkeypatch.setenv("KEEL_CONFIG", str(config))
    monkeypatch.setenv("KEEL_SERVER__MAX_BODY_BYTES", "1234")
    monkeypatch.setenv("KEEL_AUTH__JWT_SECRET", "a-test-signing-key-of-at-least-32-bytes")
    try:
        app = app_factory()
    finally:
        reset_logging()
    assert isinstance(app, Litestar)
    assert app.openapi_schema.info.title == "from-file"
    assert app.request_max_body_size == 1234
    assert not any(route.path.startswith("/api/hello") for route in app.routes)


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()])
def test_direct_access_lines_match_formatted_records(formatter: logging.Formatter) -> None:
    line = (1_764_000_000.25, "rid-9", "POST", "/api/x", 201, 12.5, "203.0.113.7", "u-1")
    record = logging.makeLogRecord(
        {
            "name": "core.access",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "%s %s %d %.2fms",
            "args": ("POST", "/api/x", 201, 12.5),
            "created": line[0],
            "msecs": 250.0,
            "method": "POST",
            "path": "/api/x",
            "status": 201,
            "duration_ms": 12.5,
            "request_id": "rid-9",
            "client_ip": "203.0.113.7",
            "user_id": "u-1",
        }
    )
    direct = formatter.format_access(line)  # type: ignore[attr-defined]
    assert direct == formatter.format(record)


def test_access_lines_skip_records_only_when_every_handler_is_keels() -> None:
    stream = io.StringIO()
    parent = logging.Logger("keel-test-parent")
    child = logging.Logger("keel-test-parent.access")
    child.parent = parent
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    parent.addHandler(handler)
    assert direct_access_handlers(child) == [handler]
    handler.add_lines(['{"a": 1}'])
    assert stream.getvalue() == ""  # batched ...
    handler.flush()
    assert stream.getvalue() == '{"a": 1}\n'  # ... until flushed
    foreign = logging.StreamHandler(io.StringIO())
    parent.addHandler(foreign)
    assert direct_access_handlers(child) is None
    handler.close()
