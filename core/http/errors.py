"""One JSON error body for every 4xx and 5xx: ``{"error": {"code", "message", "details"}}``.

Litestar's own HTTP exceptions (404, 405, 413, 429, validation errors...), our
:class:`core.errors.DomainError` subclasses, unreachable MongoDB/Valkey (503) and every
unexpected exception (500, logged with its request id and traceback, never shown) all go
through :func:`exception_handlers`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import pymongo.errors
import redis.exceptions
import valkey.exceptions
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from core.errors import DomainError
from core.logging import current_request_id

__all__ = ["error_response", "exception_handlers"]

log = logging.getLogger("core.http.errors")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
_UNAVAILABLE: dict[type[Exception], str] = {
    pymongo.errors.ConnectionFailure: "mongodb",
    valkey.exceptions.ConnectionError: "valkey",
    valkey.exceptions.TimeoutError: "valkey",
    redis.exceptions.ConnectionError: "valkey",  # SAQ's client (queues live in Valkey)
    redis.exceptions.TimeoutError: "valkey",
}
_RETRY_AFTER_S = "5"


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """The JSON error response every 4xx and 5xx uses.

    Args:
        status: the HTTP status.
        code: a stable, machine-readable code such as ``not_found``.
        message: a human-readable message.
        details: anything JSON-encodable that helps the client (bad fields, limits...).
        headers: extra response headers (``Retry-After``, ``Allow``...).
    """
    return Response(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
        media_type=MediaType.JSON,
    )


def _code_for(status: int) -> str:
    return _CODES.get(status, f"http_{status}")


def _wire_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Python parameter name -> the name the client sends (``text`` -> ``query``), for the
    route's query, header and cookie parameters that are given another name."""
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except (AttributeError, KeyError):  # not routed (404, 405): no parameters to rename
        return {}
    names = {}
    for name, field in parameters.items():
        kwarg = field.kwarg_definition
        aliases = (getattr(kwarg, key, None) for key in ("name", "query", "header", "cookie"))
        alias = next((a for a in aliases if a), None)
        if isinstance(alias, str):
            names[name] = alias
    return names


def _validation_details(
    exc: ValidationException, request: Request[Any, Any, Any]
) -> list[dict[str, Any]]:
    """Each bad field as ``{"field", "location", "message"}``, by its wire name."""
    items = exc.extra if isinstance(exc.extra, list) else []
    wire = _wire_names(request) if items else {}
    return [
        {
            "field": wire.get(item.get("key", ""), item.get("key")),
            "location": str(getattr(source := item.get("source", "body"), "value", source)),
            "message": item.get("message", ""),
        }
        for item in items
        if isinstance(item, dict)
    ]


def _on_internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = current_request_id() or "-"
    log.error(
        "request %s: unhandled %s on %s %s",
        rid,
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return error_response(
        500, "internal_error", "Internal server error; it has been logged.", {"requestId": rid}
    )


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500 and status != 503:  # noqa: PLR2004
        return _on_internal(request, exc)
    if isinstance(exc, ValidationException):
        details = _validation_details(exc, request)
        message = "Validation failed: " + "; ".join(
            f"{d['location']} field {d['field']!r}: {d['message']}" if d["field"] else d["message"]
            for d in details
        )
        return error_response(status, "validation_error", message, details, exc.headers)
    message = exc.detail or HTTPStatus(status).phrase
    return error_response(status, _code_for(status), message, exc.extra, exc.headers)


def _on_domain(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = {"Retry-After": _RETRY_AFTER_S} if exc.status == 503 else None  # noqa: PLR2004
    if exc.status == 503 and isinstance(exc.details, dict) and "service" in exc.details:  # noqa: PLR2004
        from core.metrics import process_metrics  # noqa: PLC0415 - see _on_unavailable

        process_metrics().core.dependency_errors.labels(str(exc.details["service"])).inc()
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


def _on_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from core.metrics import process_metrics  # noqa: PLC0415 - core.metrics imports core.http

    service = next((s for t, s in _UNAVAILABLE.items() if isinstance(exc, t)), "a dependency")
    process_metrics().core.dependency_errors.labels(service).inc()
    log.warning(
        "request %s: %s unavailable on %s %s: %s",
        current_request_id() or "-",
        service,
        request.method,
        request.url.path,
        exc,
    )
    return error_response(
        503,
        "service_unavailable",
        f"{service} is unavailable; retry later.",
        {"service": service},
        {"Retry-After": _RETRY_AFTER_S},
    )


def exception_handlers() -> ExceptionHandlersMap:
    """The app-level exception handlers that produce the JSON error body."""
    handlers: ExceptionHandlersMap = {
        HTTPException: _on_http,
        DomainError: _on_domain,
        Exception: _on_internal,
    }
    for exc_type in _UNAVAILABLE:
        handlers[exc_type] = _on_unavailable
    return handlers
