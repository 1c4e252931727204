"""The OpenAPI document as the server really behaves: every status, keel's one error body.

Litestar documents a route's success response, its ``responses=`` and, for a route with
parameters, a 400 with Litestar's own error body, which keel never sends. The app's
document is amended once, when first built: each operation gets every error status the
server can answer it with, derived from what the route is rather than listed by hand,

- 400 when it takes a body or parameters (validation),
- 401 when it declares the bearer security requirement or has guards, 403 when it has
  guards (they admit by role), 404 when its path has parameters,
- 413 when it takes a body (``server.max_body_bytes``), 429 when a rate limit counts it,
- 500 and 503 for every operation (MongoDB or Valkey down answers 503),

and every error response, these and those a route declares, carries the one shared
:data:`ERROR_SCHEMA` component: ``{"error": {"code", "message", "details"}}``. A route
declares the statuses its service raises on top (409, 422...) with
:func:`error_responses`::

    from core.errors import ConflictError
    from core.http import error_responses

    @post("/bookings", responses=error_responses(ConflictError))
    async def create_booking(...) -> Booking: ...
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.rate_limit import RateLimitMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    PathItem,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from core.errors import DomainError
from core.http.ratelimit import OPT_KEY as RATE_LIMIT_OPT

__all__ = [
    "ERROR_SCHEMA",
    "StrictStructSchemaPlugin",
    "amend_document",
    "error_responses",
    "use_keel_document",
]

ERROR_SCHEMA = "Error"
"""Name of the shared error body component (``#/components/schemas/Error``)."""
_ERROR_REF = Reference(ref=f"#/components/schemas/{ERROR_SCHEMA}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: `validation_error` (`details` lists each bad field as "
    "`{field, location, message}`) or `bad_request`.",
    401: "No valid access token: missing, malformed, expired or revoked (`unauthorized`).",
    403: "Signed in, but the caller's role may not do this (`forbidden`).",
    404: "No such resource, or one the caller may not see (`not_found`).",
    409: "Conflicts with the current state of the resource (`conflict`).",
    413: "The body is larger than the server accepts (`payload_too_large`).",
    415: "The body's content type is not accepted (`unsupported_media_type`).",
    429: "Too many requests (`rate_limited`): retry after `Retry-After` seconds.",
    500: "Unexpected server error (`internal_error`); `details.requestId` names it in the logs.",
    503: "MongoDB or Valkey is unreachable (`service_unavailable`): retry after "
    "`Retry-After` seconds.",
}
"""What each error status means, in every operation that can answer it."""


def error_schema() -> Schema:
    """The one error body of every 4xx and 5xx response (see :mod:`core.http.errors`)."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["error"],
        properties={
            "error": Schema(
                type=OpenAPIType.OBJECT,
                required=["code", "message", "details"],
                properties={
                    "code": Schema(
                        type=OpenAPIType.STRING,
                        description="Stable, machine-readable: `not_found`, "
                        "`validation_error`, `rate_limited`...",
                    ),
                    "message": Schema(type=OpenAPIType.STRING, description="For humans."),
                    "details": Schema(
                        description="Anything that helps the client, or null: the bad "
                        "fields of a `validation_error` (`[{field, location, message}]`), "
                        "the limit of a `rate_limited`, the request id of an "
                        "`internal_error`..."
                    ),
                },
            )
        },
        description='keel\'s error body: `{"error": {"code", "message", "details"}}`.',
    )


def error_responses(*errors: type[DomainError] | int) -> dict[int, ResponseSpec]:
    """``responses=`` of a route whose service raises ``errors`` (classes or statuses).

    Each status is documented with keel's error body; merge with the route's other
    responses (``{202: ResponseSpec(...)} | error_responses(ConflictError)``).
    """
    statuses = sorted({e if isinstance(e, int) else e.status for e in errors})
    return {
        status: ResponseSpec(
            data_container=None,
            description=DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        )
        for status in statuses
    }


def _int_header(description: str, *, required: bool = False) -> OpenAPIHeader:
    return OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER), description=description, required=required
    )


def _rate_limit_headers() -> dict[str, OpenAPIHeader | Reference]:
    return {
        "RateLimit-Limit": _int_header("Requests allowed in the current window."),
        "RateLimit-Remaining": _int_header("Requests left in the current window."),
        "RateLimit-Reset": _int_header("Seconds until the window resets."),
        "RateLimit-Policy": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.STRING),
            description="The limit and its window, e.g. `60; w=60`.",
        ),
    }


def _is_rate_limited(handler: HTTPRouteHandler) -> bool:
    if RATE_LIMIT_OPT in handler.opt and handler.opt[RATE_LIMIT_OPT] is None:
        return False
    return any(
        isinstance(cls := getattr(m, "middleware", m), type)
        and issubclass(cls, RateLimitMiddleware)
        for m in handler.resolve_middleware()
    )


def _statuses(operation: Operation, handler: HTTPRouteHandler, route: HTTPRoute) -> set[int]:
    """The error statuses the server can answer ``operation`` with, from its route."""
    found = {500, 503}
    if operation.parameters or operation.request_body:
        found.add(400)
    if any(requirement for requirement in operation.security or ()):
        found.add(401)
    # a plugin's gate (core.http.guards.plugin_gate) answers no status of its own while the
    # route is in the document: the route leaves the document when the plugin is off
    if any(not getattr(g, "plugin_gate", False) for g in handler.resolve_guards()):
        found |= {401, 403}
    if route.path_parameters:
        found.add(404)
    if operation.request_body:
        found.add(413)
    if _is_rate_limited(handler):
        found.add(429)
    return found


def _error_response(status: int, existing: OpenAPIResponse | None) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] = {}
    if status == 429:  # noqa: PLR2004
        headers = {"Retry-After": _int_header("Seconds to wait."), **_rate_limit_headers()}
    elif status == 503:  # noqa: PLR2004
        headers = {"Retry-After": _int_header("Seconds to wait.", required=True)}
    # a route's own description stays; Litestar's generic ones give way to keel's
    generic = {"", "Additional response", HTTPStatus(status).phrase, HTTPStatus(status).description}
    if existing is not None and existing.description not in generic:
        description = existing.description
    else:
        description = DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
    return OpenAPIResponse(
        description=description,
        headers=headers or None,
        content={"application/json": OpenAPIMediaType(schema=_ERROR_REF)},
    )


def _amend_operation(operation: Operation, handler: HTTPRouteHandler, route: HTTPRoute) -> None:
    responses = operation.responses or {}
    declared = {int(code): r for code, r in responses.items() if code.isdigit()}
    statuses = _statuses(operation, handler, route) | {s for s in declared if s >= 400}  # noqa: PLR2004
    amended: dict[str, OpenAPIResponse | Reference] = {}
    for code, response in responses.items():
        if code.isdigit() and int(code) < 400 and isinstance(response, OpenAPIResponse):  # noqa: PLR2004
            if _is_rate_limited(handler):
                response.headers = {**(response.headers or {}), **_rate_limit_headers()}
            amended[code] = response
    for status in sorted(statuses):
        existing = declared.get(status)
        amended[str(status)] = _error_response(
            status, existing if isinstance(existing, OpenAPIResponse) else None
        )
    operation.responses = amended


def amend_document(document: OpenAPI, routes: Iterable[HTTPRoute]) -> OpenAPI:
    """Give every operation of ``document`` each error status its route can answer, with
    keel's error body as the shared :data:`ERROR_SCHEMA` component.

    Args:
        document: the document Litestar built from ``routes``.
        routes: the routes it describes.

    Returns:
        ``document``, amended in place.
    """
    paths = document.paths or {}
    for route in routes:
        item: PathItem | None = paths.get(route.path_format or "/")
        if item is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(item, method.lower(), None) if method.lower() in _METHODS else None
            if isinstance(operation, Operation):
                _amend_operation(operation, handler, route)
    components = document.components or Components()
    components.schemas = {**(components.schemas or {}), ERROR_SCHEMA: error_schema()}
    document.components = components
    return document


_HTTP_METHODS = frozenset(("get", "put", "post", "delete", "options", "head", "patch", "trace"))
_WITHOUT: dict[tuple[int, frozenset[str]], dict[str, Any]] = {}


def without_plugins(schema: dict[str, Any], plugins: frozenset[str]) -> dict[str, Any]:
    """``schema`` (a document as a dict) without the operations of ``plugins`` (those
    tagged with a plugin's name, as :mod:`core.app` tags each plugin's routes), nor the
    paths left empty, nor those tags. Cached per document and set of plugins."""
    key = (id(schema), plugins)
    if (cached := _WITHOUT.get(key)) is not None:
        return cached
    paths: dict[str, Any] = {}
    for path, item in (schema.get("paths") or {}).items():
        kept = {
            name: value
            for name, value in item.items()
            if name not in _HTTP_METHODS or not plugins.intersection(value.get("tags") or ())
        }
        if any(name in _HTTP_METHODS for name in kept):
            paths[path] = kept
    out = {**schema, "paths": paths}
    if "tags" in schema:
        out["tags"] = [t for t in schema["tags"] if t.get("name") not in plugins]
    if len(_WITHOUT) > 64:  # noqa: PLR2004 - a few sets of switched-off plugins at most
        _WITHOUT.clear()
    _WITHOUT[key] = out
    return out


class _KeelOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, whose document is amended by :func:`amend_document` and
    leaves out the routes of plugins switched off live (:mod:`core.toggles`)."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return amend_document(super()._build_openapi(), self.included_routes.values())

    def provide_openapi_schema(self) -> dict[str, Any]:
        schema = super().provide_openapi_schema()
        keel = getattr(self.app.state, "keel", None)
        off = keel.toggles.inactive() if keel is not None else frozenset()
        return without_plugins(schema, off) if off else schema


def use_keel_document(app: Litestar) -> None:
    """Make ``app`` serve the amended document instead of Litestar's.

    Litestar always builds its own OpenAPI plugin, finds it by its exact type and offers
    no hook on the document it builds; so the plugin's class becomes a subclass that
    amends the document (same slots, nothing else changes). The document is still built
    lazily, on the first request for it: building it costs ~0.4 s.
    """
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = _KeelOpenAPIPlugin


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's schema of a msgspec Struct, plus ``additionalProperties: false`` when the
    Struct forbids unknown fields: the server refuses them (400), so the document must
    not allow them."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        """The Struct's schema, closed when ``forbid_unknown_fields`` is set."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
