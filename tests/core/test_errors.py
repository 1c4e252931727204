"""One JSON error body for every 4xx and 5xx, from Litestar's errors and ours alike."""

from __future__ import annotations

import logging
import os
import socket
from typing import Annotated, Any, ClassVar

import msgspec
import pytest
import valkey.asyncio as valkey_async
from litestar import Litestar, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.testing import AsyncTestClient
from motor.motor_asyncio import AsyncIOMotorClient

from core import Plugin, hookimpl
from core.app import create_app
from core.errors import ConflictError, DomainError, NotFoundError
from core.pluginhost import InstalledPlugin, plugin_settings_types
from core.settings import load_settings


class Booking(msgspec.Struct):
    title: str
    seats: int


class TeapotError(DomainError):
    status = 418
    code = "teapot"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@post("/oops/bookings")
async def create_booking(
    data: JSONBody[Booking],
    notify: FromQuery[int] = 0,
    max_seats: Annotated[int, QueryParameter(name="maxSeats", ge=1)] = 1,
    request_tag: Annotated[str, HeaderParameter(name="X-Tag", max_length=3)] = "",
) -> Booking:
    return data


@get("/oops/conflict")
async def conflict() -> None:
    raise ConflictError("slot 3 is taken", details={"slot": 3})


@get("/oops/missing")
async def missing() -> None:
    raise NotFoundError("booking 'b1' not found")


@get("/oops/teapot")
async def teapot() -> None:
    raise TeapotError("short and stout")


@get("/oops/http")
async def http_error() -> None:
    raise HTTPException(status_code=409, detail="busy", extra={"why": "locked"})


@get("/oops/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@get("/oops/valkey-down")
async def valkey_down() -> None:
    client = valkey_async.Valkey(port=_dead_port(), socket_connect_timeout=0.5)
    try:
        await client.ping()
    finally:
        await client.aclose()


@get("/oops/mongo-down")
async def mongo_down() -> None:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(
        f"mongodb://127.0.0.1:{_dead_port()}/?directConnection=true",
        serverSelectionTimeoutMS=200,
    )
    try:
        await client.admin.command("ping")
    finally:
        client.close()


class OopsPlugin(Plugin):
    name = "oops"
    requires: ClassVar[tuple[str, ...]] = ()

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [
            create_booking,
            conflict,
            missing,
            teapot,
            http_error,
            boom,
            valkey_down,
            mongo_down,
        ]


def make_app(keel_settings_factory: Any, **overrides: Any) -> Litestar:
    base = keel_settings_factory(**overrides)
    installed = {"oops": InstalledPlugin("oops", OopsPlugin, "1.0", "test")}
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
            "plugins.enabled": ["oops"],
            **overrides,
        },
    )
    return create_app(settings, installed=installed)


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def app(keel_settings_factory: Any) -> Litestar:
    return make_app(keel_settings_factory, **{"server.max_body_bytes": 1000})


async def test_unknown_path_is_404_json(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


async def test_wrong_method_is_405_json(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.delete("/api/oops/conflict")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


async def test_validation_errors_list_each_bad_field(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/oops/bookings?notify=soon", json={"title": "Yoga", "seats": "many"}
        )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    by_field = {d["field"]: d for d in error["details"]}
    assert by_field["seats"]["location"] == "body"
    assert "int" in by_field["seats"]["message"]
    assert by_field["notify"]["location"] == "query"
    assert "seats" in error["message"]
    assert "notify" in error["message"]


async def test_missing_body_field_is_named(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.post("/api/oops/bookings", json={"title": "Yoga"})
    assert response.status_code == 400
    error = error_of(response)
    assert "seats" in error["message"]
    assert error["details"][0]["location"] == "body"


async def test_malformed_json_is_a_client_error(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/oops/bookings", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert error_of(response)["code"] in {"bad_request", "validation_error"}


@pytest.mark.parametrize(
    ("path", "status", "code", "details"),
    [
        ("/api/oops/conflict", 409, "conflict", {"slot": 3}),
        ("/api/oops/missing", 404, "not_found", None),
        ("/api/oops/teapot", 418, "teapot", None),
        ("/api/oops/http", 409, "conflict", {"why": "locked"}),
    ],
)
async def test_domain_and_http_errors_keep_status_code_and_details(
    app: Litestar, path: str, status: int, code: str, details: Any
) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.get(path)
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert error["details"] == details


async def test_500_hides_internals_and_logs_with_request_id(
    app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="core.http.errors")
    async with AsyncTestClient(app) as client:
        response = await client.get("/api/oops/boom", headers={"X-Request-ID": "req-500.check"})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert error["details"] == {"requestId": "req-500.check"}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    [record] = [r for r in caplog.records if r.name == "core.http.errors"]
    assert "req-500.check" in record.getMessage()
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


async def test_body_over_the_limit_is_413_json(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/oops/bookings",
            content=b'{"title": "' + b"x" * 2000 + b'", "seats": 1}',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("path", "service"), [("/api/oops/valkey-down", "valkey"), ("/api/oops/mongo-down", "mongodb")]
)
async def test_unreachable_dependency_is_503_naming_it(
    app: Litestar, path: str, service: str
) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.get(path)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "service_unavailable"
    assert error["details"] == {"service": service}
    assert service in error["message"]
    assert response.headers["retry-after"]


async def test_error_responses_carry_request_id_and_security_headers(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.get("/nowhere", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_validation_errors_name_parameters_as_clients_send_them(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/oops/bookings?maxSeats=0",
            json={"title": "Yoga", "seats": 1},
            headers={"X-Tag": "toolong"},
        )
    assert response.status_code == 400
    fields = sorted(d["field"] for d in error_of(response)["details"])
    assert fields == sorted(["maxSeats", "X-Tag"])  # not max_seats / request_tag
