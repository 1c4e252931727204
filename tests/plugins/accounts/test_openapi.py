"""The accounts operations in the OpenAPI document: every status they answer, the
constraints their bodies are checked against."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Env


async def _paths(env: Env) -> dict[str, Any]:
    paths: dict[str, Any] = (await env.client.get("/schema/openapi.json")).json()["paths"]
    return paths


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/auth/login", "post", {"200", "202", "400", "401", "429"}),
        ("/api/auth/verify-otp", "post", {"200", "400", "401", "429"}),
        ("/api/auth/refresh", "post", {"200", "400", "401", "429"}),
        ("/api/auth/register", "post", {"202", "400", "422", "429"}),
        ("/api/auth/reset-password", "post", {"200", "400", "422", "429"}),
        ("/api/auth/change-password", "post", {"200", "400", "401", "422", "429"}),
        ("/api/users/me", "get", {"200", "401", "404"}),
        ("/api/users/me", "patch", {"200", "400", "401", "404", "422"}),
        ("/api/users/{user_id}", "patch", {"200", "400", "401", "403", "404"}),
    ],
)
async def test_every_status_an_operation_answers_is_documented(
    env: Env, path: str, method: str, statuses: set[str]
) -> None:
    responses = (await _paths(env))[path][method]["responses"]
    assert statuses <= set(responses)
    for status in statuses - {"200", "202"}:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


async def test_profile_fields_carry_the_checks_the_server_makes(env: Env) -> None:
    body = (await _paths(env))["/api/users/me"]["patch"]["requestBody"]["content"]
    schema = (await env.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema[ref]["properties"]
    avatar, phone = fields["avatar"], fields["phone"]
    pattern = re.compile(avatar["pattern"])
    assert avatar["maxLength"] == len("/api/uploads/0123456789abcdef01234567/content")
    assert pattern.search("0123456789abcdef01234567")
    assert pattern.search("/api/uploads/0123456789abcdef01234567/content")
    for refused in ("0", "0123456789ABCDEF01234567", "0123456789abcdef01234567\n"):
        assert not pattern.search(refused)
    assert not re.search(phone["pattern"], "000\n")
    assert (phone["minLength"], phone["maxLength"]) == (3, 32)


async def test_email_pattern_means_the_same_to_json_schema_as_to_the_server(env: Env) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis' JSON Schema engine
    schemas = (await env.client.get("/schema/openapi.json")).json()["components"]["schemas"]
    login = next(s for name, s in schemas.items() if name.endswith("Login"))
    email = {"type": "string", **login["properties"]["email"]}
    validator = jsonschema_rs.validator_for(email)
    for address in ("me@example.com", "me@example.\x85com", "me@example.com\n", "m\ufeffe@x.io"):
        response = await env.client.post(
            "/api/auth/login", json={"email": address, "password": "whatever"}
        )
        assert (response.status_code != 400) == validator.is_valid(address), address
