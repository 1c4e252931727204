"""Example values from the JSON schemas of an OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]
MAX_DEPTH = 6

_FORMATS: dict[str, Any] = {
    "date-time": "{{$isoTimestamp}}",
    "date": "2026-01-01",
    "time": "10:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "{{$guid}}",
    "binary": "",
}
_HEX24 = re.compile(r"\[0-9a-f\]\{24\}")


class Document:
    """An OpenAPI document with ``$ref`` resolution and example bodies."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def resolve(self, schema: Schema | None) -> Schema:
        """``schema`` with any top-level ``$ref`` followed (``{}`` for None)."""
        seen = 0
        while schema is not None and "$ref" in schema and seen < MAX_DEPTH:
            node: Any = self.raw
            for part in str(schema["$ref"]).removeprefix("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, Mapping) else {}
            schema, seen = node, seen + 1
        return schema or {}

    def branch(self, schema: Schema | None) -> Schema:
        """The schema, or for a ``oneOf``/``anyOf`` its first branch that is not null.

        Keywords next to ``oneOf`` (``maxLength``, ``pattern``, ...) are kept: msgspec
        writes an optional field's constraints there.
        """
        schema = self.resolve(schema)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [self.resolve(s) for s in schema[key]]
                chosen = next((s for s in options if s.get("type") != "null"), {})
                rest = {k: v for k, v in schema.items() if k != key}
                return {**rest, **chosen}
        return schema

    def required_keys(self, schema: Schema | None) -> list[str]:
        """The required top-level properties of an object schema (sorted)."""
        resolved = self.branch(schema)
        return sorted(resolved.get("required", [])) if "properties" in resolved else []

    def example(self, schema: Schema | None, depth: int = 0) -> Any:
        """A plausible value for ``schema``: its example, default, const or first enum
        value, else one built from its type and constraints.

        Objects get their required properties; an object that requires none gets all
        of them (a body of optional fields would otherwise be empty).
        """
        schema = self.branch(schema)
        given = _given(schema)
        if given is not None or depth > MAX_DEPTH:
            return given
        kind = schema.get("type")
        kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "array":
            count = max(1, int(schema.get("minItems", 1)))
            return [self.example(schema.get("items"), depth + 1) for _ in range(count)]
        return _scalar(schema, kind)

    def _object(self, schema: Schema, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        names = list(schema.get("required") or properties)
        return {name: self.example(properties.get(name), depth + 1) for name in names}


def _given(schema: Schema) -> Any:
    """The schema's own example, default, const or first enum value, else None."""
    for key in ("example", "default", "const"):
        if schema.get(key) is not None:
            return schema[key]
    if examples := schema.get("examples"):
        return next(iter(examples.values() if isinstance(examples, Mapping) else examples))
    return next((v for v in schema.get("enum", []) if v is not None), None)


def _scalar(schema: Schema, kind: Any) -> Any:
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    return _string(schema) if kind == "string" else None


def _number(schema: Schema, *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    value = max(1, low)
    if step := schema.get("multipleOf"):
        value = step * max(1, -(-value // step))
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    return int(value) if integer else float(value)


def _string(schema: Schema) -> str:
    if fmt := _FORMATS.get(str(schema.get("format", ""))):
        return str(fmt)
    pattern = str(schema.get("pattern", ""))
    if _HEX24.search(pattern):
        return "0" * 24
    if "[0-9]{6}" in pattern:
        return "000000"
    if pattern.startswith("^[A-Z]{3}"):
        return "EUR"
    low = int(schema.get("minLength", 1))
    text = "example"
    return (text * (1 + low // len(text)))[: max(low, len(text))][: schema.get("maxLength", 64)]
