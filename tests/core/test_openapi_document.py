"""The OpenAPI document lists every status the server answers, with keel's error body,
and ``OPTIONS``/405 answers list exactly the methods a path has."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import msgspec
import pytest
from litestar import Controller, Litestar, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import AsyncTestClient

from core import Plugin, hookimpl
from core.app import create_app
from core.errors import ConflictError, NotFoundError
from core.http import SECURITY, admin_only, error_responses
from core.pluginhost import InstalledPlugin, plugin_settings_types
from core.settings import load_settings


class Thing(msgspec.Struct):
    name: str


class ThingReader(Controller):
    path = "/docs/things"

    @get("/")
    async def list_things(self, limit: FromQuery[int] = 10) -> list[Thing]:
        return [Thing("one")][:limit]


class ThingWriter(Controller):
    """Another controller on the same path: Litestar's own OPTIONS would forget GET."""

    path = "/docs/things"

    @post("/", responses=error_responses(ConflictError), opt={"rate_limit": ("minute", 100)})
    async def create_thing(self, data: JSONBody[Thing]) -> Thing:
        if data.name == "taken":
            raise ConflictError("thing 'taken' exists", details={"name": data.name})
        return data

    @delete("/{thing_id:str}", guards=[admin_only], security=SECURITY)
    async def delete_thing(self, thing_id: FromPath[str]) -> None:
        raise NotFoundError(f"thing {thing_id!r} not found")


class Settings(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    is_public: bool
    max_items: int


@post("/docs/settings", opt={"rate_limit": None})
async def put_settings(data: JSONBody[Settings]) -> Settings:
    return data


@get("/docs/open/{thing_id:str}", opt={"rate_limit": None})
async def open_thing(thing_id: FromPath[str]) -> Thing:
    raise NotFoundError(f"thing {thing_id!r} not found")


class DocsPlugin(Plugin):
    name = "docs"
    requires: ClassVar[tuple[str, ...]] = ()

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [ThingReader, ThingWriter, open_thing, put_settings]


@pytest.fixture
def app(keel_settings_factory: Any) -> Litestar:
    base = keel_settings_factory()
    installed = {"docs": InstalledPlugin("docs", DocsPlugin, "1.0", "test")}
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
            "plugins.enabled": ["docs"],
            "server.max_body_bytes": 1000,
        },
    )
    return create_app(settings, installed=installed)


def statuses(document: dict[str, Any], method: str, path: str) -> list[int]:
    return sorted(int(s) for s in document["paths"][path][method]["responses"])


def assert_error_body(document: dict[str, Any], response: Any, method: str, path: str) -> None:
    """The response's status is documented for the operation, with the shared component,
    and its body has exactly that component's shape."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (response.status_code, sorted(documented))
    content = documented[str(response.status_code)]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/Error"}
    schema = document["components"]["schemas"]["Error"]
    body = response.json()
    assert set(body) == set(schema["required"]) == {"error"}
    assert set(body["error"]) == set(schema["properties"]["error"]["required"])
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)


async def test_each_operation_documents_what_its_route_can_answer(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
    things, one = "/api/docs/things", "/api/docs/things/{thing_id}"
    assert statuses(document, "get", things) == [200, 400, 429, 500, 503]
    assert statuses(document, "post", things) == [201, 400, 409, 413, 429, 500, 503]
    assert statuses(document, "delete", one) == [204, 400, 401, 403, 404, 429, 500, 503]
    assert statuses(document, "get", "/api/docs/open/{thing_id}") == [200, 400, 404, 500, 503]
    assert statuses(document, "get", "/health/live") == [200, 500, 503]


async def test_every_error_response_is_the_one_shared_component(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)
                    assert "status_code" not in str(response), "Litestar's error body"


async def test_the_server_answers_the_documented_errors(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
        things, one = "/api/docs/things", "/api/docs/things/{thing_id}"
        invalid = await client.get("/api/docs/things?limit=many")
        assert invalid.status_code == 400
        assert_error_body(document, invalid, "get", things)
        assert invalid.json()["error"]["details"][0]["field"] == "limit"
        taken = await client.post("/api/docs/things", json={"name": "taken"})
        assert taken.status_code == 409
        assert_error_body(document, taken, "post", things)
        large = await client.post("/api/docs/things", json={"name": "x" * 2000})
        assert large.status_code == 413
        assert_error_body(document, large, "post", things)
        anonymous = await client.delete("/api/docs/things/abc")
        assert anonymous.status_code == 401
        assert_error_body(document, anonymous, "delete", one)
        missing = await client.get("/api/docs/open/abc")
        assert missing.status_code == 404
        assert_error_body(document, missing, "get", "/api/docs/open/{thing_id}")


async def test_rate_limited_answers_carry_the_documented_headers(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
        response = await client.post("/api/docs/things", json={"name": "new"})
    assert response.status_code == 201
    documented = document["paths"]["/api/docs/things"]["post"]["responses"]
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in documented["201"]["headers"]
        assert response.headers[header].isdigit()
    assert "Retry-After" in documented["429"]["headers"]


async def test_options_and_405_list_every_method_of_a_path(app: Litestar) -> None:
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
        answers = {
            "/api/docs/things": await client.options("/api/docs/things"),
            "/api/docs/things/{thing_id}": await client.options("/api/docs/things/abc"),
        }
        refused = await client.put("/api/docs/things")
    for path, answer in answers.items():
        assert answer.status_code == 204, (path, answer.text)  # no guard on OPTIONS
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed == {m.upper() for m in document["paths"][path]} | {"OPTIONS"}, path
    assert {m.strip() for m in answers["/api/docs/things"].headers["allow"].split(",")} == {
        "GET",
        "POST",
        "OPTIONS",
    }
    assert refused.status_code == 405
    assert {m.strip() for m in refused.headers["allow"].split(",")} == {"GET", "POST", "OPTIONS"}
    assert refused.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"isPublic": 0, "maxItems": 3}, "isPublic"),  # a number is not a boolean
        ({"isPublic": "true", "maxItems": 3}, "isPublic"),
        ({"isPublic": True, "maxItems": "3"}, "maxItems"),  # a string is not an integer
        ({"isPublic": True, "maxItems": 3.5}, "maxItems"),  # 3.0 is an integer (JSON Schema)
    ],
)
async def test_json_bodies_are_decoded_with_exact_types(
    app: Litestar, body: dict[str, Any], field: str
) -> None:
    async with AsyncTestClient(app) as client:
        refused = await client.post("/api/docs/settings", json=body)
        accepted = await client.post("/api/docs/settings", json={"isPublic": True, "maxItems": 3.0})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert [(d["field"], d["location"]) for d in error["details"]] == [(field, "body")]
    assert accepted.status_code == 201
    assert accepted.json() == {"isPublic": True, "maxItems": 3}
