"""``GET /metrics`` on the API port, and the separate listener of ``[metrics] bind``.

On the API port the scrape is for admins (an access token of role ``admin``) and for
holders of ``[metrics] token``; anyone else gets 401 (403 for a signed-in non-admin).
With ``bind`` set the route does not exist (404 for everyone): scrapers reach the
listener, which only the network protects, so bind it to a private address.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST, start_http_server

from core.http.deps import KeelDep
from core.http.guards import admin_only
from core.metrics._collect import render, scrape_registry
from core.settings import Settings

__all__ = ["METRICS_PATH", "metrics_route", "start_listener"]

METRICS_PATH = "/metrics"
log = logging.getLogger("core.metrics")


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def scrapers_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Allow the ``[metrics] token`` bearer, else admins only (see :func:`admin_only`)."""
    token = connection.app.state.keel.settings.metrics.token
    if token and hmac.compare_digest(_bearer(connection).encode(), token.encode()):
        return
    await admin_only(connection, handler)


@get(
    METRICS_PATH,
    guards=[scrapers_only],
    include_in_schema=False,
    media_type=CONTENT_TYPE_LATEST,
)
async def metrics(keel: KeelDep) -> Response[bytes]:
    """Every metric of this host's keel processes, in Prometheus' text format."""
    body = await asyncio.to_thread(render, keel.settings)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_route(settings: Settings) -> list[HTTPRouteHandler]:
    """The handlers to mount at the root: ``/metrics`` unless metrics are off or bound."""
    conf = settings.metrics
    return [metrics] if conf.enabled and not conf.bind else []


def start_listener(settings: Settings) -> None:
    """Serve every metric at ``http://<[metrics] bind>/metrics`` from a daemon thread.

    Started by ``keel serve`` in its parent process (and by ``keel run``); it reads the
    metric files of the deployment's processes, so it needs no app of its own.

    Raises:
        OSError: the address is taken or invalid.
    """
    host, _, port = settings.metrics.bind.rpartition(":")
    host = host.strip("[]")
    start_http_server(int(port), addr=host, registry=scrape_registry(settings))
    log.info("metrics served at http://%s/metrics", settings.metrics.bind)
