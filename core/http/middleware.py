"""The outermost raw ASGI middleware: request id, security headers, access log, metrics.

It wraps the whole Litestar app (routing, 404/405 and exception handling included), so
every response, error or not, carries ``X-Request-ID`` and the security headers, and every
log line written while serving the request carries its id, its client IP and, once a route
has authenticated the caller, the user's id (see :class:`core.logging.RequestContext`).
Written as plain ASGI with precomputed header lists because it runs on every request
(``/health/live`` included).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.http.access import AccessLog
from core.logging import RequestContext, request_context_var

if TYPE_CHECKING:
    from litestar import WebSocket

    from core.metrics import HttpMetrics

__all__ = ["API_CSP", "DOCS_CSP", "KeelMiddleware", "security_headers"]

REQUEST_ID_HEADER = b"x-request-id"
SERVER_SEND = "keel.server_send"
"""Scope key of a WebSocket's ``send`` as the server passed it (see :func:`server_send`)."""
_CSP = b"content-security-policy"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""API responses are data: nothing may load from them, nothing may frame them."""
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
"""The ``/schema`` pages (Swagger UI, Scalar) load only what keel serves (see
:mod:`core.http.apidocs`). ``'unsafe-inline'`` because Litestar's pages start Swagger UI
from an inline script that embeds the whole document and pass Scalar's options inline, and
both UIs inject ``<style>`` elements; ``data:`` for the icons and fonts in their CSS."""

Headers = list[tuple[bytes, bytes]]


def security_headers(csp: str, *, hsts: bool = False) -> Headers:
    """The security headers added to every response, with ``csp`` as its policy."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp.encode()),
    ]
    if hsts:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class _RequestIds:
    """Request ids unique across processes: a random per-process prefix and a counter.

    Reading 16 bytes from the OS for every request cost more than the rest of the
    middleware; a counter behind 64 random bits is as unique and costs a tenth.
    """

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


def _incoming_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SANE_ID.fullmatch(value) else None
    return None


def _client_ip(scope: Scope) -> str | None:
    """The client's address, as the rate limiter and the login throttles see it: uvicorn
    has already replaced the peer by the ``X-Forwarded-For`` client when the peer is one of
    ``server.trusted_proxies``."""
    client = scope.get("client")
    return client[0] if client else None


class KeelMiddleware:
    """Request id + security headers + access log + metrics, around the whole application.

    Args:
        app: the ASGI app to wrap (Litestar's ``asgi_handler``).
        access_log: where to write one ``core.access`` line per HTTP request (none: off).
        docs_path: path prefix of the OpenAPI pages, which get :data:`DOCS_CSP`.
        hsts: also send ``Strict-Transport-Security`` (production behind TLS).
        metrics: where to count requests and WebSocket traffic (none: off).
    """

    __slots__ = (
        "_api_headers",
        "_docs_headers",
        "_ids",
        "access_log",
        "app",
        "docs_path",
        "metrics",
    )

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog | None = None,
        docs_path: str = "/schema",
        hsts: bool = False,
        metrics: HttpMetrics | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self.docs_path = docs_path
        self._api_headers = security_headers(API_CSP, hsts=hsts)
        self._docs_headers = security_headers(DOCS_CSP, hsts=hsts)
        self._ids = _RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection."""
        if scope["type"] != ScopeType.HTTP:
            await self._websocket(scope, receive, send)
            return
        rid = _incoming_id(scope["headers"]) or self._ids()
        context = RequestContext(rid, _client_ip(scope))
        token = request_context_var.set(context)
        path: str = scope["path"]
        extra = [
            (REQUEST_ID_HEADER, rid.encode()),
            *(self._docs_headers if path.startswith(self.docs_path) else self._api_headers),
        ]
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                # a response that sets its own policy (a development page) keeps it;
                # ASGI apps (Litestar included) send header names in lower case
                if any(name == _CSP for name, _ in headers):
                    headers.extend(h for h in extra if h[0] != _CSP)
                else:
                    headers.extend(extra)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            if self.access_log is not None:
                self.access_log.add(context, scope["method"], path, status, elapsed)
            if self.metrics is not None:
                self.metrics.observe(scope, status, elapsed)
            request_context_var.reset(token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar answers lifespan events itself; only HTTP and WebSocket reach us.
        ended = None
        if self.metrics is not None:
            receive, send, ended = self.metrics.socket(receive, send)
        cast("dict[str, Any]", scope)[SERVER_SEND] = send
        rid = _incoming_id(scope["headers"]) or self._ids()
        token = request_context_var.set(RequestContext(rid, _client_ip(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            request_context_var.reset(token)
            if ended is not None:
                ended()


def server_send(socket: WebSocket[Any, Any, Any]) -> Send:
    """The socket's ASGI ``send`` as the server passed it, below Litestar's wrappers.

    For code that sends many frames (the realtime fan-out): each of Litestar's two
    wrappers only tracks HTTP response state or raises on a closed socket, which the
    server's own ``send`` also does. Accept and close through ``socket`` as usual.
    """
    found = socket.scope.get(SERVER_SEND)
    return cast("Send", found) if found is not None else socket.send
