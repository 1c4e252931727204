"""A Postman v2.1 collection and its "Local" environment from an OpenAPI document."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from core.postman import _scripts as js
from core.postman._steps import ENVIRONMENT, NONE, STEPS, Step
from core.postman._values import Document

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
SAMPLE_FILE = "keel-sample.png"
"""The file the upload requests send (written next to the collection)."""
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"\{([^}/]+)\}")
_VAR = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")


@dataclass(frozen=True)
class Operation:
    """One operation of the document."""

    method: str
    path: str
    spec: Mapping[str, Any]

    @property
    def key(self) -> str:
        """``"METHOD /path"``."""
        return f"{self.method.upper()} {self.path}"

    @property
    def folders(self) -> tuple[str, ...]:
        """Its folder (the plugin: first tag) and subfolder (a second tag, if any)."""
        tags = tuple(self.spec.get("tags") or ("other",))
        return tags[:2]


def camel(name: str) -> str:
    """``service_id`` -> ``serviceId``."""
    head, *rest = re.split(r"[_\-\s]+", name)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def path_variable(path: str, param: str) -> str:
    """The variable holding a path parameter: ``serviceId`` for ``{service_id}``, and
    ``jobName`` for ``/jobs/{name}`` (the segment before, singular, plus the name)."""
    if param.endswith(("_id", "Id")):
        return camel(param)
    before = path.split("{" + param + "}", maxsplit=1)[0].rstrip("/").rsplit("/", 1)[-1]
    stem = camel(before.removesuffix("s")) if before and "{" not in before else ""
    return stem + param[:1].upper() + param[1:] if stem else camel(param)


class CollectionBuilder:
    """Builds the collection from ``document``, following :data:`STEPS`."""

    def __init__(self, document: Mapping[str, Any], *, name: str = "keel") -> None:
        self.doc = Document(document)
        self.name = name
        self.operations = {
            op.key: op
            for path, item in document.get("paths", {}).items()
            for method, spec in item.items()
            if method in METHODS
            for op in [Operation(method, path, spec)]
        }

    def steps(self) -> Iterator[tuple[Operation, Step]]:
        """Every step whose operation the document has, then one per operation left."""
        used = set()
        for step in STEPS:
            if (op := self.operations.get(step.op)) is not None:
                used.add(step.op)
                yield op, step
        for key, op in self.operations.items():
            if key not in used:
                yield op, Step(key, save=self._default_saves(op))

    def _default_saves(self, op: Operation) -> dict[str, str]:
        """For an operation no step describes: the tokens a sign-in answers, and the id
        a ``POST`` creates, as ``<singular of the last segment>Id``."""
        schema = self.doc.resolve(_response_schema(op.spec, _success(op.spec)))
        props = schema.get("properties") or {}
        if "accessToken" in props and "refreshToken" in props:
            return {"accessToken": "body.accessToken", "refreshToken": "body.refreshToken"}
        segment = op.path.rstrip("/").rsplit("/", 1)[-1]
        if op.method == "post" and "id" in props and "{" not in segment:
            return {camel(segment.removesuffix("s")) + "Id": "body.id"}
        return {}

    def collection(self) -> dict[str, Any]:
        """The Postman v2.1 collection."""
        folders: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for op, step in self.steps():
            top, *sub = op.folders
            folders.setdefault(top, {}).setdefault(sub[0] if sub else "", []).append(
                self.request(op, step)
            )
        items = []
        for top, subs in folders.items():
            children: list[dict[str, Any]] = list(subs.pop("", []))
            children += [{"name": name, "item": reqs} for name, reqs in subs.items()]
            items.append({"name": top, "item": children})
        return {
            "info": {
                "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"keel:{self.name}")),
                "name": self.name,
                "description": _description(self.doc.raw),
                "schema": SCHEMA_URL,
            },
            "auth": _bearer("accessToken"),
            "variable": [{"key": "baseUrl", "value": "http://127.0.0.1:8000"}],
            "item": items,
        }

    def request(self, op: Operation, step: Step) -> dict[str, Any]:
        """One request item: method, URL, headers, body, auth and scripts."""
        name = step.name or _words(op.spec.get("summary") or "") or op.key
        status = step.status or _success(op.spec)
        schema = _response_schema(op.spec, status)
        request: dict[str, Any] = {
            "method": op.method.upper(),
            "header": self._headers(op, step),
            "url": self._url(op, step),
            "description": op.spec.get("description") or op.spec.get("summary") or "",
        }
        if body := self._body(op, step):
            request["body"] = body
        if auth := _auth(op, step):
            request["auth"] = auth
        events = [
            _event(
                "test",
                js.checks(name, status, self.doc.required_keys(schema), step.save, step.until),
            )
        ]
        if step.pre:
            events.insert(0, _event("prerequest", step.pre.splitlines()))
        return {"name": name, "event": events, "request": request}

    def _url(self, op: Operation, step: Step) -> dict[str, Any]:
        path = _PARAM.sub(lambda m: ":" + m.group(1), op.path)
        query = []
        variables = []
        for param in op.spec.get("parameters", []):
            name, where = param["name"], param["in"]
            if where == "query":
                given = step.query.get(name)
                value = given if given is not None else self.doc.example(param.get("schema"))
                query.append(
                    {
                        "key": name,
                        "value": _text(value),
                        "description": param.get("description", ""),
                        "disabled": given is None and not param.get("required", False),
                    }
                )
            elif where == "path":
                value = step.path.get(name) or "{{" + path_variable(op.path, name) + "}}"
                variables.append({"key": name, "value": value})
        url: dict[str, Any] = {
            "raw": "{{baseUrl}}" + path + _query_string(query),
            "host": ["{{baseUrl}}"],
            "path": [p for p in path.split("/") if p],
        }
        if query:
            url["query"] = query
        if variables:
            url["variable"] = variables
        return url

    def _headers(self, op: Operation, step: Step) -> list[dict[str, Any]]:
        headers: list[dict[str, Any]] = [{"key": k, "value": v} for k, v in step.headers.items()]
        for param in op.spec.get("parameters", []):
            if param["in"] == "header" and param["name"] not in step.headers:
                value = self.doc.example(param.get("schema"))
                headers.append({"key": param["name"], "value": _text(value), "disabled": True})
        return headers

    def _body(self, op: Operation, step: Step) -> dict[str, Any] | None:
        content = (op.spec.get("requestBody") or {}).get("content") or {}
        json_type = next((t for t in content if "json" in t), None)
        if step.raw is not None or json_type:
            raw = step.raw
            if raw is None:
                raw = json.dumps(self._json(content[json_type].get("schema"), step), indent=2)
            return {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}
        if "multipart/form-data" in content:
            schema = self.doc.resolve(content["multipart/form-data"].get("schema"))
            return {"mode": "formdata", "formdata": list(self._form(schema))}
        return None

    def _json(self, schema: Mapping[str, Any] | None, step: Step) -> Any:
        """The example body; a step's fields go over the required ones only (optional
        fields the step leaves out are left out)."""
        if not step.body:
            return self.doc.example(schema)
        resolved = self.doc.branch(schema)
        props = resolved.get("properties") or {}
        required = {k: self.doc.example(props.get(k)) for k in resolved.get("required", [])}
        return {**required, **step.body}

    def _form(self, schema: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for key, raw in (schema.get("properties") or {}).items():
            prop = self.doc.resolve(raw)
            if prop.get("format") == "binary":
                yield {"key": key, "type": "file", "src": SAMPLE_FILE}
            elif self.doc.resolve(prop.get("items")).get("format") == "binary":
                yield from ({"key": key, "type": "file", "src": SAMPLE_FILE} for _ in range(2))
            else:
                yield {"key": key, "type": "text", "value": _text(self.doc.example(prop))}


def environment(collection: Mapping[str, Any], base_url: str, **values: str) -> dict[str, Any]:
    """The "Local" environment: ``baseUrl``, :data:`ENVIRONMENT` and every other variable
    the collection uses (empty until a request sets it)."""
    starting = {"baseUrl": base_url, **ENVIRONMENT, **values}
    used = sorted(set(_VAR.findall(json.dumps(collection))) - set(starting))
    secret = re.compile(r"(password|token|secret)", re.IGNORECASE)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"keel:local:{base_url}")),
        "name": "Local",
        "values": [
            {
                "key": key,
                "value": starting.get(key, ""),
                "type": "secret" if secret.search(key) else "default",
                "enabled": True,
            }
            for key in [*starting, *used]
        ],
        "_postman_variable_scope": "environment",
    }


def _success(spec: Mapping[str, Any]) -> int:
    """The lowest documented 2xx status (else the lowest documented, else 200)."""
    codes = sorted(int(c) for c in spec.get("responses", {}) if c.isdigit())
    ok = [c for c in codes if HTTPStatus.OK <= c < HTTPStatus.MULTIPLE_CHOICES]
    return (ok or codes or [HTTPStatus.OK])[0]


def _response_schema(spec: Mapping[str, Any], status: int) -> Mapping[str, Any] | None:
    response = spec.get("responses", {}).get(str(status)) or {}
    content = response.get("content") or {}
    json_type = next((t for t in content if "json" in t), None)
    return content[json_type].get("schema") if json_type else None


def _auth(op: Operation, step: Step) -> dict[str, Any] | None:
    if step.auth == NONE or (step.auth is None and not op.spec.get("security")):
        return {"type": "noauth"}
    return _bearer(step.auth) if step.auth else None


def _bearer(var: str) -> dict[str, Any]:
    return {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{" + var + "}}", "type": "string"}],
    }


def _event(listen: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}


def _words(summary: str) -> str:
    """``"ListMine"`` (a handler's name, Litestar's default summary) -> ``"List mine"``."""
    if " " in summary or not summary:
        return summary
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", summary).capitalize()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value)


def _query_string(query: list[dict[str, Any]]) -> str:
    enabled = [f"{q['key']}={q['value']}" for q in query if not q["disabled"]]
    return "?" + "&".join(enabled) if enabled else ""


def _description(raw: Mapping[str, Any]) -> str:
    info = raw.get("info") or {}
    return (
        f"{info.get('title', 'keel')} {info.get('version', '')}: generated by "
        "`keel export postman` from the OpenAPI document. Run it top to bottom against "
        "`keel run` seeded by `keel demo` (see docs/postman.md)."
    )
