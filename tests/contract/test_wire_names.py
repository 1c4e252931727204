"""One convention on the wire: every JSON property and query parameter in the OpenAPI
document is camelCase (path parameters and enum values are not field names)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from core.testing import KeelTestApp

BUILTIN = ["bookings", "search", "realtime", "payments", "cron", "notifications"]
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _property_names(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """``(where, name)`` of every property of every schema nested in ``node``."""
    if isinstance(node, dict):
        for name in node.get("properties", {}) if isinstance(node.get("properties"), dict) else {}:
            yield where, name
        for key, child in node.items():
            yield from _property_names(child, f"{where}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _property_names(child, f"{where}[{i}]")


def _query_names(paths: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, operations in paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    yield f"{method.upper()} {path}", parameter["name"]


async def test_every_property_and_query_parameter_is_camel_case(keel_app_factory) -> None:
    async with keel_app_factory(plugins=BUILTIN) as env:
        env: KeelTestApp
        document = (await env.client.get("/schema/openapi.json")).json()
    names = [*_property_names(document, "$"), *_query_names(document["paths"])]
    assert len(names) > 100  # the walk really saw the document
    wrong = sorted({f"{where}: {name}" for where, name in names if not CAMEL.match(name)})
    assert wrong == [], "not camelCase:\n" + "\n".join(wrong)


def test_the_check_itself_tells_camel_from_snake() -> None:
    schema = {"components": {"schemas": {"A": {"properties": {"okName": {}, "bad_name": {}}}}}}
    assert [n for _, n in _property_names(schema, "$")] == ["okName", "bad_name"]
    assert [bool(CAMEL.match(n)) for n in ("accessToken", "id", "access_token", "AccessToken")] == [
        True,
        True,
        False,
        False,
    ]
