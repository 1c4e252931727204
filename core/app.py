"""The Litestar application: plugins' routes, health, OpenAPI, errors, middleware, lifespan.

:func:`create_app` builds everything that must be known before serving (the plugin host,
routes, the OpenAPI document) and opens connections only in the lifespan, so building an
app is cheap and side-effect free. :func:`app_factory` is the ``uvicorn --factory`` entry.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from core.errors import ConfigError
from core.health import health_router, keel_version
from core.http.access import AccessLog
from core.http.apidocs import docs_router, render_plugins
from core.http.deps import dependencies
from core.http.errors import exception_handlers
from core.http.guards import plugin_gate
from core.http.middleware import KeelMiddleware
from core.http.openapi import StrictStructSchemaPlugin, use_keel_document
from core.http.ratelimit import check_route_limits, rate_limit_config
from core.http.routing import KeelRouter
from core.http.security import security_schemes
from core.http.stores import KeelStores
from core.http.strict import check_json_body
from core.logging import configure_logging
from core.metrics import HttpMetrics, metrics_route, process_metrics
from core.pluginhost import InstalledPlugin, PluginHost, discover, plugin_settings_types
from core.records import RootRoutes
from core.runtime import close_keel, open_keel
from core.runtime import run_worker as run_keel_worker
from core.settings import Settings, load_settings
from core.toggles.routes import toggles_router

__all__ = ["API_PATH", "SCHEMA_PATH", "app_factory", "create_app"]

API_PATH = "/api"
"""Where every plugin's routes are mounted."""
SCHEMA_PATH = "/schema"
"""OpenAPI: ``/schema`` (Swagger UI), ``/schema/swagger``, ``/schema/scalar``,
``/schema/openapi.json``."""
WORKER_STOP_MARGIN_S = 2.0
log = logging.getLogger("core.app")


def _plugin_routers(host: PluginHost) -> tuple[list[Router], list[Router]]:
    """Per plugin, a router for ``/api`` and one for :class:`RootRoutes`, tagged with its name."""
    api: dict[str, list[Any]] = {}
    root: dict[str, list[Any]] = {}
    for plugin, record in host.routes():
        if isinstance(record, RootRoutes):
            root.setdefault(plugin, []).extend(record.handlers)
        else:
            api.setdefault(plugin, []).append(record)

    def routers(group: dict[str, list[Any]]) -> list[Router]:
        return [
            KeelRouter(path="/", route_handlers=rs, tags=[p], guards=[plugin_gate(p)])
            for p, rs in group.items()
        ]

    return routers(api), routers(root)


def _openapi_config(settings: Settings) -> OpenAPIConfig:
    return OpenAPIConfig(
        title=settings.app.name,
        version=keel_version(),
        path=SCHEMA_PATH,
        openapi_router=docs_router(SCHEMA_PATH),
        render_plugins=render_plugins(SCHEMA_PATH),
        components=Components(security_schemes=security_schemes()),
    )


def _cors_config(settings: Settings) -> CORSConfig | None:
    origins = list(settings.server.cors_origins)
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_credentials="*" not in origins,
        expose_headers=[
            "X-Request-ID",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "RateLimit-Policy",
        ],
    )


def _report_worker_exit(task: asyncio.Task[None]) -> None:
    """Log a worker that died on its own (the API keeps serving)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("in-process worker stopped with an error", exc_info=exc)


async def _stop_worker(task: asyncio.Task[None], grace_s: float) -> None:
    """Cancel the worker task and give its running jobs ``grace_s`` to finish."""
    task.cancel()
    _, pending = await asyncio.wait({task}, timeout=grace_s + WORKER_STOP_MARGIN_S)
    if pending:
        log.warning("worker did not stop within %.0f s; closing connections anyway", grace_s)


def _lifespan(
    settings: Settings, host: PluginHost, stores: KeelStores, *, run_worker: bool
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        keel = await open_keel(settings, host)
        worker: asyncio.Task[None] | None = None
        try:
            app.state.keel = keel
            stores.bind(keel.valkey, settings.valkey.key_prefix)
            keel.runs_worker = run_worker
            await host.startup(keel)
            await keel.toggles.start(runs_worker=run_worker)
            if run_worker:
                worker = asyncio.create_task(run_keel_worker(keel), name="keel-worker")
                worker.add_done_callback(_report_worker_exit)
            # what startup built lives as long as the process: keep it out of the
            # collector's full passes, which would otherwise walk it and stall requests
            gc.freeze()
            yield
        finally:
            if worker is not None:
                await _stop_worker(worker, settings.server.grace_period_s)
            await host.shutdown(keel)
            await close_keel(keel)

    return lifespan


def create_app(
    settings: Settings,
    *,
    installed: dict[str, InstalledPlugin] | None = None,
    run_worker: bool = False,
) -> Litestar:
    """Build the Litestar app for ``settings``; connections open in its lifespan.

    Args:
        settings: the application settings; ``plugins.enabled`` selects the plugins.
        installed: installed plugins by name; default :func:`core.pluginhost.discover`.
        run_worker: also run the queue workers and the scheduler in this process
            (``keel run``), stopped within ``server.grace_period_s`` on shutdown.

    Returns:
        The app: plugin routes under ``/api`` (tagged with the plugin name; those in a
        :class:`core.records.RootRoutes` at the root), ``/health``, ``/metrics`` (unless
        ``[metrics]`` is off or has a ``bind`` of its own),
        OpenAPI at ``/schema``; ``app.state.keel`` holds the runtime context once started.

    Raises:
        ConfigError: bad settings or route options (e.g. an invalid ``opt["rate_limit"]``).
        PluginError: a plugin failed to build or register.
    """
    host = PluginHost(settings, discover() if installed is None else installed)
    if problems := host.settings_problems():
        raise ConfigError(problems)
    stores = KeelStores()
    limits = rate_limit_config(settings)
    access = AccessLog() if settings.app.access_log else None
    api_routers, root_routers = _plugin_routers(host)
    app = Litestar(
        route_handlers=[
            # one router above all, so that each path has one OPTIONS answer (KeelRouter)
            KeelRouter(
                path="/",
                route_handlers=[
                    health_router(),
                    KeelRouter(
                        path=API_PATH,
                        route_handlers=[toggles_router(), *api_routers],  # rate limits: /api
                        middleware=[limits.middleware] if limits else [],
                    ),
                    *root_routers,
                    *metrics_route(settings),
                ],
            )
        ],
        lifespan=[_lifespan(settings, host, stores, run_worker=run_worker)],
        on_shutdown=[access.flush] if access else [],
        dependencies=dependencies(),
        exception_handlers=exception_handlers(),
        before_request=check_json_body,  # exact JSON types, as documented (core.http.strict)
        stores=stores,
        cors_config=_cors_config(settings),
        openapi_config=_openapi_config(settings),
        plugins=[StrictStructSchemaPlugin()],
        request_max_body_size=settings.server.max_body_bytes,
        logging_config=None,
        debug=False,
    )
    check_route_limits(
        [
            (f"{method} {route.path}", handler)
            for route in app.routes
            for handler in getattr(route, "route_handlers", ())
            for method in sorted(getattr(handler, "http_methods", ()))
        ]
    )
    use_keel_document(app)
    app.asgi_handler = KeelMiddleware(
        app.asgi_handler,
        access_log=access,
        docs_path=SCHEMA_PATH,
        hsts=settings.app.env == "production",
        metrics=HttpMetrics(process_metrics().core) if settings.metrics.enabled else None,
    )
    return app


def app_factory() -> Litestar:
    """Build the app from ``$KEEL_CONFIG`` (or ``./config.toml``) and ``KEEL_*`` variables.

    For ``uvicorn --factory core.app:app_factory``; also configures logging.
    """
    installed = discover()
    settings = load_settings(plugin_types=plugin_settings_types(installed))
    configure_logging(settings, role="serve")
    return create_app(settings, installed=installed)
